/**
 * The transmission half of the NBD codec: requests, simple replies and structured reply
 * chunks, both directions. Buffers only; the server and the client own the sockets.
 *
 *   request (28)  u32 0x25609513 | u16 flags | u16 type | u64 cookie | u64 offset | u32 length | WRITE data
 *   simple  (16)  u32 0x67446698 | u32 error | u64 cookie | READ data
 *   chunk   (20)  u32 0x668e33ef | u16 flags | u16 type | u64 cookie | u32 length | payload
 *
 * Hot path: encoders return small header buffers and never copy bulk data; the caller
 * writes header and data back to back (corked) so each reply leaves in one burst.
 */
import {
  CHUNK_HEADER_BYTES,
  MAX_STRING_BYTES,
  NBD_CMD_WRITE,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_ERROR_OFFSET,
  NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA,
  NBD_REPLY_TYPE_OFFSET_HOLE,
  NBD_REQUEST_MAGIC,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC,
  REQUEST_BYTES,
  SIMPLE_REPLY_BYTES,
} from './constants.js';
import type { FrameReader } from './frame-reader.js';
import { NbdProtocolError } from './protocol-error.js';
import { readU64, writeU64 } from './wire.js';

export interface NbdRequest {
  flags: number;
  type: number;
  /** Opaque to the server: echoed unchanged in every reply to this request. */
  cookie: bigint;
  offset: number;
  length: number;
  /** The payload of a WRITE (exactly `length` bytes); absent for other commands. */
  data?: Buffer;
}

/** One descriptor of a NBD_REPLY_TYPE_BLOCK_STATUS chunk. */
export interface BlockStatusDescriptor {
  length: number;
  flags: number;
}

export interface SimpleReply {
  kind: 'simple';
  error: number;
  cookie: bigint;
}

export interface ReplyChunk {
  kind: 'chunk';
  flags: number;
  type: number;
  cookie: bigint;
  payload: Buffer;
}

// ---- Requests ----

/**
 * One request with its WRITE payload, or undefined until all of it has arrived. A WRITE
 * longer than `maxWriteBytes` is a framing error: we will not buffer it.
 */
export function decodeRequest(reader: FrameReader, maxWriteBytes: number): NbdRequest | undefined {
  const head = reader.peek(REQUEST_BYTES);
  if (head === undefined) return undefined;
  const magic = head.readUInt32BE(0);
  if (magic !== NBD_REQUEST_MAGIC) throw new NbdProtocolError(`bad request magic 0x${magic.toString(16)}`);
  const flags = head.readUInt16BE(4);
  const type = head.readUInt16BE(6);
  const length = head.readUInt32BE(24);
  if (type === NBD_CMD_WRITE) {
    if (length > maxWriteBytes) {
      throw new NbdProtocolError(`WRITE of ${length} bytes exceeds the ${maxWriteBytes}-byte payload limit`, {
        length,
      });
    }
    if (reader.length < REQUEST_BYTES + length) return undefined;
  }
  const cookie = head.readBigUInt64BE(8);
  const offset = readU64(head, 16);
  reader.skip(REQUEST_BYTES);
  const req: NbdRequest = { flags, type, cookie, offset, length };
  if (type === NBD_CMD_WRITE) req.data = length === 0 ? Buffer.alloc(0) : reader.take(length)!;
  return req;
}

/** A request frame, payload included (tests; the client sends the header and the data apart). */
export function encodeRequest(req: NbdRequest): Buffer {
  const dataLength = req.data?.length ?? 0;
  const buf = Buffer.allocUnsafe(REQUEST_BYTES + dataLength);
  writeRequestHeader(buf, req);
  req.data?.copy(buf, REQUEST_BYTES);
  return buf;
}

/** The 28-byte request header alone; a WRITE's data goes right after it, uncopied. */
export function encodeRequestHeader(req: Omit<NbdRequest, 'data'>): Buffer {
  const buf = Buffer.allocUnsafe(REQUEST_BYTES);
  writeRequestHeader(buf, req);
  return buf;
}

function writeRequestHeader(buf: Buffer, req: Omit<NbdRequest, 'data'>): void {
  buf.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
  buf.writeUInt16BE(req.flags, 4);
  buf.writeUInt16BE(req.type, 6);
  buf.writeBigUInt64BE(req.cookie, 8);
  writeU64(buf, req.offset, 16);
  buf.writeUInt32BE(req.length, 24);
}

