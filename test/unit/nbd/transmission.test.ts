/** validateRequest and the TransmissionSession, driven without sockets. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryDevice } from '../../../src/block/memory-device.js';
import { ReboundError } from '../../../src/errors.js';
import {
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_FLAG_DF,
  NBD_CMD_FLAG_FAST_ZERO,
  NBD_CMD_FLAG_REQ_ONE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA,
} from '../../../src/nbd/constants.js';
import type { NbdExport } from '../../../src/nbd/export.js';
import { FrameReader } from '../../../src/nbd/frame-reader.js';
import { silentLogger } from '../../../src/nbd/logger.js';
import { selectContexts } from '../../../src/nbd/meta-context.js';
import { TransmissionSession } from '../../../src/nbd/transmission.js';
import { decodeReply, type NbdRequest, type ReplyChunk } from '../../../src/nbd/transmission-codec.js';
import { type RequestLimits, validateRequest } from '../../../src/nbd/validate.js';
import { MiB, testExports } from '../../helpers/nbd-fixture.js';

const req = (type: number, f: Partial<NbdRequest> = {}): NbdRequest => ({
  flags: 0,
  type,
  cookie: 42n,
  offset: 0,
  length: 0,
  ...f,
});

describe('validateRequest', () => {
  const limits: RequestLimits = {
    sizeBytes: MiB,
    readOnly: false,
    structuredReplies: true,
    metaContextCount: 1,
    maxPayloadBytes: 65536,
  };
  const errno = (r: NbdRequest, l: Partial<RequestLimits> = {}) =>
    validateRequest(r, { ...limits, ...l })?.errno;

  it('follows the error table', () => {
    assert.equal(errno(req(NBD_CMD_READ, { offset: MiB - 1, length: 2 })), 'EINVAL');
    assert.equal(errno(req(NBD_CMD_TRIM, { offset: MiB, length: 1 })), 'EINVAL');
    assert.equal(errno(req(NBD_CMD_BLOCK_STATUS, { offset: 2 ** 60, length: 1 })), 'EINVAL');
    assert.equal(errno(req(NBD_CMD_WRITE, { offset: MiB, length: 1 })), 'ENOSPC');
    assert.equal(errno(req(NBD_CMD_WRITE_ZEROES, { offset: 0, length: MiB + 1 })), 'ENOSPC');
    assert.equal(errno(req(NBD_CMD_WRITE, { length: 1 }), { readOnly: true }), 'EPERM');
    assert.equal(errno(req(NBD_CMD_TRIM, { length: 1 }), { readOnly: true }), 'EPERM');
    assert.equal(errno(req(99)), 'EINVAL');
    assert.equal(errno(req(NBD_CMD_WRITE, { flags: NBD_CMD_FLAG_REQ_ONE })), 'EINVAL');
    assert.equal(
      errno(req(NBD_CMD_READ, { flags: NBD_CMD_FLAG_DF, length: 1 }), { structuredReplies: false }),
      'EINVAL',
    );
    assert.equal(errno(req(NBD_CMD_READ, { length: 65537 })), 'EINVAL');
    assert.equal(errno(req(NBD_CMD_BLOCK_STATUS, { length: 1 }), { metaContextCount: 0 }), 'EINVAL');
  });

  it('accepts length 0, FUA everywhere, big WRITE_ZEROES, reads at the very end', () => {
    assert.equal(errno(req(NBD_CMD_READ, { offset: MiB, length: 0 })), undefined);
    assert.equal(errno(req(NBD_CMD_WRITE, { length: 0 })), undefined);
    assert.equal(errno(req(NBD_CMD_FLUSH, { flags: 1 })), undefined);
    assert.equal(errno(req(NBD_CMD_CACHE, { flags: 1, length: MiB })), undefined);
    assert.equal(
      errno(req(NBD_CMD_WRITE_ZEROES, { length: MiB, flags: NBD_CMD_FLAG_FAST_ZERO | 3 })),
      undefined,
    );
    assert.equal(errno(req(NBD_CMD_READ, { offset: MiB - 10, length: 10 }), { readOnly: true }), undefined);
  });
});

/** A session on `ex` that collects reply chunks and simple replies. */
function session(ex: NbdExport, structured = true, contexts: string[] = []) {
  const reader = new FrameReader();
  const s = new TransmissionSession(
    ex,
    structured,
    selectContexts(['base:allocation', 'qemu:dirty-bitmap:b0'], contexts),
    (bufs) => {
      for (const b of bufs) reader.push(b);
    },
    silentLogger,
  );
  return {
    /** Run `r`; decode up to `max` replies (a simple READ reply is followed by raw data). */
    async send(r: NbdRequest, max = Number.POSITIVE_INFINITY) {
      await s.handle(r);
      const out = [];
      for (let rep = decodeReply(reader); rep; rep = out.length < max - 1 ? decodeReply(reader) : undefined) {
        out.push(rep);
      }
      return { replies: out, rest: reader.drain() };
    },
  };
}

function errnoOf(chunk: ReplyChunk): number {
  assert.equal(chunk.type, NBD_REPLY_TYPE_ERROR);
  return chunk.payload.readUInt32BE(0);
}

