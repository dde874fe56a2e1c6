/**
 * The backup format (SPEC "Backup format", Fig. 11-14; byte tables in
 * docs/formats/backup.md): pure encode/decode of data objects, blocks, metadata and
 * catalogs. No I/O here. Every decoder checks magic, version, lengths and checksums and
 * throws BACKUP_OBJECT_CORRUPT naming the object key; nothing it rejects is returned.
 *
 *   catalog  --metadataKey-->  metadata  --objects[], segments-->  data objects
 *      |                         bitmap: which blocks this generation holds
 *      +--parent (generation key) --> the previous generation's catalog
 */
import {
  brotliCompressSync,
  brotliDecompressSync,
  deflateRawSync,
  inflateRawSync,
  constants as zc,
} from 'node:zlib';
import { BlockSet } from '../block/block-set.js';
import { isZeroBuffer } from '../block/copy-engine.js';
import { fullMask, MAX_GRAINS, popcount32 } from '../block/grain-masks.js';
import { ReboundError } from '../errors.js';
import {
  type BackupKeys,
  blockChecksum,
  CHECKSUM_BYTES,
  open,
  SEAL_OVERHEAD,
  seal,
  sha256,
} from './crypto.js';
import { zstdCompressScratch, zstdDecompressInto } from './zstd.js';

export const FORMAT_VERSION = 1;
/** Metadata with partial or stacked entries (a reader of version 1 must not take it). */
export const META_VERSION_GRAINS = 2;
export const DATA_MAGIC = 0x5242444f; // "RBDO"
export const META_MAGIC = 0x52424d44; // "RBMD"
export const CATALOG_MAGIC = 0x52424354; // "RBCT"
export const DATA_HEADER_BYTES = 32;
const META_HEADER_BYTES = 8;
const CATALOG_HEADER_BYTES = 16;

/** Per-block flags in the metadata. */
export const BLOCK_ZERO = 1;
/** Payload is brotli-compressed. */
export const BLOCK_COMPRESSED = 2;
/** Payload is raw-deflate-compressed (RFC 1951). */
export const BLOCK_DEFLATED = 4;
/** Payload is one zstd frame (RFC 8878). */
export const BLOCK_ZSTD = 8;
/**
 * The entry holds only some grains of its block (metadata version 2): those of its mask,
 * packed in address order. The block's other grains come from older generations.
 */
export const BLOCK_PARTIAL = 16;
/**
 * The entry lies over the entry before it, of the same block (metadata version 2; a
 * retention merge keeps a partial entry over its parent's entry this way).
 */
export const BLOCK_STACKED = 32;
/** Every flag a reader knows; an entry with another bit set is corrupt (or newer). */
const KNOWN_FLAGS =
  BLOCK_ZERO | BLOCK_COMPRESSED | BLOCK_DEFLATED | BLOCK_ZSTD | BLOCK_PARTIAL | BLOCK_STACKED;
/** The flags that say how an entry lies, not how its payload is coded. */
const LAYOUT_FLAGS = BLOCK_PARTIAL | BLOCK_STACKED;

/** A block is stored compressed only when that saves at least 1/8 of it. */
const COMPRESS_KEEP_RATIO = 0.875;

export function corrupt(key: string, why: string, detail: Record<string, unknown> = {}): ReboundError {
  return new ReboundError('BACKUP_OBJECT_CORRUPT', `backup object ${key}: ${why}`, {
    detail: { key, ...detail },
  });
}

// ---------------------------------------------------------------------------------------
// Blocks

/**
 * The codec a backup compresses with. 'mixed' only describes a retention merge of
 * generations written with different codecs: decoding follows each entry's flags.
 */
export type Compression = 'none' | 'brotli' | 'deflate' | 'zstd' | 'mixed';

