/**
 * The handshake (option haggling) half of the NBD codec: Buffers in, Buffers out, no sockets.
 *
 *   server                                   client
 *   greeting  NBDMAGIC IHAVEOPT u16 flags ->
 *                                          <- u32 client flags
 *                                          <- IHAVEOPT u32 option u32 len data   (repeat)
 *   0x3e889045565a9 u32 opt u32 type u32 len data ->   (one or more per option)
 *
 * Decoders take a FrameReader and return undefined when the frame is not complete yet
 * (nothing is consumed then); they throw NbdProtocolError on a frame that can never be
 * valid. Both directions are here: the server and the NBD client (client/) share them.
 */
import {
  GREETING_BYTES,
  MAX_STRING_BYTES,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_EXPORT,
  NBD_INFO_NAME,
  NBD_MAGIC,
  NBD_OPTS_MAGIC,
  NBD_REP_INFO,
  NBD_REP_MAGIC,
  NBD_REP_META_CONTEXT,
  NBD_REP_SERVER,
  OPTION_HEADER_BYTES,
  OPTION_REPLY_HEADER_BYTES,
} from './constants.js';
import type { FrameReader } from './frame-reader.js';
import { NbdProtocolError } from './protocol-error.js';
import { readU64, writeU64 } from './wire.js';

export interface OptionRequest {
  option: number;
  data: Buffer;
}

export interface OptionReply {
  option: number;
  type: number;
  data: Buffer;
}

/** The data of NBD_OPT_INFO and NBD_OPT_GO. */
export interface ExportRequest {
  name: string;
  infos: number[];
}

/** The data of NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT. */
export interface MetaContextRequest {
  exportName: string;
  queries: string[];
}

// ---- Server side: parse what the client sends. ----

export function decodeClientFlags(reader: FrameReader): number | undefined {
  const buf = reader.take(4);
  return buf?.readUInt32BE(0);
}

/** One option request; options with more than `maxDataBytes` of data are refused as malformed. */
export function decodeOption(reader: FrameReader, maxDataBytes: number): OptionRequest | undefined {
  const head = reader.peek(OPTION_HEADER_BYTES);
  if (head === undefined) return undefined;
  const magic = head.readBigUInt64BE(0);
  if (magic !== NBD_OPTS_MAGIC) {
    throw new NbdProtocolError(`bad option magic 0x${magic.toString(16)}`);
  }
  const option = head.readUInt32BE(8);
  const length = head.readUInt32BE(12);
  if (length > maxDataBytes) {
    throw new NbdProtocolError(`option ${option} carries ${length} bytes, more than ${maxDataBytes}`, {
      option,
      length,
    });
  }
  if (reader.length < OPTION_HEADER_BYTES + length) return undefined;
  reader.skip(OPTION_HEADER_BYTES);
  const data = length === 0 ? Buffer.alloc(0) : reader.take(length)!;
  return { option, data };
}

/** Parse INFO/GO data; undefined when it is malformed (the caller answers ERR_INVALID). */
export function parseExportRequest(data: Buffer): ExportRequest | undefined {
  if (data.length < 6) return undefined;
  const nameLen = data.readUInt32BE(0);
  if (nameLen > MAX_STRING_BYTES || data.length < 4 + nameLen + 2) return undefined;
  const name = data.toString('utf8', 4, 4 + nameLen);
  const count = data.readUInt16BE(4 + nameLen);
  const at = 4 + nameLen + 2;
  if (data.length !== at + 2 * count) return undefined;
  const infos: number[] = [];
  for (let i = 0; i < count; i++) infos.push(data.readUInt16BE(at + 2 * i));
  return { name, infos };
}

/** Parse LIST/SET_META_CONTEXT data; undefined when it is malformed. */
export function parseMetaContextRequest(data: Buffer): MetaContextRequest | undefined {
  if (data.length < 8) return undefined;
  const nameLen = data.readUInt32BE(0);
  if (nameLen > MAX_STRING_BYTES || data.length < 4 + nameLen + 4) return undefined;
  const exportName = data.toString('utf8', 4, 4 + nameLen);
  const count = data.readUInt32BE(4 + nameLen);
  let at = 4 + nameLen + 4;
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    if (data.length < at + 4) return undefined;
    const len = data.readUInt32BE(at);
    at += 4;
    if (len > MAX_STRING_BYTES || data.length < at + len) return undefined;
    queries.push(data.toString('utf8', at, at + len));
    at += len;
  }
  if (at !== data.length) return undefined;
  return { exportName, queries };
}

// ---- Server side: serialize what the server sends. ----

export function encodeGreeting(handshakeFlags: number): Buffer {
  const buf = Buffer.allocUnsafe(GREETING_BYTES);
  buf.writeBigUInt64BE(NBD_MAGIC, 0);
  buf.writeBigUInt64BE(NBD_OPTS_MAGIC, 8);
  buf.writeUInt16BE(handshakeFlags, 16);
  return buf;
}

