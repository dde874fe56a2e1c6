/**
 * The codec pool's jobs (codec-pool.ts), as pure functions: run in a worker thread, or
 * inline when the pool has no workers. One job covers many blocks so that the cost of a
 * message (and of a zlib call's setup) is paid per chunk, not per block.
 *
 *   encode  a chunk of consecutive blocks -> per block flags, stored length, checksum;
 *           the stored payloads back to back in one buffer
 *   decode  payloads fetched back to back (one ranged get) -> the plaintext blocks back
 *           to back, each checked (authentication, length, checksum); the first failure
 *           is the job's error and no output is returned (a zstd block is decompressed in
 *           place, so a failed job's `out` holds junk: the caller drops it)
 *
 * Buffers travel as plain ArrayBuffers (transferred, not copied); keys as bytes.
 */
import { ReboundError } from '../errors.js';
import { type BackupKeys, CHECKSUM_BYTES } from './crypto.js';
import { type Compression, decodeBlock, encodeBlockSync, maxStoredBytes } from './format.js';

export interface JobKeys {
  keyId: string;
  dataKey: Uint8Array;
  checksumKey: Uint8Array;
}

export interface EncodeJob {
  op: 'encode';
  /**
   * Blocks of `blockSizeBytes`, back to back, in one or more pieces of whole blocks (each
   * a view of shared memory, or a transferred buffer).
   */
  data: (ArrayBuffer | Uint8Array)[];
  blockSizeBytes: number;
  /** The address of each block, pieces in order (encryption binds a payload to it). */
  blocks: Float64Array;
  /**
   * Plaintext bytes of each block where it is not a whole block (a partial entry: the
   * grains it holds, packed). Default: blockSizeBytes each.
   */
  sizes?: Uint32Array;
  compression: Compression;
  keys?: JobKeys;
  uniqueId: string;
  /**
   * Where to put the stored payloads back to back (a view of shared memory of at least
   * blocks.length * maxStoredBytes). Without it, the result's `stored` holds them.
   */
  out?: Uint8Array;
}

export interface EncodeResult {
  flags: Uint8Array;
  lengths: Uint32Array;
  checksums: Uint8Array;
  /** Stored payloads back to back (zero blocks have none); empty when the job had `out`. */
  stored: Uint8Array;
}

export interface DecodeJob {
  op: 'decode';
  /** The fetched bytes (a view of shared memory, or transferred). */
  data: ArrayBuffer | Uint8Array;
  blockSizeBytes: number;
  /** Per block: address, offset of its payload in `data`, stored length, flags. */
  blocks: Float64Array;
  offsets: Float64Array;
  lengths: Uint32Array;
  flags: Uint8Array;
  /** CHECKSUM_BYTES per block. */
  checksums: Uint8Array;
  /** Plaintext bytes of each block (a partial entry's grains). Default: blockSizeBytes each. */
  plainLengths?: Uint32Array;
  keys?: JobKeys;
  uniqueId: string;
  /** Object key, for errors. */
  where: string;
  /**
   * Where to put the plaintext (a view of shared memory): block i goes to
   * out[outOffsets[i], + its plain length), clipped to out. Without it, `plain` holds
   * them back to back.
   */
  out?: Uint8Array;
  outOffsets?: Float64Array;
}

export interface DecodeResult {
  /** blocks.length plaintext blocks back to back (empty when the job had `out`). */
  plain: Uint8Array;
}

/** A test job: the worker exits (code) or throws (message). */
export interface FailJob {
  op: 'fail';
  exit?: number;
}

export type Job = EncodeJob | DecodeJob | FailJob;

/** An error as it crosses the thread boundary. */
export interface JobError {
  code?: string;
  message: string;
  detail?: Record<string, unknown>;
}

export function toJobKeys(keys: BackupKeys | undefined): JobKeys | undefined {
  return keys && { keyId: keys.keyId, dataKey: keys.dataKey, checksumKey: keys.checksumKey };
}

function fromJobKeys(keys: JobKeys | undefined): BackupKeys | undefined {
  return (
    keys && {
      keyId: keys.keyId,
      dataKey: Buffer.from(keys.dataKey),
      checksumKey: Buffer.from(keys.checksumKey),
    }
  );
}

function view(b: ArrayBuffer | Uint8Array): Buffer {
  return b instanceof Uint8Array ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : Buffer.from(b);
}