/** The codecs a writer can be asked for (every reader decodes all of them). */
export const WRITER_CODECS: readonly Compression[] = ['zstd', 'brotli', 'deflate', 'none'];
/** The writer's default: decodes 3-4x faster than brotli q0 and stores less (format doc). */
export const DEFAULT_COMPRESSION: Compression = 'zstd';

const CODEC_BYTES: Record<Compression, number> = { none: 0, brotli: 1, deflate: 2, mixed: 3, zstd: 4 };
const CODEC_OF_BYTE: Compression[] = ['none', 'brotli', 'deflate', 'mixed', 'zstd'];

/** Bytes sampled by looksIncompressible: 32 runs of 128 bytes spread over the block. */
const SAMPLE_RUNS = 32;
const SAMPLE_RUN_BYTES = 128;
/** Order-0 entropy (bits per byte) of the sample above which a block is not compressed. */
const INCOMPRESSIBLE_BITS = 7.5;

const LOG2 = new Float64Array(SAMPLE_RUNS * SAMPLE_RUN_BYTES + 1);
for (let i = 1; i < LOG2.length; i++) LOG2[i] = Math.log2(i);

/**
 * A cheap test run before compressing: the byte histogram of a 4 KiB sample spread over
 * the block. Above INCOMPRESSIBLE_BITS of order-0 entropy no compressor would save the
 * 1/8 we ask of it (random, encrypted or already compressed data), so the compressor
 * is skipped. It can miss long repeats of high-entropy data; those are then stored raw,
 * which costs space, never correctness.
 */
export function looksIncompressible(block: Uint8Array): boolean {
  const n = block.length;
  if (n < SAMPLE_RUNS * SAMPLE_RUN_BYTES * 2) return false;
  const hist = new Uint32Array(256);
  const stride = Math.floor(n / SAMPLE_RUNS);
  for (let r = 0; r < SAMPLE_RUNS; r++) {
    const at = r * stride;
    for (let i = at; i < at + SAMPLE_RUN_BYTES; i++) hist[block[i]]++;
  }
  const total = SAMPLE_RUNS * SAMPLE_RUN_BYTES;
  // H = log2(total) - sum(c * log2(c)) / total
  let sum = 0;
  for (let v = 0; v < 256; v++) {
    const c = hist[v];
    if (c > 1) sum += c * LOG2[c];
  }
  return LOG2[total] - sum / total > INCOMPRESSIBLE_BITS;
}

function compress(codec: Compression, plain: Buffer): { body: Buffer; flag: number } | undefined {
  if (codec === 'brotli') {
    return {
      flag: BLOCK_COMPRESSED,
      body: brotliCompressSync(plain, {
        params: { [zc.BROTLI_PARAM_QUALITY]: 0, [zc.BROTLI_PARAM_SIZE_HINT]: plain.length },
      }),
    };
  }
  if (codec === 'deflate')
    return { flag: BLOCK_DEFLATED, body: deflateRawSync(plain, { level: 1, memLevel: 9 }) };
  if (codec === 'zstd') {
    // Copied out of the thread's scratch buffer only when it is kept (it saves 1/8).
    const frame = zstdCompressScratch(plain);
    return {
      flag: BLOCK_ZSTD,
      body: frame.length <= plain.length * COMPRESS_KEEP_RATIO ? Buffer.from(frame) : frame,
    };
  }
  return undefined;
}

/** The most a block's payload can take: stored raw, plus the seal when encrypted. */
export function maxStoredBytes(blockSizeBytes: number, encrypted: boolean): number {
  return blockSizeBytes + (encrypted ? SEAL_OVERHEAD : 0);
}

export interface EncodedBlock {
  flags: number;
  /** The bytes that go into the data object (empty for a zero block). */
  stored: Buffer;
  checksum: Buffer;
}

/** Additional data binding a sealed block to its volume lineage and address. */
export function blockAad(uniqueId: string, block: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(block));
  return Buffer.concat([b, Buffer.from(uniqueId, 'utf8')]);
}

const EMPTY = Buffer.alloc(0);