// ---- Replies ----

export function encodeSimpleReply(cookie: bigint, errno: number): Buffer {
  const buf = Buffer.allocUnsafe(SIMPLE_REPLY_BYTES);
  buf.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, 0);
  buf.writeUInt32BE(errno, 4);
  buf.writeBigUInt64BE(cookie, 8);
  return buf;
}

function writeChunkHeader(buf: Buffer, flags: number, type: number, cookie: bigint, length: number): void {
  buf.writeUInt32BE(NBD_STRUCTURED_REPLY_MAGIC, 0);
  buf.writeUInt16BE(flags, 4);
  buf.writeUInt16BE(type, 6);
  buf.writeBigUInt64BE(cookie, 8);
  buf.writeUInt32BE(length, 16);
}

/** NBD_REPLY_TYPE_NONE with DONE: "the request succeeded, nothing more to say". */
export function encodeNoneChunk(cookie: bigint): Buffer {
  const buf = Buffer.allocUnsafe(CHUNK_HEADER_BYTES);
  writeChunkHeader(buf, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, cookie, 0);
  return buf;
}

/** Header (28 bytes) of an OFFSET_DATA chunk; the caller sends `dataLength` bytes right after it. */
export function encodeOffsetDataHeader(
  cookie: bigint,
  offset: number,
  dataLength: number,
  flags: number,
): Buffer {
  const buf = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + 8);
  writeChunkHeader(buf, flags, NBD_REPLY_TYPE_OFFSET_DATA, cookie, 8 + dataLength);
  writeU64(buf, offset, CHUNK_HEADER_BYTES);
  return buf;
}

export function encodeOffsetHole(cookie: bigint, offset: number, holeBytes: number, flags: number): Buffer {
  const buf = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + 12);
  writeChunkHeader(buf, flags, NBD_REPLY_TYPE_OFFSET_HOLE, cookie, 12);
  writeU64(buf, offset, CHUNK_HEADER_BYTES);
  buf.writeUInt32BE(holeBytes, CHUNK_HEADER_BYTES + 8);
  return buf;
}

export function encodeBlockStatusChunk(
  cookie: bigint,
  contextId: number,
  descriptors: readonly BlockStatusDescriptor[],
  flags: number,
): Buffer {
  const length = 4 + 8 * descriptors.length;
  const buf = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + length);
  writeChunkHeader(buf, flags, NBD_REPLY_TYPE_BLOCK_STATUS, cookie, length);
  buf.writeUInt32BE(contextId, CHUNK_HEADER_BYTES);
  let at = CHUNK_HEADER_BYTES + 4;
  for (const d of descriptors) {
    buf.writeUInt32BE(d.length, at);
    buf.writeUInt32BE(d.flags, at + 4);
    at += 8;
  }
  return buf;
}

/** NBD_REPLY_TYPE_ERROR: u32 errno, u16 message length, message. */
export function encodeErrorChunk(
  cookie: bigint,
  errno: number,
  message: string,
  flags = NBD_REPLY_FLAG_DONE,
): Buffer {
  let msg = Buffer.from(message, 'utf8');
  if (msg.length > MAX_STRING_BYTES) msg = msg.subarray(0, MAX_STRING_BYTES);
  const length = 6 + msg.length;
  const buf = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + length);
  writeChunkHeader(buf, flags, NBD_REPLY_TYPE_ERROR, cookie, length);
  buf.writeUInt32BE(errno, CHUNK_HEADER_BYTES);
  buf.writeUInt16BE(msg.length, CHUNK_HEADER_BYTES + 4);
  msg.copy(buf, CHUNK_HEADER_BYTES + 6);
  return buf;
}

/**
 * One reply (client side and tests). A simple reply's READ data is not framed, so it is
 * left in the reader for the caller, who knows the request's length.
 */
