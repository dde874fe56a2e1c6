/**
 * The client's reply assembly, with no sockets: the reply reader (simple READ data has no
 * length on the wire) re-parsed at every split, and ClientRequest's structured reply
 * rules (chunks out of order, holes, errors, block status per context, violations).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplyReader } from '../../../src/nbd/client/reply-reader.js';
import { ClientRequest } from '../../../src/nbd/client/request.js';
import {
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_READ,
  NBD_CMD_WRITE,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_ERROR_OFFSET,
} from '../../../src/nbd/constants.js';
import { FrameReader } from '../../../src/nbd/frame-reader.js';
import { NbdProtocolError } from '../../../src/nbd/protocol-error.js';
import {
  decodeReply,
  encodeBlockStatusChunk,
  encodeErrorChunk,
  encodeNoneChunk,
  encodeOffsetDataHeader,
  encodeOffsetHole,
  encodeSimpleReply,
  type ReplyChunk,
} from '../../../src/nbd/transmission-codec.js';
import { assertAllEqual, everySplit } from '../../helpers/every-split.js';

/** The chunks in `bytes`, decoded. */
function chunks(...frames: Buffer[]): ReplyChunk[] {
  const r = new FrameReader();
  r.push(Buffer.concat(frames));
  const out: ReplyChunk[] = [];
  for (let c = decodeReply(r); c !== undefined; c = decodeReply(r)) out.push(c as ReplyChunk);
  return out;
}

function readRequest(offset: number, length: number): ClientRequest {
  return new ClientRequest(NBD_CMD_READ, 0, offset, length, undefined, Buffer.alloc(length));
}

describe('ReplyReader', () => {
  it('frames simple READ data by the request length, at every split', () => {
    const reads = new Map<bigint, number>([
      [1n, 5],
      [2n, 4],
    ]);
    const bytes = Buffer.concat([
      encodeSimpleReply(1n, 0),
      Buffer.from('hello'),
      encodeSimpleReply(2n, 5), // a READ that failed: no data follows
      encodeSimpleReply(3n, 0), // not a READ
      encodeNoneChunk(4n),
    ]);
    const readers = new WeakMap<FrameReader, ReplyReader>();
    const decode = (r: FrameReader) => {
      if (!readers.has(r)) readers.set(r, new ReplyReader((cookie) => reads.get(cookie), 1 << 20));
      return readers.get(r)!.next(r);
    };
    assertAllEqual(everySplit(bytes, decode), [
      { kind: 'simple', cookie: 1n, error: 0, data: Buffer.from('hello') },
      { kind: 'simple', cookie: 2n, error: 5 },
      { kind: 'simple', cookie: 3n, error: 0 },
      { kind: 'chunk', flags: NBD_REPLY_FLAG_DONE, type: 0, cookie: 4n, payload: Buffer.alloc(0) },
    ] as never[]);
  });
});

