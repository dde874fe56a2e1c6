// Requires: qemu-utils (qemu-img), libnbd-bin (nbdinfo), gnutls-bin (psktool).
// A node initialised with `--tls require --tls-psk-file`: qemu-img and nbdinfo reach its
// volume with the pre-shared key (the keys.psk format qemu's tls-creds-psk reads), and a
// plaintext client is refused.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';
import { run, runOk } from '../helpers/tools.js';

describe('node with NBD over TLS (PSK required)', () => {
  let fx: NodeFixture;
  let keys: string;
  before(async () => {
    keys = await mkdtemp(join(tmpdir(), 'rebound-psk-'));
    await runOk('psktool', ['-u', 'alice', '-p', join(keys, 'keys.psk')]);
    fx = await startTestNode({ init: { tls: 'require', tlsPskFile: join(keys, 'keys.psk') } });
    await fx.client.createVolume('secure', 16 * 2 ** 20);
  });
  after(async () => {
    await fx.close();
    await rm(keys, { recursive: true, force: true });
  });

  it('reports nbds:// URIs and serves qemu-io and qemu-img with the key', async () => {
    const v = await fx.client.getVolume('secure');
    assert.equal(v.nbdUri, `nbds://127.0.0.1:${fx.node.nbd.port}/secure`);
    const tlsObject = `tls-creds-psk,id=tls0,dir=${keys},username=alice,endpoint=client`;
    const image = `driver=nbd,host=127.0.0.1,port=${fx.node.nbd.port},export=secure,tls-creds=tls0`;
    await runOk('qemu-io', ['--object', tlsObject, '--image-opts', image, '-c', 'write -P 0x42 0 1M']);
    const read = await runOk('qemu-io', [
      '--object',
      tlsObject,
      '--image-opts',
      image,
      '-c',
      'read -P 0x42 0 1M',
    ]);
    assert.doesNotMatch(read, /Pattern verification failed/);
    const info = await runOk('qemu-img', ['info', '--object', tlsObject, '--image-opts', image]);
    assert.match(info, /virtual size: 16 MiB/);
  });

  it('nbdinfo reads the map over TLS; a plaintext client is refused', async () => {
    const uri = `nbds://alice@127.0.0.1:${fx.node.nbd.port}/secure?tls-psk-file=${join(keys, 'keys.psk')}`;
    const map = JSON.parse(await runOk('nbdinfo', ['--map', '--json', uri])) as {
      offset: number;
      type: number;
    }[];
    assert.equal(map[0].offset, 0);
    assert.equal(map[0].type & 1, 0, 'the first MiB was written');
    const plain = await run('nbdinfo', [`nbd://127.0.0.1:${fx.node.nbd.port}/secure`]);
    assert.notEqual(plain.code, 0);
  });
});
