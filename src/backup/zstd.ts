/**
 * The zstd codec of backup blocks (docs/formats/backup.md, "Codecs"): one zstd frame per
 * block, level 1, through zstd-napi's thin binding (libzstd compiled from the package's
 * bundled sources at install). Node 20's zlib has no zstd.
 *
 * Why this binding and these calls: a 64 KiB block is small, so per-call overhead
 * matters. The binding's contexts are reused for every block of a thread (a codec pool
 * worker, or the main thread for inline jobs), and both directions write into caller
 * buffers: compression into one scratch buffer per thread, decompression straight into
 * the block's place in the restore's output. Everything is synchronous: the codec pool's
 * workers are the parallelism.
 */
import zstd from 'zstd-napi/binding.js';

/** zstd level of the writer: its "fast default" (level 1; measured in the format doc). */
export const ZSTD_LEVEL = 1;

/** Per-thread state (module state is per worker thread). */
let cctx: InstanceType<typeof zstd.CCtx> | undefined;
let dctx: InstanceType<typeof zstd.DCtx> | undefined;
let scratch: Buffer | undefined;

/**
 * Compress `plain` to a zstd frame. The result is a view of a per-thread scratch buffer,
 * valid until the next call on this thread: copy it before compressing again.
 */
export function zstdCompressScratch(plain: Uint8Array): Buffer {
  cctx ??= new zstd.CCtx();
  const bound = zstd.compressBound(plain.length);
  if (!scratch || scratch.length < bound) scratch = Buffer.allocUnsafeSlow(bound);
  const n = cctx.compress(scratch, plain, ZSTD_LEVEL);
  return scratch.subarray(0, n);
}

/**
 * Decompress the zstd frame(s) in `frame` into `dst`; returns the bytes written. Throws
 * (zstd's message) on a damaged frame or when the content would not fit in `dst`, so a
 * frame can never write past the block it belongs to.
 */
export function zstdDecompressInto(dst: Uint8Array, frame: Uint8Array): number {
  dctx ??= new zstd.DCtx();
  return dctx.decompress(dst, frame);
}