export function encodeOptionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const buf = Buffer.allocUnsafe(OPTION_REPLY_HEADER_BYTES + data.length);
  buf.writeBigUInt64BE(NBD_REP_MAGIC, 0);
  buf.writeUInt32BE(option, 8);
  buf.writeUInt32BE(type >>> 0, 12);
  buf.writeUInt32BE(data.length, 16);
  data.copy(buf, OPTION_REPLY_HEADER_BYTES);
  return buf;
}

/** An error reply with a human-readable message (UTF-8, capped at the string limit). */
export function encodeOptionError(option: number, type: number, message = ''): Buffer {
  return encodeOptionReply(option, type, utf8Capped(message));
}

export function encodeInfoExport(option: number, sizeBytes: number, transmissionFlags: number): Buffer {
  const data = Buffer.allocUnsafe(12);
  data.writeUInt16BE(NBD_INFO_EXPORT, 0);
  writeU64(data, sizeBytes, 2);
  data.writeUInt16BE(transmissionFlags, 10);
  return encodeOptionReply(option, NBD_REP_INFO, data);
}

export function encodeInfoName(option: number, name: string): Buffer {
  return encodeOptionReply(option, NBD_REP_INFO, infoString(NBD_INFO_NAME, name));
}

export function encodeInfoDescription(option: number, description: string): Buffer {
  return encodeOptionReply(option, NBD_REP_INFO, infoString(NBD_INFO_DESCRIPTION, description));
}

export function encodeInfoBlockSize(
  option: number,
  minimumBytes: number,
  preferredBytes: number,
  maxPayloadBytes: number,
): Buffer {
  const data = Buffer.allocUnsafe(14);
  data.writeUInt16BE(NBD_INFO_BLOCK_SIZE, 0);
  data.writeUInt32BE(minimumBytes, 2);
  data.writeUInt32BE(preferredBytes, 6);
  data.writeUInt32BE(maxPayloadBytes, 10);
  return encodeOptionReply(option, NBD_REP_INFO, data);
}

/** One NBD_REP_SERVER reply to NBD_OPT_LIST. */
export function encodeServerReply(option: number, name: string, description = ''): Buffer {
  const nameBytes = utf8Capped(name);
  const desc = utf8Capped(description);
  const data = Buffer.allocUnsafe(4 + nameBytes.length + desc.length);
  data.writeUInt32BE(nameBytes.length, 0);
  nameBytes.copy(data, 4);
  desc.copy(data, 4 + nameBytes.length);
  return encodeOptionReply(option, NBD_REP_SERVER, data);
}

export function encodeMetaContextReply(option: number, contextId: number, name: string): Buffer {
  const nameBytes = utf8Capped(name);
  const data = Buffer.allocUnsafe(4 + nameBytes.length);
  data.writeUInt32BE(contextId, 0);
  nameBytes.copy(data, 4);
  return encodeOptionReply(option, NBD_REP_META_CONTEXT, data);
}

/** The reply that ends NBD_OPT_EXPORT_NAME: size, flags and (unless NO_ZEROES) 124 zero bytes. */
export function encodeExportNameReply(
  sizeBytes: number,
  transmissionFlags: number,
  noZeroes: boolean,
): Buffer {
  const buf = Buffer.alloc(noZeroes ? 10 : 134);
  writeU64(buf, sizeBytes, 0);
  buf.writeUInt16BE(transmissionFlags, 8);
  return buf;
}

// ---- Client side: the mirror images, for the NBD client and for tests. ----

/** The server greeting; returns its handshake flags. */
export function decodeGreeting(reader: FrameReader): number | undefined {
  const buf = reader.peek(GREETING_BYTES);
  if (buf === undefined) return undefined;
  if (buf.readBigUInt64BE(0) !== NBD_MAGIC || buf.readBigUInt64BE(8) !== NBD_OPTS_MAGIC) {
    throw new NbdProtocolError('not a fixed-newstyle NBD server greeting');
  }
  const flags = buf.readUInt16BE(16);
  reader.skip(GREETING_BYTES);
  return flags;
}

export function encodeClientFlags(flags: number): Buffer {
  const buf = Buffer.allocUnsafe(4);
  buf.writeUInt32BE(flags, 0);
  return buf;
}

export function encodeOption(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const buf = Buffer.allocUnsafe(OPTION_HEADER_BYTES + data.length);
  buf.writeBigUInt64BE(NBD_OPTS_MAGIC, 0);
  buf.writeUInt32BE(option, 8);
  buf.writeUInt32BE(data.length, 12);
  data.copy(buf, OPTION_HEADER_BYTES);
  return buf;
}

