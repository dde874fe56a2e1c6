// Requires: qemu-nbd (qemu-utils), nbdkit, openssl. Feature: the NBD client's STARTTLS with
// PSK (keys.psk) and x509 (CA, client certificate) against our server, qemu-nbd and
// nbdkit; and the errors when TLS is wrong or missing on either side.
import assert from 'node:assert/strict';
import { mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BlockDevice } from '../../src/block/device.js';
import { isReboundError } from '../../src/errors.js';
import { connectNbd, type NbdClientOptions } from '../../src/nbd/client/index.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { MiB, type RunningServer, startServer, suiteTempDir } from '../helpers/nbd-fixture.js';
import { freePort, type PeerProcess, startNbdkit, startQemuNbd } from '../helpers/nbd-peers.js';
import { makePki, type Pki, writePskFile } from '../helpers/nbd-tls.js';
import { requireTools } from '../helpers/tools.js';

/** Connect, write a pattern, read it back, close: the whole round trip over TLS. */
async function roundTrip(options: NbdClientOptions): Promise<void> {
  const dev = await connectNbd(options);
  try {
    assert.equal(dev.info.tls, true);
    await roundTripOn(dev);
  } finally {
    await dev.close();
  }
}

async function roundTripOn(dev: BlockDevice): Promise<void> {
  const data = Buffer.alloc(300_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
  await dev.write(MiB + 7, data);
  await dev.flush();
  assert.deepEqual(await dev.read(MiB + 7, data.length), data);
}

const code = (c: string) => (e: unknown) => isReboundError(e) && e.code === c;

describe('NBD client TLS', () => {
  let dir: string;
  let removeDir: () => Promise<void>;
  let pskFile: string;
  let psk: { identity: string; key: string };
  let pki: Pki;
  let otherPki: Pki;
  let pskServer: RunningServer;
  let x509Server: RunningServer;
  let plainServer: RunningServer;
  const peers: PeerProcess[] = [];

  before(async () => {
    requireTools('qemu-nbd', 'nbdkit', 'openssl');
    ({ dir, remove: removeDir } = await suiteTempDir());
    await mkdir(path.join(dir, 'psk'));
    await mkdir(path.join(dir, 'pki'));
    await mkdir(path.join(dir, 'other'));
    pskFile = await writePskFile(path.join(dir, 'psk'), 'alice');
    const [identity, key] = (await readFile(pskFile, 'utf8')).trim().split(':');
    psk = { identity, key };
    pki = await makePki(path.join(dir, 'pki'));
    otherPki = await makePki(path.join(dir, 'other'));
    pskServer = await startServer({ tls: { mode: 'require', psk: { pskFile } } });
    x509Server = await startServer({
      tls: {
        mode: 'require',
        x509: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requireClientCert: true },
      },
    });
    plainServer = await startServer();
  });
  after(async () => {
    await Promise.all([pskServer?.close(), x509Server?.close(), plainServer?.close()]);
    await Promise.all(peers.map((p) => p.stop()));
    await removeDir?.();
  });

  const clientCert = async () => ({
    ca: pki.ca,
    cert: await readFile(path.join(pki.dir, 'client-cert.pem'), 'utf8'),
    key: await readFile(path.join(pki.dir, 'client-key.pem'), 'utf8'),
  });

  it('PSK against our server, from a keys.psk file and from the hex key', async () => {
    await roundTrip({
      port: pskServer.port,
      exportName: 'vol0',
      tls: { psk: { identity: 'alice', pskFile } },
    });
    await roundTrip({ port: pskServer.port, exportName: 'vol0', tls: { psk } });
  });

  it('x509 against our server, presenting a client certificate and checking the server IP', async () => {
    await roundTrip({ port: x509Server.port, exportName: 'vol0', tls: { x509: await clientCert() } });
  });

  it('PSK and x509 links encrypt with AES-GCM, as the server logs the cipher (not ChaCha20)', async () => {
    const { logger, lines } = captureLogger('debug');
    const psk1 = await startServer({ tls: { mode: 'require', psk: { pskFile } }, logger });
    const x509 = await startServer({
      tls: { mode: 'require', x509: { cert: pki.serverCert, key: pki.serverKey } },
      logger,
    });
    try {
      await roundTrip({ port: psk1.port, exportName: 'vol0', tls: { psk } });
      await roundTrip({ port: x509.port, exportName: 'vol0', tls: { x509: { ca: pki.ca } } });
    } finally {
      await Promise.all([psk1.close(), x509.close()]);
    }
    const ciphers = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'TLS up');
    assert.deepEqual(
      ciphers.map((l) => [l.protocol, l.cipher]),
      [
        ['TLSv1.3', 'TLS_AES_128_GCM_SHA256'], // a TLS 1.3 PSK is tied to SHA-256
        ['TLSv1.3', 'TLS_AES_256_GCM_SHA384'],
      ],
    );
  });

  it('a wrong PSK, an untrusted CA, a wrong server name, a missing client certificate: NBD_TLS_FAILED', async () => {
    const base = { port: pskServer.port, exportName: 'vol0' };
    const wrongKey = { identity: 'alice', key: 'ab'.repeat(32) };
    await assert.rejects(connectNbd({ ...base, tls: { psk: wrongKey } }), code('NBD_TLS_FAILED'));
    const x = { port: x509Server.port, exportName: 'vol0' };
    const good = await clientCert();
    await assert.rejects(
      connectNbd({ ...x, tls: { x509: { ...good, ca: otherPki.ca } } }),
      code('NBD_TLS_FAILED'),
    );
    await assert.rejects(
      connectNbd({ ...x, tls: { x509: { ...good, serverName: 'elsewhere.example' } } }),
      code('NBD_TLS_FAILED'),
    );
    await assert.rejects(connectNbd({ ...x, tls: { x509: { ca: pki.ca } } }), code('NBD_TLS_FAILED'));
  });

  it('a TLS-only server refuses a plaintext client with NBD_TLS_REQUIRED', async () => {
    const opened = pskServer.exports.opened.get('vol0');
    await assert.rejects(connectNbd({ port: pskServer.port, exportName: 'vol0' }), (e) => {
      assert.ok(isReboundError(e, 'NBD_TLS_REQUIRED'), String(e));
      assert.match(e.message, /requires TLS/);
      return true;
    });
    assert.equal(pskServer.exports.opened.get('vol0'), opened, 'no export was opened');
  });

  it('a server without TLS: refused when TLS is required, plaintext when it is optional', async () => {
    const options = { port: plainServer.port, exportName: 'vol0', tls: { psk } };
    await assert.rejects(connectNbd(options), (e) => {
      assert.ok(isReboundError(e, 'NBD_TLS_FAILED'), String(e));
      assert.match(e.message, /does not offer TLS/);
      return true;
    });
    const dev = await connectNbd({ ...options, tlsRequired: false });
    assert.equal(dev.info.tls, false);
    await roundTripOn(dev);
    await dev.close();
  });

  it('qemu-nbd with tls-creds-psk and with tls-creds-x509 (verify-peer)', async () => {
    const file = path.join(dir, 'q.raw');
    await writeFile(file, '');
    await truncate(file, 16 * MiB);
    const pskPeer = await startQemuNbd({ host: '127.0.0.1', port: await freePort() }, [
      '--object',
      `tls-creds-psk,id=tls0,endpoint=server,dir=${path.dirname(pskFile)}`,
      '--tls-creds',
      'tls0',
      '-f',
      'raw',
      '-x',
      'disk',
      file,
    ]);
    peers.push(pskPeer);
    await roundTrip({ ...pskPeer.endpoint, exportName: 'disk', tls: { psk } });
    await pskPeer.stop();
    const x509Peer = await startQemuNbd({ host: '127.0.0.1', port: await freePort() }, [
      '--object',
      `tls-creds-x509,id=tls0,endpoint=server,dir=${pki.dir},verify-peer=on`,
      '--tls-creds',
      'tls0',
      '-f',
      'raw',
      '-x',
      'disk',
      file,
    ]);
    peers.push(x509Peer);
    await roundTrip({ ...x509Peer.endpoint, exportName: 'disk', tls: { x509: await clientCert() } });
    await assert.rejects(connectNbd({ ...x509Peer.endpoint, exportName: 'disk' }), code('NBD_TLS_REQUIRED'));
  });

  it('nbdkit --tls=require with a PSK file', async () => {
    const peer = await startNbdkit({ path: path.join(dir, 'k.sock') }, [
      '--tls=require',
      `--tls-psk=${pskFile}`,
      'memory',
      '16M',
    ]);
    peers.push(peer);
    await roundTrip({ ...peer.endpoint, exportName: '', tls: { psk } });
  });
});