export function decodeReply(
  reader: FrameReader,
  maxPayloadBytes = 64 << 20,
): SimpleReply | ReplyChunk | undefined {
  const magicBuf = reader.peek(4);
  if (magicBuf === undefined) return undefined;
  const magic = magicBuf.readUInt32BE(0);
  if (magic === NBD_SIMPLE_REPLY_MAGIC) {
    const buf = reader.take(SIMPLE_REPLY_BYTES);
    if (buf === undefined) return undefined;
    return { kind: 'simple', error: buf.readUInt32BE(4), cookie: buf.readBigUInt64BE(8) };
  }
  if (magic !== NBD_STRUCTURED_REPLY_MAGIC)
    throw new NbdProtocolError(`bad reply magic 0x${magic.toString(16)}`);
  const head = reader.peek(CHUNK_HEADER_BYTES);
  if (head === undefined) return undefined;
  const length = head.readUInt32BE(16);
  if (length > maxPayloadBytes) throw new NbdProtocolError(`reply chunk of ${length} bytes`);
  if (reader.length < CHUNK_HEADER_BYTES + length) return undefined;
  const flags = head.readUInt16BE(4);
  const type = head.readUInt16BE(6);
  const cookie = head.readBigUInt64BE(8);
  reader.skip(CHUNK_HEADER_BYTES);
  const payload = length === 0 ? Buffer.alloc(0) : reader.take(length)!;
  return { kind: 'chunk', flags, type, cookie, payload };
}

// ---- Client side: the payloads of structured reply chunks. ----
// Each throws NbdProtocolError on a payload that breaks the spec's length rules: the
// client must then hard-disconnect (proto.md, "Structured reply types").

/** NBD_REPLY_TYPE_OFFSET_DATA: u64 offset, then the data (at least one byte). */
export function parseOffsetData(payload: Buffer): { offset: number; data: Buffer } {
  if (payload.length < 9) throw new NbdProtocolError(`OFFSET_DATA chunk of ${payload.length} bytes`);
  return { offset: readU64(payload, 0), data: payload.subarray(8) };
}

/** NBD_REPLY_TYPE_OFFSET_HOLE: u64 offset, u32 hole size (non-zero). */
export function parseOffsetHole(payload: Buffer): { offset: number; length: number } {
  if (payload.length !== 12) throw new NbdProtocolError(`OFFSET_HOLE chunk of ${payload.length} bytes`);
  const length = payload.readUInt32BE(8);
  if (length === 0) throw new NbdProtocolError('OFFSET_HOLE of 0 bytes');
  return { offset: readU64(payload, 0), length };
}

/** NBD_REPLY_TYPE_BLOCK_STATUS: u32 context id, then one or more {u32 length, u32 flags}. */
export function parseBlockStatusChunk(payload: Buffer): {
  contextId: number;
  descriptors: BlockStatusDescriptor[];
} {
  if (payload.length < 12 || (payload.length - 4) % 8 !== 0) {
    throw new NbdProtocolError(`BLOCK_STATUS chunk of ${payload.length} bytes`);
  }
  const descriptors: BlockStatusDescriptor[] = [];
  for (let at = 4; at < payload.length; at += 8) {
    const length = payload.readUInt32BE(at);
    if (length === 0) throw new NbdProtocolError('BLOCK_STATUS descriptor of 0 bytes');
    descriptors.push({ length, flags: payload.readUInt32BE(at + 4) });
  }
  return { contextId: payload.readUInt32BE(0), descriptors };
}

export interface ErrorChunk {
  /** The NBD error value (non-zero). */
  errno: number;
  message: string;
  /** Where the error happened (NBD_REPLY_TYPE_ERROR_OFFSET only). */
  offset?: number;
}

/**
 * Any error chunk (type with bit 15 set): u32 error, u16 message length, message, then
 * type-specific fields (ERROR_OFFSET: u64 offset). Unknown error types still give the
 * error value and message, as the spec asks.
 */
export function parseErrorChunk(type: number, payload: Buffer): ErrorChunk {
  if (payload.length < 6) throw new NbdProtocolError(`error chunk of ${payload.length} bytes`);
  const errno = payload.readUInt32BE(0);
  const messageBytes = payload.readUInt16BE(4);
  const tail = type === NBD_REPLY_TYPE_ERROR_OFFSET ? 8 : 0;
  if (6 + messageBytes + tail > payload.length) {
    throw new NbdProtocolError(`error chunk message of ${messageBytes} bytes overruns its ${payload.length}`);
  }
  if (type === NBD_REPLY_TYPE_ERROR_OFFSET && payload.length !== 6 + messageBytes + 8) {
    throw new NbdProtocolError(`ERROR_OFFSET chunk of ${payload.length} bytes`);
  }
  const chunk: ErrorChunk = { errno, message: payload.toString('utf8', 6, 6 + messageBytes) };
  if (type === NBD_REPLY_TYPE_ERROR_OFFSET) chunk.offset = readU64(payload, 6 + messageBytes);
  return chunk;
}
