// Requires: qemu-img, qemu-io (qemu-utils), nbdinfo (libnbd-bin). Feature: STARTTLS with a PSK (keys.psk).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MiB, type RunningServer, startServer, suiteTempDir } from '../helpers/nbd-fixture.js';
import { writePskFile } from '../helpers/nbd-tls.js';
import { describeRun, requireTools, run } from '../helpers/tools.js';

describe('TLS with PSK', () => {
  let srv: RunningServer;
  let dir: string;
  let pskFile: string;
  let finish: () => Promise<void>;
  before(async () => {
    requireTools('qemu-img', 'qemu-io', 'nbdinfo');
    const tmp = await suiteTempDir();
    finish = tmp.remove;
    dir = tmp.dir;
    pskFile = await writePskFile(dir);
    srv = await startServer({ tls: { mode: 'require', psk: { pskFile } } });
  });
  after(async () => {
    await srv?.close();
    await finish?.();
  });

  const qemuTls = () => ['--object', `tls-creds-psk,id=tls0,dir=${dir},username=alice,endpoint=client`];
  const nbdOpts = (exportName: string) =>
    `driver=nbd,host=127.0.0.1,port=${srv.port},export=${exportName},tls-creds=tls0`;

  it('qemu-io writes and reads back patterns over TLS', async () => {
    const r = await run('qemu-io', [
      ...qemuTls(),
      '--image-opts',
      nbdOpts('vol0'),
      '-c',
      'write -P 0xa5 1M 256k',
      '-c',
      'read -P 0xa5 1M 256k',
    ]);
    assert.equal(r.code, 0, describeRun(r));
    assert.doesNotMatch(r.stdout, /Pattern verification failed/);
  });

  it('qemu-img info and compare over TLS', async () => {
    let r = await run('qemu-img', ['info', ...qemuTls(), '--image-opts', nbdOpts('vol0')]);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /virtual size: 64 MiB/);
    const expected = Buffer.alloc(64 * MiB);
    expected.fill(0xa5, MiB, MiB + 256 * 1024);
    const raw = path.join(dir, 'expected.raw');
    await writeFile(raw, expected);
    r = await run('qemu-img', [
      'compare',
      ...qemuTls(),
      '--image-opts',
      nbdOpts('vol0'),
      `driver=raw,file.driver=file,file.filename=${raw}`,
    ]);
    assert.equal(r.code, 0, describeRun(r));
  });

  it('a client limited to TLS 1.2 (GnuTLS priority string) finds a PSK suite too', async () => {
    const tls12 = [
      '--object',
      `tls-creds-psk,id=tls0,dir=${dir},username=alice,endpoint=client,priority=NORMAL:-VERS-TLS1.3`,
    ];
    const r = await run('qemu-img', ['info', ...tls12, '--image-opts', nbdOpts('vol0')]);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /virtual size: 64 MiB/);
  });

  it('nbdinfo (libnbd/GnuTLS) connects with the PSK file', async () => {
    const r = await run('nbdinfo', [`nbds://alice@127.0.0.1:${srv.port}/vol0?tls-psk-file=${pskFile}`]);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /newstyle-fixed with TLS/);
  });

  it('a wrong key is refused', async () => {
    const otherDir = path.join(dir, 'other');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(otherDir);
    const wrong = await writePskFile(otherDir);
    const r = await run('nbdinfo', [`nbds://alice@127.0.0.1:${srv.port}/vol0?tls-psk-file=${wrong}`]);
    assert.notEqual(r.code, 0, describeRun(r));
  });
});