export function runEncode(job: EncodeJob): EncodeResult {
  const bs = job.blockSizeBytes;
  const count = job.blocks.length;
  const sizeOf = (i: number) => job.sizes?.[i] ?? bs;
  const pieces = job.data.map(view);
  const keys = fromJobKeys(job.keys);
  const flags = new Uint8Array(count);
  const lengths = new Uint32Array(count);
  const checksums = new Uint8Array(count * CHECKSUM_BYTES);
  const out = job.out;
  let need = 0;
  for (let i = 0; i < count; i++) need += maxStoredBytes(sizeOf(i), keys !== undefined);
  if (out && out.length < need) {
    throw new Error(`encode: output of ${out.length} bytes for ${count} blocks`);
  }
  const parts: Buffer[] = [];
  let total = 0;
  let piece = 0;
  let inPiece = 0;
  for (let i = 0; i < count; i++) {
    const size = sizeOf(i);
    while (piece < pieces.length && inPiece + size > pieces[piece].length) {
      piece++;
      inPiece = 0;
    }
    if (piece >= pieces.length) throw new Error(`encode: too little data for ${count} blocks`);
    const enc = encodeBlockSync(pieces[piece].subarray(inPiece, inPiece + size), job.blocks[i], {
      compression: job.compression,
      keys,
      uniqueId: job.uniqueId,
    });
    inPiece += size;
    flags[i] = enc.flags;
    lengths[i] = enc.stored.length;
    checksums.set(enc.checksum, i * CHECKSUM_BYTES);
    if (out) out.set(enc.stored, total);
    else parts.push(enc.stored);
    total += enc.stored.length;
  }
  if (out) return { flags, lengths, checksums, stored: new Uint8Array(0) };
  // One buffer of its own (never a slice of Node's pool): it is transferred back.
  const stored = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    stored.set(p, at);
    at += p.length;
  }
  return { flags, lengths, checksums, stored };
}

export function runDecode(job: DecodeJob): DecodeResult {
  const bs = job.blockSizeBytes;
  const data = view(job.data);
  const keys = fromJobKeys(job.keys);
  const n = job.blocks.length;
  const { out, outOffsets } = job;
  const sizeOf = (i: number) => job.plainLengths?.[i] ?? bs;
  let plainTotal = 0;
  const plainAt = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    plainAt[i] = plainTotal;
    plainTotal += sizeOf(i);
  }
  const plain = new Uint8Array(out ? 0 : plainTotal);
  const sums = view(job.checksums);
  for (let i = 0; i < n; i++) {
    const size = sizeOf(i);
    const at = job.offsets[i];
    const len = job.lengths[i];
    if (at < 0 || at + len > data.length) {
      throw new ReboundError(
        'BACKUP_OBJECT_CORRUPT',
        `backup object ${job.where}: block ${job.blocks[i]} lies outside the bytes fetched`,
        { detail: { key: job.where, block: job.blocks[i] } },
      );
    }
    // decodeBlock checks authentication, length and checksum before returning anything.
    // A zstd block is decompressed straight into its place in the output when it lies
    // wholly inside it (no copy); if it then fails, the job fails and its output is not used.
    const dst = out && outOffsets ? outOffsets[i] : plainAt[i];
    const target = out && outOffsets ? out : plain;
    const inPlace = dst >= 0 && dst + size <= target.length;
    const into = inPlace ? Buffer.from(target.buffer, target.byteOffset + dst, size) : undefined;
    const block = decodeBlock(
      data.subarray(at, at + len),
      job.flags[i],
      sums.subarray(i * CHECKSUM_BYTES, (i + 1) * CHECKSUM_BYTES),
      { blockSizeBytes: size, keys, uniqueId: job.uniqueId, block: job.blocks[i], where: job.where, into },
    );
    if (block.buffer === target.buffer && block.byteOffset === target.byteOffset + dst) continue;
    const from = Math.max(0, -dst);
    const to = Math.min(size, target.length - dst);
    if (to > from) target.set(block.subarray(from, to), dst + from);
  }
  return { plain };
}

export function runJob(job: Job): EncodeResult | DecodeResult {
  if (job.op === 'encode') return runEncode(job);
  if (job.op === 'decode') return runDecode(job);
  if (job.exit !== undefined) process.exit(job.exit);
  throw new Error('codec job failed on request');
}

/** The ArrayBuffers of a result, to transfer. */
export function transferList(r: EncodeResult | DecodeResult): ArrayBuffer[] {
  if ('plain' in r) return [r.plain.buffer as ArrayBuffer];
  return [r.flags.buffer, r.lengths.buffer, r.checksums.buffer, r.stored.buffer] as ArrayBuffer[];
}

export function toJobError(err: unknown): JobError {
  if (err instanceof ReboundError) return { code: err.code, message: err.message, detail: err.detail };
  return { message: err instanceof Error ? err.message : String(err) };
}

export function fromJobError(e: JobError): ReboundError {
  if (e.code === 'BACKUP_OBJECT_CORRUPT' || e.code === 'INVALID_ARGUMENT') {
    return new ReboundError(e.code, e.message, { detail: e.detail });
  }
  return new ReboundError('INTERNAL', `backup codec: ${e.message}`, { detail: e.detail });
}
