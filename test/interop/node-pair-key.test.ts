// Requires: qemu-utils (qemu-io).
// A failback's pair key on a node whose node.json says TLS off: once the manager's key is
// installed (PUT /v1/volumes/V/pair-key), the node's NBD server accepts STARTTLS with it,
// V opens only for a client authenticated by that key (qemu-io with tls-creds-psk), a
// plain client is refused with the reason and one already connected is dropped; other
// volumes stay plain. The key survives a node restart sealed (the file never holds it),
// is never answered back, and once removed V is plain again.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isReboundError } from '../../src/errors.js';
import { connectNbd } from '../../src/nbd/client/index.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';
import { qemuIo, run } from '../helpers/tools.js';

const MiB = 2 ** 20;
const IDENTITY = 'rebound-j-test-pair';

describe('a pair key on a node with NBD TLS off', () => {
  let fx: NodeFixture;
  let keys: string;
  const key = randomBytes(32).toString('hex');

  /** qemu-io through TLS with the pair's key (qemu reads DIR/keys.psk). */
  const tlsIo = (volume: string, command: string) =>
    run('qemu-io', [
      '--object',
      `tls-creds-psk,id=tls0,dir=${keys},username=${IDENTITY},endpoint=client`,
      '--image-opts',
      `driver=nbd,host=127.0.0.1,port=${fx.node.nbd.port},export=${volume},tls-creds=tls0`,
      '-c',
      command,
    ]);

  before(async () => {
    keys = await mkdtemp(join(tmpdir(), 'rebound-pairkey-'));
    await writeFile(join(keys, 'keys.psk'), `${IDENTITY}:${key}\n`, { mode: 0o600 });
    fx = await startTestNode();
    assert.equal(fx.node.nbd.tls, 'off');
    await fx.client.createVolume('target', 16 * MiB);
    await fx.client.createVolume('other', 16 * MiB);
  });
  after(async () => {
    await fx?.close();
    await rm(keys, { recursive: true, force: true });
  });

  it('keeps the volume for the key: TLS with it writes, plain is refused and dropped', async () => {
    // A host connected before the failback: it must lose the volume when the key goes in.
    const early = await connectNbd({
      host: '127.0.0.1',
      port: fx.node.nbd.port,
      exportName: 'target',
      reconnect: { maxAttempts: 1 },
    });
    await early.write(0, Buffer.alloc(4096, 0x01));
    await early.flush();

    const view = await fx.client.putPairKey('target', { identity: IDENTITY, key });
    assert.deepEqual([view.volume, view.identity, view.tlsSessions], ['target', IDENTITY, 0]);
    assert.ok(!JSON.stringify(view).includes(key), 'the key is not answered back');
    await assert.rejects(
      early.write(4096, Buffer.alloc(4096, 0x02)).then(() => early.flush()),
      (err) => isReboundError(err),
      'the plain connection open at install was dropped and cannot come back',
    );
    await early.close().catch(() => undefined);

    const plain = await qemuIo(fx.uri('target'), ['write -P 0x33 0 64k']);
    assert.notEqual(plain.code, 0, 'a plain write is refused');
    assert.match(plain.stdout + plain.stderr, /target of a failback/);

    const w = await tlsIo('target', 'write -P 0x44 0 64k');
    assert.equal(w.code, 0, w.stdout + w.stderr);
    const r = await tlsIo('target', 'read -P 0x44 0 64k');
    assert.doesNotMatch(r.stdout, /Pattern verification failed/);
    assert.ok((await fx.client.getPairKey('target')).tlsSessions >= 2, 'the node counted the TLS sessions');

    // Other volumes are plain as before.
    assert.equal((await qemuIo(fx.uri('other'), ['write -P 0x55 0 64k'])).code, 0);
    // A wrong identity or key is refused at the TLS handshake.
    await writeFile(join(keys, 'keys.psk'), `${IDENTITY}:${'00'.repeat(32)}\n`);
    assert.notEqual((await tlsIo('target', 'read 0 4k')).code, 0, 'a wrong key does not open it');
    await writeFile(join(keys, 'keys.psk'), `${IDENTITY}:${key}\n`);
  });

  it('survives a restart sealed, and once removed the volume is plain again', async () => {
    const dataDir = fx.dataDir;
    await fx.stop();
    const stored = await readFile(join(dataDir, 'pair-keys.json'), 'utf8');
    assert.ok(stored.includes(IDENTITY) && !stored.includes(key), 'sealed at rest');
    fx = await startTestNode({ dataDir });

    assert.notEqual((await qemuIo(fx.uri('target'), ['read 0 4k'])).code, 0, 'still kept after restart');
    const r = await tlsIo('target', 'read -P 0x44 0 64k');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /Pattern verification failed/);

    const other = await fx.client.deletePairKey('target', 'someone-else');
    assert.equal(other.removed, null, 'only the named identity is removed');
    const { removed } = await fx.client.deletePairKey('target', IDENTITY);
    assert.equal(removed?.identity, IDENTITY);
    assert.ok(!JSON.stringify(removed).includes(key));
    await assert.rejects(fx.client.getPairKey('target'), /has no pair key/);
    const plain = await qemuIo(fx.uri('target'), ['read -P 0x44 0 64k'], { readOnly: true });
    assert.equal(plain.code, 0, plain.stdout + plain.stderr);
    assert.doesNotMatch(plain.stdout, /Pattern verification failed/);
    assert.notEqual((await tlsIo('target', 'read 0 4k')).code, 0, 'no key, no STARTTLS on a TLS-off node');
  });

  it('answers bad requests with the field at fault', async () => {
    await assert.rejects(fx.client.putPairKey('target', { identity: IDENTITY, key: 'abc' }), /key/);
    await assert.rejects(fx.client.putPairKey('target', { identity: 'a b', key }), /identity/);
    await assert.rejects(fx.client.putPairKey('nosuch', { identity: IDENTITY, key }), /nosuch/);
  });
});