/**
 * Checksum, zero detection, compression (skipped when the block looks incompressible or
 * when it saves under 1/8), encryption. Synchronous: run it in the codec pool's workers
 * (codec-pool.ts) to keep the main thread free. `stored` may be a view of `plain`.
 */
export function encodeBlockSync(
  plain: Buffer,
  block: number,
  opts: { compression: Compression; keys?: BackupKeys; uniqueId: string },
): EncodedBlock {
  const checksum = blockChecksum(opts.keys, plain);
  if (isZeroBuffer(plain)) return { flags: BLOCK_ZERO, stored: EMPTY, checksum };
  let flags = 0;
  let body = plain;
  if (!looksIncompressible(plain)) {
    const packed = compress(opts.compression, plain);
    if (packed && packed.body.length <= plain.length * COMPRESS_KEEP_RATIO) {
      body = packed.body;
      flags |= packed.flag;
    }
  }
  if (opts.keys) body = seal(opts.keys.dataKey, body, blockAad(opts.uniqueId, block));
  return { flags, stored: body, checksum };
}

/** encodeBlockSync on this thread, as a promise (the writer uses the codec pool). */
export async function encodeBlock(
  plain: Buffer,
  block: number,
  opts: { compression: Compression; keys?: BackupKeys; uniqueId: string },
): Promise<EncodedBlock> {
  return encodeBlockSync(plain, block, opts);
}

/**
 * Output chunk of a decompression: the whole block in one piece (zlib's default, 16 KiB,
 * makes it collect four pieces of a 64 KiB block and concatenate them). zlib wants at
 * least 64 bytes.
 */
function outChunk(blockSizeBytes: number): number {
  return Math.max(64, blockSizeBytes);
}

/** The codec flags: an entry has at most one. */
const CODEC_FLAGS = BLOCK_COMPRESSED | BLOCK_DEFLATED | BLOCK_ZSTD;

/**
 * Undo encodeBlock and check the checksum. `where` names the data object for errors.
 * Throws BACKUP_OBJECT_CORRUPT: nothing is returned from a block that fails.
 *
 * `into` (blockSizeBytes, optional) is where a zstd block is decompressed to, without a
 * copy; the result is then `into` itself. Other codecs return a buffer of their own (raw
 * blocks a view of `stored`). A block that fails may have left bytes in `into`: the
 * caller must drop what it was decoding into (the codec pool fails the whole job).
 */
export function decodeBlock(
  stored: Buffer,
  flags: number,
  checksum: Buffer,
  opts: {
    blockSizeBytes: number;
    keys?: BackupKeys;
    uniqueId: string;
    block: number;
    where: string;
    into?: Buffer;
  },
): Buffer {
  const { block, where } = opts;
  const bs = opts.blockSizeBytes;
  const codec = flags & CODEC_FLAGS;
  if ((flags & ~KNOWN_FLAGS) !== 0 || (codec & (codec - 1)) !== 0 || (flags & BLOCK_ZERO && codec)) {
    throw corrupt(where, `block ${block} has flags ${flags}, not a known combination`, { block, flags });
  }
  let plain: Buffer;
  if (flags & BLOCK_ZERO) {
    plain = Buffer.alloc(opts.blockSizeBytes);
  } else {
    let body: Buffer | undefined = stored;
    if (opts.keys) {
      body = open(opts.keys.dataKey, stored, blockAad(opts.uniqueId, block));
      if (!body) throw corrupt(where, `block ${block} fails authentication`, { block });
    }
    if (codec) {
      try {
        if (codec === BLOCK_ZSTD) {
          const into = opts.into && opts.into.length === bs ? opts.into : Buffer.allocUnsafe(bs);
          body = into.subarray(0, zstdDecompressInto(into, body));
        } else {
          body =
            codec === BLOCK_COMPRESSED
              ? brotliDecompressSync(body, { maxOutputLength: bs, chunkSize: outChunk(bs) })
              : inflateRawSync(body, { maxOutputLength: bs, chunkSize: outChunk(bs) });
        }
      } catch (err) {
        throw corrupt(where, `block ${block} does not decompress`, { block, cause: String(err) });
      }
    }
    plain = body;
  }
  if (plain.length !== opts.blockSizeBytes) {
    throw corrupt(where, `block ${block} is ${plain.length} bytes, not ${opts.blockSizeBytes}`, { block });
  }
  if (!blockChecksum(opts.keys, plain).equals(checksum)) {
    throw corrupt(where, `block ${block} fails its checksum`, { block });
  }
  return plain;
}

