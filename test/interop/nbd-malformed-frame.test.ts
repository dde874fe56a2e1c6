// Requires: qemu-io (qemu-utils). Feature: a malformed frame closes only its own connection.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NBD_CMD_READ, NBD_FLAG_C_FIXED_NEWSTYLE, NBD_OPT_GO } from '../../src/nbd/constants.js';
import { encodeClientFlags, encodeExportRequest, encodeOption } from '../../src/nbd/handshake-codec.js';
import { encodeRequest } from '../../src/nbd/transmission-codec.js';
import { type RunningServer, startServer } from '../helpers/nbd-fixture.js';
import { describeRun, requireTools, run } from '../helpers/tools.js';

/** Connect, send `bytes`, and resolve with everything received once the server closes. */
function rawSession(port: number, bytes: Buffer[], delayMs = 50): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    sock.on('data', (d) => got.push(d));
    sock.on('error', reject);
    sock.on('close', () => resolve(Buffer.concat(got)));
    sock.setTimeout(5000, () => reject(new Error('server did not close the connection')));
    let i = 0;
    const next = () => {
      if (i < bytes.length) sock.write(bytes[i++], () => setTimeout(next, delayMs));
    };
    next();
  });
}

describe('malformed frames', () => {
  let srv: RunningServer;
  before(async () => {
    requireTools('qemu-io');
    srv = await startServer();
  });
  after(() => srv?.close());

  it('bad magic in handshake and transmission, absurd lengths: each drops only its connection', async () => {
    const hello = encodeClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE);
    const go = encodeOption(NBD_OPT_GO, encodeExportRequest({ name: 'vol0', infos: [] }));
    const badRequest = encodeRequest({ flags: 0, type: NBD_CMD_READ, cookie: 1n, offset: 0, length: 512 });
    badRequest.writeUInt32BE(0x12345678, 0);
    const hugeWrite = encodeRequest({ flags: 0, type: 1, cookie: 2n, offset: 0, length: 0 });
    hugeWrite.writeUInt32BE(0xffffffff, 24);
    const hugeOption = encodeOption(NBD_OPT_GO, Buffer.alloc(0));
    hugeOption.writeUInt32BE(0x7fffffff, 12);

    // A well-behaved client runs throughout and must not notice.
    const good = run('qemu-io', [
      '-f',
      'raw',
      '-c',
      'write -P 0x42 0 1M',
      '-c',
      'sleep 300',
      '-c',
      'read -P 0x42 0 1M',
      srv.uri('vol0'),
    ]);
    await Promise.all([
      rawSession(srv.port, [hello, Buffer.from('GARBAGE GARBAGE GARBAGE')]),
      rawSession(srv.port, [hello, hugeOption]),
      rawSession(srv.port, [hello, go, badRequest]),
      rawSession(srv.port, [hello, go, hugeWrite]),
      rawSession(srv.port, [Buffer.from([0xff, 0xff, 0xff, 0xff])]), // unknown client flags
    ]);
    const r = await good;
    assert.equal(r.code, 0, describeRun(r));
    assert.doesNotMatch(r.stdout, /Pattern verification failed/, describeRun(r));
    assert.match(r.stdout, /read 1048576\/1048576/);
  });

  it('a client vanishing with requests in flight does not hurt the server', async () => {
    const hello = encodeClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE);
    const go = encodeOption(NBD_OPT_GO, encodeExportRequest({ name: 'vol0', infos: [] }));
    const reads = Buffer.concat(
      Array.from({ length: 64 }, (_, i) =>
        encodeRequest({ flags: 0, type: NBD_CMD_READ, cookie: BigInt(i), offset: i * 65536, length: 65536 }),
      ),
    );
    await new Promise<void>((resolve) => {
      const sock = net.connect(srv.port, '127.0.0.1', () => {
        sock.write(Buffer.concat([hello, go, reads]), () => setTimeout(() => sock.destroy(), 5));
      });
      sock.on('close', () => resolve());
      sock.on('error', () => {});
    });
    const r = await run('qemu-io', ['-f', 'raw', '-c', 'read 0 64k', srv.uri('vol0')]);
    assert.equal(r.code, 0, describeRun(r));
  });
});