export function encodeExportRequest(request: ExportRequest): Buffer {
  const name = Buffer.from(request.name, 'utf8');
  const buf = Buffer.allocUnsafe(4 + name.length + 2 + 2 * request.infos.length);
  buf.writeUInt32BE(name.length, 0);
  name.copy(buf, 4);
  buf.writeUInt16BE(request.infos.length, 4 + name.length);
  request.infos.forEach((info, i) => {
    buf.writeUInt16BE(info, 4 + name.length + 2 + 2 * i);
  });
  return buf;
}

export function encodeMetaContextRequest(request: MetaContextRequest): Buffer {
  const parts: Buffer[] = [];
  const name = Buffer.from(request.exportName, 'utf8');
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(name.length, 0);
  parts.push(head, name);
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(request.queries.length, 0);
  parts.push(count);
  for (const q of request.queries) {
    const qb = Buffer.from(q, 'utf8');
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(qb.length, 0);
    parts.push(len, qb);
  }
  return Buffer.concat(parts);
}

export function decodeOptionReply(reader: FrameReader, maxDataBytes = 1 << 20): OptionReply | undefined {
  const head = reader.peek(OPTION_REPLY_HEADER_BYTES);
  if (head === undefined) return undefined;
  if (head.readBigUInt64BE(0) !== NBD_REP_MAGIC) throw new NbdProtocolError('bad option reply magic');
  const option = head.readUInt32BE(8);
  const type = head.readUInt32BE(12);
  const length = head.readUInt32BE(16);
  if (length > maxDataBytes) throw new NbdProtocolError(`option reply of ${length} bytes`);
  if (reader.length < OPTION_REPLY_HEADER_BYTES + length) return undefined;
  reader.skip(OPTION_REPLY_HEADER_BYTES);
  const data = length === 0 ? Buffer.alloc(0) : reader.take(length)!;
  return { option, type, data };
}

/** The reply that ends NBD_OPT_EXPORT_NAME (the mirror of encodeExportNameReply). */
export function decodeExportNameReply(
  reader: FrameReader,
  noZeroes: boolean,
): { sizeBytes: number; transmissionFlags: number } | undefined {
  const bytes = noZeroes ? 10 : 134;
  const buf = reader.take(bytes);
  if (buf === undefined) return undefined;
  return { sizeBytes: readU64(buf, 0), transmissionFlags: buf.readUInt16BE(8) };
}

/** One NBD_REP_INFO payload, as the client sees it. */
export type InfoReply =
  | { info: 'export'; sizeBytes: number; transmissionFlags: number }
  | { info: 'block-size'; minimumBytes: number; preferredBytes: number; maxPayloadBytes: number }
  | { info: 'name'; name: string }
  | { info: 'description'; description: string }
  /** An info type we did not ask for or do not know: the spec says to ignore it. */
  | { info: 'other'; infoType: number };

/** Parse the data of an NBD_REP_INFO reply; a payload of the wrong size is a protocol error. */
export function parseInfoReply(data: Buffer): InfoReply {
  if (data.length < 2) throw new NbdProtocolError(`NBD_REP_INFO of ${data.length} bytes`);
  const infoType = data.readUInt16BE(0);
  const expect = (bytes: number): void => {
    if (data.length !== bytes) {
      throw new NbdProtocolError(`NBD_REP_INFO type ${infoType} of ${data.length} bytes, expected ${bytes}`);
    }
  };
  switch (infoType) {
    case NBD_INFO_EXPORT:
      expect(12);
      return { info: 'export', sizeBytes: readU64(data, 2), transmissionFlags: data.readUInt16BE(10) };
    case NBD_INFO_BLOCK_SIZE:
      expect(14);
      return {
        info: 'block-size',
        minimumBytes: data.readUInt32BE(2),
        preferredBytes: data.readUInt32BE(6),
        maxPayloadBytes: data.readUInt32BE(10),
      };
    case NBD_INFO_NAME:
      return { info: 'name', name: data.toString('utf8', 2) };
    case NBD_INFO_DESCRIPTION:
      return { info: 'description', description: data.toString('utf8', 2) };
    default:
      return { info: 'other', infoType };
  }
}

/** Parse the data of an NBD_REP_META_CONTEXT reply: u32 context id, then its name. */
export function parseMetaContextReply(data: Buffer): { id: number; name: string } {
  if (data.length < 4) throw new NbdProtocolError(`NBD_REP_META_CONTEXT of ${data.length} bytes`);
  return { id: data.readUInt32BE(0), name: data.toString('utf8', 4) };
}

function infoString(infoType: number, value: string): Buffer {
  const bytes = utf8Capped(value);
  const data = Buffer.allocUnsafe(2 + bytes.length);
  data.writeUInt16BE(infoType, 0);
  bytes.copy(data, 2);
  return data;
}

/** UTF-8 bytes of `s`, cut to the protocol's string limit. */
function utf8Capped(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  return bytes.length <= MAX_STRING_BYTES ? bytes : bytes.subarray(0, MAX_STRING_BYTES);
}