// ---------------------------------------------------------------------------------------
// Data objects

export interface DataHeader {
  encrypted: boolean;
  /** Address of the first block stored in the object. */
  firstBlock: number;
  /** Number of entries (blocks, zero blocks included) the object's payloads belong to. */
  entries: number;
}

export function encodeDataHeader(h: DataHeader): Buffer {
  const b = Buffer.alloc(DATA_HEADER_BYTES);
  b.writeUInt32BE(DATA_MAGIC, 0);
  b.writeUInt16BE(FORMAT_VERSION, 4);
  b.writeUInt16BE(h.encrypted ? 1 : 0, 6);
  b.writeBigUInt64BE(BigInt(h.firstBlock), 8);
  b.writeUInt32BE(h.entries, 16);
  return b;
}

export function decodeDataHeader(key: string, buf: Buffer): DataHeader {
  if (buf.length < DATA_HEADER_BYTES) throw corrupt(key, `data object truncated (${buf.length} bytes)`);
  if (buf.readUInt32BE(0) !== DATA_MAGIC) throw corrupt(key, 'not a data object (bad magic)');
  const version = buf.readUInt16BE(4);
  if (version !== FORMAT_VERSION) throw corrupt(key, `data object version ${version} unknown`);
  return {
    encrypted: (buf.readUInt16BE(6) & 1) !== 0,
    firstBlock: Number(buf.readBigUInt64BE(8)),
    entries: buf.readUInt32BE(16),
  };
}

// ---------------------------------------------------------------------------------------
// Metadata

/** Segment object index of entries that need no payload (zero blocks outside any object). */
export const NO_OBJECT = 0xffffffff;

/** `count` consecutive entries whose payloads lie back to back in `object` from `offset`. */
export interface Segment {
  object: number;
  offset: number;
  count: number;
}

export interface Metadata {
  blockSizeBytes: number;
  /** The bitmap: 1 = this generation holds the block (SPEC Fig. 12). */
  bitmap: BlockSet;
  compression: Compression;
  /** Checksums are HMAC-SHA256 (encrypted backups) rather than SHA-256. */
  keyed: boolean;
  encrypted: boolean;
  /** Data object keys; segments refer to them by index. */
  objects: string[];
  segments: Segment[];
  /**
   * Per entry (one per set bit, in address order, plus stacked entries): stored length
   * and flags.
   */
  lengths: Uint32Array;
  flags: Uint8Array;
  /** CHECKSUM_BYTES per entry. */
  checksums: Buffer;
  /**
   * Partial entries (version 2): the grain size, and per entry the grains it holds (0 =
   * the whole block; set exactly for entries flagged BLOCK_PARTIAL). Absent: all whole.
   */
  grainBytes?: number;
  masks?: Uint32Array;
}

/** Plaintext bytes of entry `e`: its grains for a partial entry, else the block. */
export function entryBytes(m: Metadata, e: number): number {
  const mask = m.masks?.[e] ?? 0;
  return mask === 0 ? m.blockSizeBytes : popcount32(mask) * (m.grainBytes ?? 0);
}

/** Whether the metadata needs version 2 (partial or stacked entries). */
function hasLayoutFlags(m: Metadata): boolean {
  for (let e = 0; e < m.flags.length; e++) if (m.flags[e] & LAYOUT_FLAGS) return true;
  return false;
}