describe('ClientRequest reply assembly', () => {
  it('assembles a READ from data and hole chunks in any order', () => {
    const req = readRequest(1000, 300);
    req.target!.fill(0xee); // a hole must be written as zeros, whatever was there
    const c = chunks(
      encodeOffsetDataHeader(0n, 1200, 100, 0),
      Buffer.alloc(100, 2),
      encodeOffsetHole(0n, 1100, 100, 0),
      encodeOffsetDataHeader(0n, 1000, 100, NBD_REPLY_FLAG_DONE),
      Buffer.alloc(100, 1),
    );
    assert.equal(req.onChunk(c[0]), false);
    assert.equal(req.onChunk(c[1]), false);
    assert.equal(req.onChunk(c[2]), true);
    assert.equal(req.error, undefined);
    assert.deepEqual(
      req.target,
      Buffer.concat([Buffer.alloc(100, 1), Buffer.alloc(100), Buffer.alloc(100, 2)]),
    );
  });

  it('an error chunk fails the request; the first error wins, NONE ends it', () => {
    const req = readRequest(0, 4096);
    const offsetError = Buffer.alloc(6 + 3 + 8);
    offsetError.writeUInt32BE(5, 0);
    offsetError.writeUInt16BE(3, 4);
    offsetError.write('bad', 6);
    offsetError.writeBigUInt64BE(512n, 9);
    const c = chunks(encodeErrorChunk(0n, 28, 'later error', 0), encodeNoneChunk(0n));
    assert.equal(
      req.onChunk({
        kind: 'chunk',
        flags: 0,
        type: NBD_REPLY_TYPE_ERROR_OFFSET,
        cookie: 0n,
        payload: offsetError,
      }),
      false,
    );
    assert.equal(req.onChunk(c[0]), false);
    assert.equal(req.onChunk(c[1]), true);
    assert.deepEqual(req.error, { errno: 5, message: 'bad', offset: 512 });
  });

  it('a READ reply that does not cover the request, or strays outside it, is a protocol error', () => {
    const short = readRequest(0, 200);
    const c = chunks(encodeOffsetDataHeader(0n, 0, 100, NBD_REPLY_FLAG_DONE), Buffer.alloc(100));
    assert.throws(() => short.onChunk(c[0]), /covered 100 of 200/);
    const outside = readRequest(0, 200);
    const o = chunks(encodeOffsetHole(0n, 150, 100, NBD_REPLY_FLAG_DONE));
    assert.throws(() => outside.onChunk(o[0]), NbdProtocolError);
  });

  it('block status keeps one descriptor list per context; a repeated context is a protocol error', () => {
    const req = new ClientRequest(NBD_CMD_BLOCK_STATUS, 0, 0, 1 << 20);
    const c = chunks(
      encodeBlockStatusChunk(0n, 1, [{ length: 1 << 20, flags: 3 }], 0),
      encodeBlockStatusChunk(0n, 2, [{ length: 4096, flags: 1 }], NBD_REPLY_FLAG_DONE),
    );
    assert.equal(req.onChunk(c[0]), false);
    assert.equal(req.onChunk(c[1]), true);
    assert.deepEqual(req.blockStatus.get(1), [{ length: 1 << 20, flags: 3 }]);
    assert.deepEqual(req.blockStatus.get(2), [{ length: 4096, flags: 1 }]);
    const again = new ClientRequest(NBD_CMD_BLOCK_STATUS, 0, 0, 4096);
    again.onChunk(c[0]);
    assert.throws(() => again.onChunk(c[0]), /two BLOCK_STATUS chunks/);
  });

  it('chunk types not valid for the command, and NONE without DONE, are protocol errors', () => {
    const write = new ClientRequest(NBD_CMD_WRITE, 0, 0, 5, Buffer.from('hello'));
    const data = chunks(encodeOffsetDataHeader(0n, 0, 5, NBD_REPLY_FLAG_DONE), Buffer.from('hello'));
    assert.throws(() => write.onChunk(data[0]), /not valid for WRITE/);
    const none = chunks(encodeNoneChunk(0n))[0];
    assert.throws(() => write.onChunk({ ...none, flags: 0 }), /NONE/);
    assert.throws(() => write.onChunk({ ...none, type: 77 }), /type 77/);
  });

  it('simple replies: data for a READ, an error value, and reset before a re-send', () => {
    const req = readRequest(0, 3);
    req.onSimple(0, Buffer.from('abc'));
    assert.equal(req.target!.toString(), 'abc');
    req.onSimple(22, undefined);
    assert.deepEqual(req.error, { errno: 22, message: '' });
    req.reset();
    assert.equal(req.error, undefined);
    assert.throws(() => readRequest(0, 3).onSimple(0, undefined), NbdProtocolError);
  });

  it('an error chunk with error value 0 counts as EINVAL', () => {
    const req = readRequest(0, 10);
    const c = chunks(encodeErrorChunk(0n, 0, 'zero'))[0];
    req.onChunk(c);
    assert.equal(req.error?.errno, 22);
  });
});
