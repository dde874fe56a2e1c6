// Requires: qemu-io (qemu-utils). Feature: a read-only export refuses writes (EPERM) but serves reads.
// qemu sees NBD_FLAG_READ_ONLY and refuses a read-write open itself; a raw client checks the server's EPERM.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NBD_CMD_WRITE, NBD_FLAG_C_FIXED_NEWSTYLE, NBD_OPT_GO } from '../../src/nbd/constants.js';
import { FrameReader } from '../../src/nbd/frame-reader.js';
import {
  decodeGreeting,
  decodeOptionReply,
  encodeClientFlags,
  encodeExportRequest,
  encodeOption,
} from '../../src/nbd/handshake-codec.js';
import { decodeReply, encodeRequest } from '../../src/nbd/transmission-codec.js';
import { type RunningServer, startServer } from '../helpers/nbd-fixture.js';
import { describeRun, requireTools, run } from '../helpers/tools.js';

describe('read-only export', () => {
  let srv: RunningServer;
  before(async () => {
    requireTools('qemu-io');
    srv = await startServer();
  });
  after(() => srv?.close());

  it('qemu-io write fails, read works', async () => {
    const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 0 4k', srv.uri('ro')]);
    assert.match(
      w.stdout + w.stderr,
      /read-only|Operation not permitted|Permission denied|write failed/i,
      describeRun(w),
    );
    assert.doesNotMatch(w.stdout, /wrote 4096/, describeRun(w));
    const r = await run('qemu-io', ['-r', '-f', 'raw', '-c', 'read -P 0 0 64k', srv.uri('ro')]);
    assert.equal(r.code, 0, describeRun(r));
    assert.doesNotMatch(r.stdout, /Pattern verification failed/);
    assert.equal(srv.exports.ro.allocatedBlocks, 0);
  });

  it('a WRITE sent anyway gets EPERM (errno 1) and the connection stays up', async () => {
    const reader = new FrameReader();
    const sock = net.connect(srv.port, '127.0.0.1');
    const data = Buffer.alloc(4096, 0x5a);
    sock.write(
      Buffer.concat([
        encodeClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE),
        encodeOption(NBD_OPT_GO, encodeExportRequest({ name: 'ro', infos: [] })),
        encodeRequest({ flags: 0, type: NBD_CMD_WRITE, cookie: 9n, offset: 0, length: data.length, data }),
      ]),
    );
    const reply = await new Promise((resolve, reject) => {
      let phase: 'greeting' | 'options' | 'transmission' = 'greeting';
      sock.on('error', reject);
      sock.on('data', (d) => {
        reader.push(d);
        if (phase === 'greeting' && decodeGreeting(reader) !== undefined) phase = 'options';
        while (phase === 'options') {
          const rep = decodeOptionReply(reader);
          if (rep === undefined) return;
          if (rep.type === 1) phase = 'transmission'; // NBD_REP_ACK ends GO
        }
        const r = phase === 'transmission' ? decodeReply(reader) : undefined;
        if (r) resolve(r);
      });
    });
    sock.destroy();
    assert.deepEqual(reply, { kind: 'simple', error: 1, cookie: 9n });
    assert.equal(srv.exports.ro.allocatedBlocks, 0);
  });
});
