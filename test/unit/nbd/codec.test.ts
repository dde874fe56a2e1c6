/**
 * The NBD codecs, built from a small request builder and re-parsed split at every
 * offset (and byte by byte), as the socket may deliver any frame in any pieces.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  NBD_CMD_FLAG_FUA,
  NBD_CMD_READ,
  NBD_CMD_WRITE,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_NAME,
  NBD_OPT_GO,
  NBD_OPT_SET_META_CONTEXT,
  NBD_REP_ACK,
  NBD_REP_ERR_UNSUP,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_OFFSET_DATA,
  NBD_REPLY_TYPE_OFFSET_HOLE,
} from '../../../src/nbd/constants.js';
import { FrameReader } from '../../../src/nbd/frame-reader.js';
import {
  decodeClientFlags,
  decodeGreeting,
  decodeOption,
  decodeOptionReply,
  encodeClientFlags,
  encodeExportNameReply,
  encodeExportRequest,
  encodeGreeting,
  encodeMetaContextRequest,
  encodeOption,
  encodeOptionError,
  parseExportRequest,
  parseMetaContextRequest,
} from '../../../src/nbd/handshake-codec.js';
import { NbdProtocolError } from '../../../src/nbd/protocol-error.js';
import {
  decodeReply,
  decodeRequest,
  encodeBlockStatusChunk,
  encodeErrorChunk,
  encodeOffsetDataHeader,
  encodeOffsetHole,
  encodeRequest,
  encodeSimpleReply,
  type NbdRequest,
} from '../../../src/nbd/transmission-codec.js';

import { assertAllEqual, everySplit } from '../../helpers/every-split.js';

/** A small request builder. */
function request(type: number, fields: Partial<NbdRequest> = {}): NbdRequest {
  return { flags: 0, type, cookie: 0x0102030405060708n, offset: 0, length: 0, ...fields };
}

describe('FrameReader', () => {
  it('peeks without consuming, coalesces across chunks, keeps the remainder', () => {
    const r = new FrameReader();
    r.push(Buffer.from([1, 2]));
    r.push(Buffer.from([3]));
    r.push(Buffer.from([4, 5, 6]));
    assert.equal(r.peek(7), undefined);
    assert.deepEqual([...r.peek(4)!], [1, 2, 3, 4]);
    assert.equal(r.length, 6);
    assert.deepEqual([...r.take(5)!], [1, 2, 3, 4, 5]);
    assert.deepEqual([...r.drain()], [6]);
    assert.equal(r.length, 0);
    assert.deepEqual([...r.take(0)!], []);
  });
});

describe('handshake codec', () => {
  it('greeting and client flags round-trip at every split', () => {
    const greeting = encodeGreeting(NBD_FLAG_FIXED_NEWSTYLE);
    assert.equal(greeting.length, 18);
    assertAllEqual(everySplit(greeting, decodeGreeting), [NBD_FLAG_FIXED_NEWSTYLE]);
    assertAllEqual(everySplit(encodeClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE), decodeClientFlags), [1]);
  });

  it('option requests (two back to back) parse at every split', () => {
    const go = encodeExportRequest({ name: 'vol0', infos: [NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME] });
    const meta = encodeMetaContextRequest({
      exportName: 'vol0',
      queries: ['base:allocation', 'qemu:dirty-bitmap:b0'],
    });
    const bytes = Buffer.concat([encodeOption(NBD_OPT_GO, go), encodeOption(NBD_OPT_SET_META_CONTEXT, meta)]);
    const results = everySplit(bytes, (r) => decodeOption(r, 4096));
    assertAllEqual(results, [
      { option: NBD_OPT_GO, data: go },
      { option: NBD_OPT_SET_META_CONTEXT, data: meta },
    ]);
    assert.deepEqual(parseExportRequest(go), { name: 'vol0', infos: [3, 1] });
    assert.deepEqual(parseMetaContextRequest(meta), {
      exportName: 'vol0',
      queries: ['base:allocation', 'qemu:dirty-bitmap:b0'],
    });
  });

  it('refuses malformed option data instead of reading past it', () => {
    const go = encodeExportRequest({ name: 'vol0', infos: [3] });
    assert.equal(parseExportRequest(go.subarray(0, go.length - 1)), undefined);
    assert.equal(parseExportRequest(Buffer.concat([go, Buffer.from([0])])), undefined);
    const bogusName = Buffer.alloc(6);
    bogusName.writeUInt32BE(1000, 0);
    assert.equal(parseExportRequest(bogusName), undefined);
    const meta = encodeMetaContextRequest({ exportName: '', queries: ['base:'] });
    assert.equal(parseMetaContextRequest(meta.subarray(0, meta.length - 2)), undefined);
    assert.equal(parseMetaContextRequest(Buffer.alloc(3)), undefined);
  });

  it('throws a protocol error on a bad option magic or an absurd option length', () => {
    const r = new FrameReader();
    r.push(Buffer.alloc(16, 0x41));
    assert.throws(() => decodeOption(r, 4096), NbdProtocolError);
    const big = encodeOption(NBD_OPT_GO, Buffer.alloc(0));
    big.writeUInt32BE(1 << 30, 12);
    const r2 = new FrameReader();
    r2.push(big);
    assert.throws(() => decodeOption(r2, 4096), /more than 4096/);
  });

  it('option replies parse at every split', () => {
    const bytes = Buffer.concat([
      encodeOptionError(7, NBD_REP_ERR_UNSUP, 'nope'),
      encodeOptionError(7, NBD_REP_ACK),
    ]);
    assertAllEqual(
      everySplit(bytes, (r) => decodeOptionReply(r)),
      [
        { option: 7, type: NBD_REP_ERR_UNSUP, data: Buffer.from('nope') },
        { option: 7, type: NBD_REP_ACK, data: Buffer.alloc(0) },
      ],
    );
  });

  it('EXPORT_NAME reply is 134 bytes, or 10 with NO_ZEROES', () => {
    const full = encodeExportNameReply(2 ** 40 + 5, 0x1234, false);
    assert.equal(full.length, 134);
    assert.equal(full.readBigUInt64BE(0), 2n ** 40n + 5n);
    assert.equal(full.readUInt16BE(8), 0x1234);
    assert.ok(full.subarray(10).every((b) => b === 0));
    assert.equal(encodeExportNameReply(1, 1, true).length, 10);
  });
});