/** Where every entry's payload is: derived from segments, one pass. */
export interface EntryIndex {
  /** Block address of each entry. */
  blocks: Uint32Array;
  object: Uint32Array;
  offset: Float64Array;
}

export function indexEntries(m: Metadata): EntryIndex {
  const n = m.lengths.length;
  const blocks = new Uint32Array(n);
  let i = 0;
  for (const run of m.bitmap.runs()) {
    for (let b = run.start; b < run.start + run.count; b++) {
      blocks[i++] = b;
      while (i < n && m.flags[i] & BLOCK_STACKED) blocks[i++] = b;
    }
  }
  const object = new Uint32Array(n);
  const offset = new Float64Array(n);
  let e = 0;
  for (const s of m.segments) {
    let at = s.offset;
    for (let k = 0; k < s.count; k++, e++) {
      object[e] = s.object;
      offset[e] = at;
      at += m.lengths[e];
    }
  }
  return { blocks, object, offset };
}

/** Structural checks shared by encode and decode. */
function checkMetadata(key: string, m: Metadata): void {
  const n = m.lengths.length;
  let stacked = 0;
  for (let e = 0; e < m.flags.length; e++) if (m.flags[e] & BLOCK_STACKED) stacked++;
  const bits = m.bitmap.count();
  if (
    bits + stacked !== n ||
    m.flags.length !== n ||
    m.checksums.length !== n * CHECKSUM_BYTES ||
    (m.masks && m.masks.length !== n)
  ) {
    throw corrupt(
      key,
      `metadata has ${bits} blocks in its bitmap and ${stacked} stacked entries but ${n} entries`,
    );
  }
  if (n > 0 && m.flags[0] & BLOCK_STACKED) throw corrupt(key, 'entry 0 is stacked on nothing');
  checkGrains(key, m);
  let covered = 0;
  for (const s of m.segments) {
    if (s.object === NO_OBJECT) {
      for (let e = covered; e < covered + s.count && e < n; e++) {
        if (m.lengths[e] !== 0 || !(m.flags[e] & BLOCK_ZERO)) {
          throw corrupt(key, `entry ${e} has a payload but no data object`);
        }
      }
    } else if (s.object >= m.objects.length) {
      throw corrupt(key, `segment names data object ${s.object} of ${m.objects.length}`);
    }
    covered += s.count;
  }
  if (covered !== n) throw corrupt(key, `segments cover ${covered} entries, not ${n}`);
}

/** Partial entries: a grain that cuts the block into 2-32 grains, and masks inside the block. */
function checkGrains(key: string, m: Metadata): void {
  let partial = false;
  for (let e = 0; e < m.flags.length; e++) if (m.flags[e] & BLOCK_PARTIAL) partial = true;
  if (!partial && !m.masks) return;
  const g = m.grainBytes ?? 0;
  const grains = g > 0 ? m.blockSizeBytes / g : 0;
  if (!Number.isInteger(grains) || grains < 2 || grains > MAX_GRAINS || (g & (g - 1)) !== 0) {
    throw corrupt(
      key,
      `grain of ${g} bytes does not cut a ${m.blockSizeBytes}-byte block into 2-${MAX_GRAINS} grains`,
    );
  }
  const full = fullMask(grains);
  for (let e = 0; e < m.flags.length; e++) {
    const mask = m.masks?.[e] ?? 0;
    const isPartial = (m.flags[e] & BLOCK_PARTIAL) !== 0;
    if (isPartial !== (mask !== 0) || mask >>> 0 > full || mask === full) {
      throw corrupt(key, `entry ${e}: grain mask ${mask} does not match its flags or block`);
    }
  }
}

function metadataAad(key: string): Buffer {
  return Buffer.from(`rebound-metadata|${key}`, 'utf8');
}