describe('TransmissionSession', () => {
  it('writes then reads back, as structured OFFSET_DATA and as a simple reply', async () => {
    const { provider } = testExports(4 * MiB);
    const ex = provider.open('vol0')!;
    const s = session(ex);
    const data = Buffer.alloc(8192, 0x5a);
    const w = await s.send(req(NBD_CMD_WRITE, { offset: 4096, length: data.length, data }));
    assert.deepEqual(w.replies, [{ kind: 'simple', error: 0, cookie: 42n }]);
    const r = await s.send(req(NBD_CMD_READ, { offset: 4096, length: 8192 }));
    const chunk = r.replies[0] as ReplyChunk;
    assert.equal(chunk.type, NBD_REPLY_TYPE_OFFSET_DATA);
    assert.equal(chunk.flags, 1);
    assert.equal(chunk.payload.readUInt32BE(4), 4096);
    assert.deepEqual(chunk.payload.subarray(8), data);
    const simple = await session(ex, false).send(req(NBD_CMD_READ, { offset: 4096, length: 8192 }), 1);
    assert.deepEqual(simple.replies, [{ kind: 'simple', error: 0, cookie: 42n }]);
    assert.deepEqual(simple.rest, data);
  });

  it('a zero-length structured read gets a NONE chunk; errors on reads are ERROR chunks', async () => {
    const ex = testExports(MiB).provider.open('vol0')!;
    const s = session(ex);
    const zero = await s.send(req(NBD_CMD_READ, { offset: 0, length: 0 }));
    assert.equal((zero.replies[0] as ReplyChunk).type, NBD_REPLY_TYPE_NONE);
    const bad = await s.send(req(NBD_CMD_READ, { offset: MiB, length: 1 }));
    assert.equal(errnoOf(bad.replies[0] as ReplyChunk), 22);
  });

  it('maps device ReboundErrors through nbdErrno (fenced -> ESHUTDOWN, no space -> ENOSPC)', async () => {
    const device = new MemoryDevice(MiB);
    device.write = async () => {
      throw new ReboundError('POOL_NO_SPACE', 'full');
    };
    device.read = async () => {
      throw new ReboundError('VOLUME_FENCED', 'fenced');
    };
    const ex: NbdExport = { name: 'x', device, bitmapNames: () => [], bitmap: () => undefined };
    const s = session(ex);
    const w = await s.send(req(NBD_CMD_WRITE, { length: 1, data: Buffer.from([1]) }));
    assert.deepEqual(w.replies, [{ kind: 'simple', error: 28, cookie: 42n }]);
    const r = await s.send(req(NBD_CMD_READ, { length: 1 }));
    assert.equal(errnoOf(r.replies[0] as ReplyChunk), 108);
  });

  it('NOT_SUPPORTED is ENOTSUP only for FAST_ZERO; otherwise EIO', async () => {
    const device = new MemoryDevice(MiB);
    device.writeZeroes = async () => {
      throw new ReboundError('NOT_SUPPORTED', 'slow');
    };
    const ex: NbdExport = { name: 'x', device, bitmapNames: () => [], bitmap: () => undefined };
    const s = session(ex);
    const fast = await s.send(req(NBD_CMD_WRITE_ZEROES, { length: 4096, flags: NBD_CMD_FLAG_FAST_ZERO }));
    assert.equal(fast.replies[0].kind === 'simple' && fast.replies[0].error, 95);
    const slow = await s.send(req(NBD_CMD_WRITE_ZEROES, { length: 4096 }));
    assert.equal(slow.replies[0].kind === 'simple' && slow.replies[0].error, 5);
  });

  it('BLOCK_STATUS: one chunk per context, DONE on the last; dirty extents follow the bitmap', async () => {
    const t = testExports(4 * MiB);
    const ex = t.provider.open('vol0')!;
    await t.vol0.write(65536 + 100, Buffer.alloc(10, 1)); // block 1 dirty and allocated
    await t.vol0.writeZeroes(3 * 65536, 2 * 65536); // blocks 3-4 dirty, holes
    const s = session(ex, true, ['base:allocation', 'qemu:dirty-bitmap:b0']);
    const { replies } = await s.send(req(NBD_CMD_BLOCK_STATUS, { offset: 1000, length: 8 * 65536 }));
    assert.equal(replies.length, 2);
    const [a, d] = replies as ReplyChunk[];
    assert.deepEqual(
      [a.type, a.flags, d.type, d.flags],
      [NBD_REPLY_TYPE_BLOCK_STATUS, 0, NBD_REPLY_TYPE_BLOCK_STATUS, 1],
    );
    const extents = (c: ReplyChunk) => {
      const out: [number, number][] = [];
      for (let i = 4; i < c.payload.length; i += 8)
        out.push([c.payload.readUInt32BE(i), c.payload.readUInt32BE(i + 4)]);
      return out;
    };
    assert.deepEqual(extents(a), [
      [65536 - 1000, 3],
      [65536, 0],
      [6 * 65536 + 1000, 3],
    ]);
    assert.deepEqual(extents(d), [
      [65536 - 1000, 0],
      [65536, 1],
      [65536, 0],
      [2 * 65536, 1],
      [3 * 65536 + 1000, 0],
    ]);
    const one = await s.send(
      req(NBD_CMD_BLOCK_STATUS, { offset: 0, length: 100, flags: NBD_CMD_FLAG_REQ_ONE }),
    );
    assert.deepEqual(
      one.replies.map((c) => extents(c as ReplyChunk)),
      [[[100, 3]], [[100, 0]]],
    );
  });

  it('BLOCK_STATUS with no context selected is EINVAL', async () => {
    const ex = testExports(MiB).provider.open('vol0')!;
    const { replies } = await session(ex).send(req(NBD_CMD_BLOCK_STATUS, { length: 512 }));
    assert.equal(errnoOf(replies[0] as ReplyChunk), 22);
  });
});
