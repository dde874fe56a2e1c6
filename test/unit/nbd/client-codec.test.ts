/**
 * The codec halves the NBD client reads with: option replies to GO and SET_META_CONTEXT,
 * the EXPORT_NAME reply, structured chunk payloads, and the request header. Built with
 * the server's encoders and re-parsed split at every offset.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  NBD_CMD_WRITE,
  NBD_OPT_GO,
  NBD_OPT_SET_META_CONTEXT,
  NBD_REP_ACK,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_ERROR_OFFSET,
} from '../../../src/nbd/constants.js';
import type { FrameReader } from '../../../src/nbd/frame-reader.js';
import {
  decodeExportNameReply,
  decodeOptionReply,
  encodeExportNameReply,
  encodeInfoBlockSize,
  encodeInfoDescription,
  encodeInfoExport,
  encodeInfoName,
  encodeMetaContextReply,
  encodeOptionReply,
  parseInfoReply,
  parseMetaContextReply,
} from '../../../src/nbd/handshake-codec.js';
import { NbdProtocolError } from '../../../src/nbd/protocol-error.js';
import {
  decodeReply,
  encodeBlockStatusChunk,
  encodeErrorChunk,
  encodeOffsetDataHeader,
  encodeOffsetHole,
  encodeRequest,
  encodeRequestHeader,
  parseBlockStatusChunk,
  parseErrorChunk,
  parseOffsetData,
  parseOffsetHole,
} from '../../../src/nbd/transmission-codec.js';
import { assertAllEqual, everySplit } from '../../helpers/every-split.js';

/** An error chunk of any type, built by hand (the server never sends ERROR_OFFSET). */
function errorChunkPayload(errno: number, message: string, offset?: number): Buffer {
  const msg = Buffer.from(message);
  const buf = Buffer.alloc(6 + msg.length + (offset === undefined ? 0 : 8));
  buf.writeUInt32BE(errno, 0);
  buf.writeUInt16BE(msg.length, 4);
  msg.copy(buf, 6);
  if (offset !== undefined) buf.writeBigUInt64BE(BigInt(offset), 6 + msg.length);
  return buf;
}

describe('client side of the handshake codec', () => {
  it('the replies to GO and SET_META_CONTEXT parse at every split', () => {
    const bytes = Buffer.concat([
      encodeMetaContextReply(NBD_OPT_SET_META_CONTEXT, 1, 'base:allocation'),
      encodeMetaContextReply(NBD_OPT_SET_META_CONTEXT, 7, 'qemu:dirty-bitmap:b0'),
      encodeOptionReply(NBD_OPT_SET_META_CONTEXT, NBD_REP_ACK),
      encodeInfoExport(NBD_OPT_GO, 2 ** 40 + 4096, 0x0d6d),
      encodeInfoName(NBD_OPT_GO, 'vol0'),
      encodeInfoDescription(NBD_OPT_GO, 'a volume'),
      encodeInfoBlockSize(NBD_OPT_GO, 512, 4096, 32 * 1024 * 1024),
      encodeOptionReply(NBD_OPT_GO, NBD_REP_ACK),
    ]);
    const results = everySplit(bytes, (r) => decodeOptionReply(r));
    const parsed = results[0].map((reply) => {
      if (reply.option === NBD_OPT_SET_META_CONTEXT && reply.type !== NBD_REP_ACK)
        return parseMetaContextReply(reply.data);
      if (reply.type === NBD_REP_ACK) return 'ack';
      return parseInfoReply(reply.data);
    });
    assert.deepEqual(parsed, [
      { id: 1, name: 'base:allocation' },
      { id: 7, name: 'qemu:dirty-bitmap:b0' },
      'ack',
      { info: 'export', sizeBytes: 2 ** 40 + 4096, transmissionFlags: 0x0d6d },
      { info: 'name', name: 'vol0' },
      { info: 'description', description: 'a volume' },
      { info: 'block-size', minimumBytes: 512, preferredBytes: 4096, maxPayloadBytes: 32 * 1024 * 1024 },
      'ack',
    ]);
    assertAllEqual(results, results[0]);
  });

  it('info replies of the wrong size are protocol errors; unknown info types are passed by', () => {
    const exportInfo = encodeInfoExport(NBD_OPT_GO, 1, 1).subarray(20);
    assert.throws(() => parseInfoReply(exportInfo.subarray(0, 11)), NbdProtocolError);
    assert.throws(() => parseInfoReply(Buffer.alloc(1)), NbdProtocolError);
    assert.deepEqual(parseInfoReply(Buffer.from([0, 9, 1, 2])), { info: 'other', infoType: 9 });
    assert.throws(() => parseMetaContextReply(Buffer.alloc(3)), NbdProtocolError);
  });

  it('the EXPORT_NAME reply parses at every split, with and without the 124 zeroes', () => {
    for (const noZeroes of [false, true]) {
      const bytes = encodeExportNameReply(123456789, 0x43, noZeroes);
      assertAllEqual(
        everySplit(bytes, (r) => decodeExportNameReply(r, noZeroes)),
        [{ sizeBytes: 123456789, transmissionFlags: 0x43 }],
      );
    }
  });
});

