// Requires: nbdinfo (libnbd-bin), qemu-img (qemu-utils), openssl. Feature: STARTTLS with x509 and client certificates.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer, suiteTempDir } from '../helpers/nbd-fixture.js';
import { makePki, type Pki } from '../helpers/nbd-tls.js';
import { describeRun, requireTools, run } from '../helpers/tools.js';

describe('TLS with x509', () => {
  let srv: RunningServer;
  let pki: Pki;
  let finish: () => Promise<void>;
  before(async () => {
    requireTools('nbdinfo', 'qemu-img', 'openssl');
    const tmp = await suiteTempDir();
    finish = tmp.remove;
    const dir = tmp.dir;
    pki = await makePki(dir);
    srv = await startServer({
      tls: {
        mode: 'require',
        x509: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requireClientCert: true },
      },
    });
  });
  after(async () => {
    await srv?.close();
    await finish?.();
  });

  it('nbdinfo verifies the server and presents its client certificate', async () => {
    const r = await run('nbdinfo', [`nbds://127.0.0.1:${srv.port}/vol0?tls-certificates=${pki.dir}`]);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /newstyle-fixed with TLS/);
    assert.match(r.stdout, /export-size: 67108864/);
  });

  it('qemu-img info over x509 (tls-creds-x509, verify-peer)', async () => {
    const r = await run('qemu-img', [
      'info',
      '--object',
      `tls-creds-x509,id=tls0,dir=${pki.dir},endpoint=client,verify-peer=on`,
      '--image-opts',
      `driver=nbd,host=127.0.0.1,port=${srv.port},export=vol0,tls-creds=tls0`,
    ]);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /virtual size: 64 MiB/);
  });
});