export function encodeMetadata(key: string, m: Metadata, keys?: BackupKeys): Buffer {
  checkMetadata(key, m);
  const n = m.lengths.length;
  const version = hasLayoutFlags(m) ? META_VERSION_GRAINS : FORMAT_VERSION;
  let partials = 0;
  for (let e = 0; e < n; e++) if (m.flags[e] & BLOCK_PARTIAL) partials++;
  const bitmap = m.bitmap.encode();
  const objectKeys = m.objects.map((k) => Buffer.from(k, 'utf8'));
  const fixed = 32;
  const size =
    fixed +
    4 +
    bitmap.length +
    objectKeys.reduce((a, k) => a + 2 + k.length, 0) +
    m.segments.length * 16 +
    n * 5 +
    n * CHECKSUM_BYTES +
    partials * 4;
  const body = Buffer.alloc(size + 32);
  let at = 0;
  body.writeUInt32BE(m.blockSizeBytes, 0);
  body.writeBigUInt64BE(BigInt(m.bitmap.sizeBlocks), 4);
  body.writeUInt32BE(n, 12);
  body.writeUInt8(CODEC_BYTES[m.compression] ?? 0, 16);
  body.writeUInt8(m.keyed ? 2 : 1, 17);
  body.writeUInt32BE(m.objects.length, 20);
  body.writeUInt32BE(m.segments.length, 24);
  if (version === META_VERSION_GRAINS) body.writeUInt32BE(m.grainBytes ?? 0, 28);
  at = fixed;
  body.writeUInt32BE(bitmap.length, at);
  at += 4;
  bitmap.copy(body, at);
  at += bitmap.length;
  for (const k of objectKeys) {
    body.writeUInt16BE(k.length, at);
    k.copy(body, at + 2);
    at += 2 + k.length;
  }
  for (const s of m.segments) {
    body.writeUInt32BE(s.object, at);
    body.writeBigUInt64BE(BigInt(s.offset), at + 4);
    body.writeUInt32BE(s.count, at + 12);
    at += 16;
  }
  for (let i = 0; i < n; i++, at += 5) {
    body.writeUInt32BE(m.lengths[i], at);
    body.writeUInt8(m.flags[i], at + 4);
  }
  m.checksums.copy(body, at);
  at += m.checksums.length;
  for (let i = 0; i < n; i++) {
    if (!(m.flags[i] & BLOCK_PARTIAL)) continue;
    body.writeUInt32BE(m.masks![i] >>> 0, at);
    at += 4;
  }
  sha256(body.subarray(0, at)).copy(body, at);

  const header = Buffer.alloc(META_HEADER_BYTES);
  header.writeUInt32BE(META_MAGIC, 0);
  header.writeUInt16BE(version, 4);
  header.writeUInt16BE(m.encrypted ? 1 : 0, 6);
  if (m.encrypted !== (keys !== undefined)) {
    throw new ReboundError('INTERNAL', 'metadata encryption flag and key disagree');
  }
  return Buffer.concat([header, keys ? seal(keys.dataKey, body, metadataAad(key)) : body]);
}