describe('transmission codec', () => {
  it('requests with WRITE payloads parse at every split, back to back', () => {
    const payload = Buffer.from('hello, block device');
    const reqs = [
      request(NBD_CMD_WRITE, {
        flags: NBD_CMD_FLAG_FUA,
        offset: 2 ** 33 + 512,
        length: payload.length,
        data: payload,
      }),
      request(NBD_CMD_READ, { cookie: 0xffffffffffffffffn, offset: 4096, length: 65536 }),
      request(NBD_CMD_WRITE, { cookie: 7n, offset: 0, length: 0, data: Buffer.alloc(0) }),
    ];
    const bytes = Buffer.concat(reqs.map(encodeRequest));
    assert.equal(bytes.length, 28 * 3 + payload.length);
    assertAllEqual(
      everySplit(bytes, (r) => decodeRequest(r, 1 << 20)),
      reqs,
    );
  });

  it('a bad request magic or an absurd WRITE length is a protocol error', () => {
    const bad = encodeRequest(request(NBD_CMD_READ, { length: 1 }));
    bad.writeUInt32BE(0xdeadbeef, 0);
    const r = new FrameReader();
    r.push(bad);
    assert.throws(() => decodeRequest(r, 1 << 20), /bad request magic/);
    const huge = encodeRequest(request(NBD_CMD_WRITE, { length: 0x7fffffff }));
    const r2 = new FrameReader();
    r2.push(huge);
    assert.throws(() => decodeRequest(r2, 1 << 20), NbdProtocolError);
  });

  it('simple replies and structured chunks parse at every split', () => {
    const cookie = 0xabcdef0123456789n;
    const data = Buffer.from('0123456789abcdef');
    const bytes = Buffer.concat([
      encodeSimpleReply(cookie, 22),
      encodeOffsetDataHeader(cookie, 1 << 20, data.length, NBD_REPLY_FLAG_DONE),
      data,
      encodeOffsetHole(cookie, 512, 4096, 0),
      encodeBlockStatusChunk(
        cookie,
        3,
        [
          { length: 65536, flags: 3 },
          { length: 512, flags: 0 },
        ],
        NBD_REPLY_FLAG_DONE,
      ),
      encodeErrorChunk(cookie, 5, 'disk on fire'),
    ]);
    const results = everySplit(bytes, (r) => decodeReply(r));
    const expected = [
      { kind: 'simple', error: 22, cookie },
      {
        kind: 'chunk',
        flags: 1,
        type: NBD_REPLY_TYPE_OFFSET_DATA,
        cookie,
        payload: Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0x10, 0, 0]), data]),
      },
      {
        kind: 'chunk',
        flags: 0,
        type: NBD_REPLY_TYPE_OFFSET_HOLE,
        cookie,
        payload: Buffer.from([0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0x10, 0]),
      },
      {
        kind: 'chunk',
        flags: 1,
        type: NBD_REPLY_TYPE_BLOCK_STATUS,
        cookie,
        payload: Buffer.from([0, 0, 0, 3, 0, 1, 0, 0, 0, 0, 0, 3, 0, 0, 2, 0, 0, 0, 0, 0]),
      },
      {
        kind: 'chunk',
        flags: 1,
        type: NBD_REPLY_TYPE_ERROR,
        cookie,
        payload: Buffer.concat([Buffer.from([0, 0, 0, 5, 0, 12]), Buffer.from('disk on fire')]),
      },
    ];
    assertAllEqual(results, expected as never[]);
  });

  it('the error chunk type is 0x8001, not the 1 << 15 + 1 bug', () => {
    assert.equal(NBD_REPLY_TYPE_ERROR, 32769);
    assert.equal(encodeErrorChunk(1n, 5, '').readUInt16BE(6), 0x8001);
  });
});