describe('client side of the transmission codec', () => {
  it('the request header plus the data is the whole request', () => {
    const data = Buffer.from('payload');
    const req = { flags: 1, type: NBD_CMD_WRITE, cookie: 99n, offset: 2 ** 35, length: data.length };
    assert.deepEqual(Buffer.concat([encodeRequestHeader(req), data]), encodeRequest({ ...req, data }));
  });

  it('chunk payloads parse at every split of a stream of chunks', () => {
    const cookie = 5n;
    const data = Buffer.from('some bytes of the export');
    const bytes = Buffer.concat([
      encodeOffsetDataHeader(cookie, 4096, data.length, 0),
      data,
      encodeOffsetHole(cookie, 8192, 65536, 0),
      encodeBlockStatusChunk(
        cookie,
        2,
        [
          { length: 65536, flags: 3 },
          { length: 4096, flags: 0 },
        ],
        0,
      ),
      encodeErrorChunk(cookie, 28, 'disk full', NBD_REPLY_FLAG_DONE),
    ]);
    const parse = (r: FrameReader) => {
      const c = decodeReply(r);
      if (c === undefined || c.kind !== 'chunk') return c;
      switch (c.type) {
        case 1:
          return parseOffsetData(c.payload);
        case 2:
          return parseOffsetHole(c.payload);
        case 5:
          return parseBlockStatusChunk(c.payload);
        default:
          return parseErrorChunk(c.type, c.payload);
      }
    };
    assertAllEqual(everySplit(bytes, parse), [
      { offset: 4096, data },
      { offset: 8192, length: 65536 },
      {
        contextId: 2,
        descriptors: [
          { length: 65536, flags: 3 },
          { length: 4096, flags: 0 },
        ],
      },
      { errno: 28, message: 'disk full' },
    ] as never[]);
  });

  it('ERROR_OFFSET carries its offset after the message; unknown error types still give errno and message', () => {
    assert.deepEqual(
      parseErrorChunk(NBD_REPLY_TYPE_ERROR_OFFSET, errorChunkPayload(5, 'bad sector', 2 ** 33)),
      {
        errno: 5,
        message: 'bad sector',
        offset: 2 ** 33,
      },
    );
    assert.deepEqual(parseErrorChunk(0x8123, errorChunkPayload(1, 'nope')), { errno: 1, message: 'nope' });
    assert.deepEqual(parseErrorChunk(NBD_REPLY_TYPE_ERROR, errorChunkPayload(22, '')), {
      errno: 22,
      message: '',
    });
  });

  it('malformed chunk payloads are protocol errors', () => {
    assert.throws(() => parseOffsetData(Buffer.alloc(8)), NbdProtocolError);
    assert.throws(() => parseOffsetHole(Buffer.alloc(11)), NbdProtocolError);
    assert.throws(() => parseOffsetHole(Buffer.alloc(12)), /0 bytes/);
    assert.throws(() => parseBlockStatusChunk(Buffer.alloc(4)), NbdProtocolError);
    assert.throws(() => parseBlockStatusChunk(Buffer.alloc(13)), NbdProtocolError);
    assert.throws(() => parseBlockStatusChunk(Buffer.alloc(12)), /0 bytes/);
    assert.throws(() => parseErrorChunk(NBD_REPLY_TYPE_ERROR, Buffer.alloc(5)), NbdProtocolError);
    const overrun = errorChunkPayload(5, 'abc');
    overrun.writeUInt16BE(200, 4);
    assert.throws(() => parseErrorChunk(NBD_REPLY_TYPE_ERROR, overrun), /overruns/);
    assert.throws(
      () => parseErrorChunk(NBD_REPLY_TYPE_ERROR_OFFSET, errorChunkPayload(5, 'abc')),
      NbdProtocolError,
    );
  });
});