export function decodeMetadata(key: string, buf: Buffer, keys?: BackupKeys): Metadata {
  if (buf.length < META_HEADER_BYTES) throw corrupt(key, `metadata truncated (${buf.length} bytes)`);
  if (buf.readUInt32BE(0) !== META_MAGIC) throw corrupt(key, 'not a metadata object (bad magic)');
  const version = buf.readUInt16BE(4);
  if (version !== FORMAT_VERSION && version !== META_VERSION_GRAINS)
    throw corrupt(key, `metadata version ${version} unknown`);
  const encrypted = (buf.readUInt16BE(6) & 1) !== 0;
  let body: Buffer | undefined = buf.subarray(META_HEADER_BYTES);
  if (encrypted) {
    if (!keys) {
      throw new ReboundError(
        'INVALID_ARGUMENT',
        `metadata ${key} is encrypted: an encryption key is needed`,
        {
          detail: { key, field: 'encryptionKey' },
        },
      );
    }
    body = open(keys.dataKey, body, metadataAad(key));
    if (!body) throw corrupt(key, 'metadata fails authentication');
  }
  if (body.length < 32 + 4 + 32) throw corrupt(key, 'metadata truncated');
  const end = body.length - 32;
  if (!sha256(body.subarray(0, end)).equals(body.subarray(end)))
    throw corrupt(key, 'metadata fails its checksum');
  try {
    const blockSizeBytes = body.readUInt32BE(0);
    const n = body.readUInt32BE(12);
    const compression = CODEC_OF_BYTE[body.readUInt8(16)];
    if (compression === undefined) throw new RangeError(`codec ${body.readUInt8(16)} unknown`);
    const keyed = body.readUInt8(17) === 2;
    const objectCount = body.readUInt32BE(20);
    const segmentCount = body.readUInt32BE(24);
    const grainBytes = version === META_VERSION_GRAINS ? body.readUInt32BE(28) : 0;
    let at = 32;
    const bitmapLen = body.readUInt32BE(at);
    at += 4;
    if (at + bitmapLen > end) throw new RangeError('bitmap');
    const bitmap = BlockSet.decode(Buffer.from(body.subarray(at, at + bitmapLen)));
    at += bitmapLen;
    const objects: string[] = [];
    for (let i = 0; i < objectCount; i++) {
      const len = body.readUInt16BE(at);
      if (at + 2 + len > end) throw new RangeError('object key');
      objects.push(body.toString('utf8', at + 2, at + 2 + len));
      at += 2 + len;
    }
    const segments: Segment[] = [];
    for (let i = 0; i < segmentCount; i++, at += 16) {
      segments.push({
        object: body.readUInt32BE(at),
        offset: Number(body.readBigUInt64BE(at + 4)),
        count: body.readUInt32BE(at + 12),
      });
    }
    if (at + n * (5 + CHECKSUM_BYTES) > end) throw new RangeError('entries');
    const lengths = new Uint32Array(n);
    const flags = new Uint8Array(n);
    let partials = 0;
    for (let i = 0; i < n; i++, at += 5) {
      lengths[i] = body.readUInt32BE(at);
      flags[i] = body.readUInt8(at + 4);
      if (flags[i] & LAYOUT_FLAGS && version === FORMAT_VERSION)
        throw corrupt(key, `entry ${i} has flags ${flags[i]}, which version 1 metadata cannot have`);
      if (flags[i] & BLOCK_PARTIAL) partials++;
    }
    if (at + n * CHECKSUM_BYTES + partials * 4 !== end) throw new RangeError('entries');
    const checksums = Buffer.from(body.subarray(at, at + n * CHECKSUM_BYTES));
    at += n * CHECKSUM_BYTES;
    let masks: Uint32Array | undefined;
    if (partials > 0) {
      masks = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        if (!(flags[i] & BLOCK_PARTIAL)) continue;
        masks[i] = body.readUInt32BE(at);
        at += 4;
      }
    }
    const m: Metadata = {
      blockSizeBytes,
      bitmap,
      compression,
      keyed,
      encrypted,
      objects,
      segments,
      lengths,
      flags,
      checksums,
      ...(masks ? { grainBytes, masks } : {}),
    };
    checkMetadata(key, m);
    if (keyed !== (keys !== undefined)) {
      throw new ReboundError(
        'INVALID_ARGUMENT',
        `metadata ${key}: checksums are ${keyed ? 'keyed: a key is needed' : 'not keyed: no key expected'}`,
        { detail: { key, field: 'encryptionKey' } },
      );
    }
    return m;
  } catch (err) {
    if (err instanceof ReboundError) throw err;
    throw corrupt(key, `metadata malformed (${(err as Error).message})`);
  }
}

// ---------------------------------------------------------------------------------------
// Catalogs

export type BackupMethod = 'full' | 'incremental' | 'differential';

/** SPEC Fig. 13-14, plus what restore, verify and retention need. */
export interface Catalog {
  /** Backup ID of the generation (stable across revisions). */
  id: string;
  /** 0 when written by a backup; +1 for each retention merge. */
  revision: number;
  generation: number;
  method: BackupMethod;
  /** True when retention merged deleted ancestors into this generation. */
  merged: boolean;
  /** ISO time of the snapshot the generation was read from. */
  time: string;
  volumeName: string;
  serial: string;
  volumeNumber: number;
  /** The lineage: the backed-up volume's inherited unique ID, or its own. */
  uniqueId: string;
  usedBytes: number;
  sizeBytes: number;
  blockSizeBytes: number;
  metadataKey: string;
  /** Generation key of the parent (null for the first generation and for fulls). */
  parent: string | null;
  /** Backup IDs whose data objects the metadata refers to (retention's garbage collection). */
  dataIds: string[];
  blockCount: number;
  /** Bytes of block payloads in the data objects this generation wrote. */
  storedBytes: number;
  compression: Compression;
  encryption: { method: 'aes-256-gcm'; keyId: string } | null;
  /** Why a requested incremental or differential became a full. */
  reason?: string;
}

export function encodeCatalog(c: Catalog): Buffer {
  const json = Buffer.from(JSON.stringify(c), 'utf8');
  const header = Buffer.alloc(CATALOG_HEADER_BYTES);
  header.writeUInt32BE(CATALOG_MAGIC, 0);
  header.writeUInt16BE(FORMAT_VERSION, 4);
  header.writeUInt32BE(json.length, 8);
  const head = Buffer.concat([header, json]);
  return Buffer.concat([head, sha256(head)]);
}

const CATALOG_FIELDS: [keyof Catalog, string][] = [
  ['id', 'string'],
  ['revision', 'number'],
  ['generation', 'number'],
  ['method', 'string'],
  ['time', 'string'],
  ['volumeName', 'string'],
  ['serial', 'string'],
  ['volumeNumber', 'number'],
  ['uniqueId', 'string'],
  ['usedBytes', 'number'],
  ['sizeBytes', 'number'],
  ['blockSizeBytes', 'number'],
  ['metadataKey', 'string'],
  ['blockCount', 'number'],
  ['storedBytes', 'number'],
];

export function decodeCatalog(key: string, buf: Buffer): Catalog {
  if (buf.length < CATALOG_HEADER_BYTES + 32) throw corrupt(key, `catalog truncated (${buf.length} bytes)`);
  if (buf.readUInt32BE(0) !== CATALOG_MAGIC) throw corrupt(key, 'not a catalog (bad magic)');
  const version = buf.readUInt16BE(4);
  if (version !== FORMAT_VERSION) throw corrupt(key, `catalog version ${version} unknown`);
  const len = buf.readUInt32BE(8);
  if (buf.length !== CATALOG_HEADER_BYTES + len + 32) throw corrupt(key, 'catalog truncated or padded');
  const end = CATALOG_HEADER_BYTES + len;
  if (!sha256(buf.subarray(0, end)).equals(buf.subarray(end)))
    throw corrupt(key, 'catalog fails its checksum');
  let c: Catalog;
  try {
    c = JSON.parse(buf.toString('utf8', CATALOG_HEADER_BYTES, end));
  } catch {
    throw corrupt(key, 'catalog body is not JSON');
  }
  for (const [field, type] of CATALOG_FIELDS) {
    if (typeof c[field] !== type) throw corrupt(key, `catalog field ${field} missing or not a ${type}`);
  }
  if (!(c.parent === null || typeof c.parent === 'string')) throw corrupt(key, 'catalog parent malformed');
  if (!Array.isArray(c.dataIds)) throw corrupt(key, 'catalog dataIds malformed');
  if (!['full', 'incremental', 'differential'].includes(c.method))
    throw corrupt(key, `method ${c.method} unknown`);
  return c;
}
