/**
 * Local copy into a virtual volume (SPEC Failback, method 2, S704-S706): the blocks of a
 * volume's frozen update bitmap (IDs equal) or every block (IDs differ) copied with the
 * copy engine from the volume into an attached virtual volume (external.ts), then
 * flushed. It runs as a node task; running it again is safe (copying is idempotent, and
 * the freeze merges into the frozen bitmap a first run made, so no block is forgotten).
 *
 *   freeze `freezeFrom` into `bitmap` (replication/freeze.ts, the pairs' freeze)
 *   mode by-id (S704, the variant of Fig. 27-28): the volume's inherited unique ID
 *     against the one the primary itself gives for the export -> delta or full
 *   delta (S705): the bitmap's blocks; full (S706): every block
 *   copyBlocks(volume -> virtual volume), zeros written as zeros, flushed at the end
 */
import { BlockSet, copyBlocks, SCATTERED_FLUSH_BYTES } from '../block/index.js';
import { ReboundError } from '../errors.js';
import type { Storage } from '../volume/index.js';
import type { ExternalVolumes } from './external.js';
import { freezeInto } from './freeze.js';
import { COPY_BATCHES, COPY_CONCURRENCY } from './target.js';

export interface LocalCopyRequest {
  volume: string;
  /** The attached virtual volume to copy into. */
  external: string;
  /** delta: the frozen bitmap's blocks; full: every block; by-id: decided by the unique IDs. */
  mode: 'delta' | 'full' | 'by-id';
  /** The frozen bitmap (made, or merged into, from `freezeFrom`). */
  bitmap: string;
  /** The active bitmap frozen into `bitmap` first (the since-restore bitmap of S211). */
  freezeFrom: string;
}

export interface LocalCopyResult {
  mode: 'delta' | 'full';
  /** by-id: why the mode was chosen. */
  why: string | null;
  /** The lineage the volume carries (its inherited unique ID, else its own). */
  sourceId: string;
  /** What the primary says its volume's ID is (null when it said nothing). */
  destinationId: string | null;
  /** In units of the copy: the volume's grain for a delta (BitmapInfo.grainBytes), its block for a full copy. */
  blocksToCopy: number;
  blocksCopied: number;
  /** The unit of blocksToCopy and blocksCopied, in bytes. */
  blockBytes: number;
  bytesCopied: number;
  bytesZeroed: number;
}

export async function localCopy(
  storage: Storage,
  externals: ExternalVolumes,
  req: LocalCopyRequest,
  options: {
    signal?: AbortSignal;
    concurrency?: number;
    onProgress?: (bytesDone: number, bytesTotal: number, rateBytesPerSec: number) => void;
  } = {},
): Promise<LocalCopyResult> {
  const vol = storage.getVolume(req.volume);
  const source = storage.device(req.volume);
  const view = externals.get(req.external);
  const dest = await externals.device(req.external);
  if (dest.sizeBytes < source.sizeBytes)
    throw new ReboundError(
      'INVALID_ARGUMENT',
      `virtual volume ${req.external} has ${dest.sizeBytes} bytes, less than volume ${req.volume} (${source.sizeBytes})`,
      { detail: { field: 'external' } },
    );
  await freezeInto(storage, req.volume, req.freezeFrom, req.bitmap, `copy.${req.bitmap}`);

  const sourceId = vol.inheritedUniqueId ?? vol.uniqueId;
  const destinationId = view.uniqueId;
  let mode: 'delta' | 'full' = req.mode === 'full' ? 'full' : 'delta';
  let why: string | null = null;
  if (req.mode === 'by-id') {
    // S704 (Fig. 27-28): the destination's ID as the primary itself reports it.
    if (destinationId === sourceId)
      why = `the primary reports ${destinationId}, the lineage of ${req.volume}`;
    else {
      mode = 'full';
      why =
        destinationId === null
          ? 'the primary gave no unique ID for its export'
          : `the primary reports ${destinationId}, not ${sourceId}`;
    }
  }
  // A delta copies the grains hosts wrote (4 KiB of a 64 KiB block), a full copy blocks.
  let blocks: BlockSet;
  let unitBytes = source.blockSizeBytes;
  if (mode === 'full') {
    const sizeBlocks = Math.ceil(source.sizeBytes / unitBytes);
    blocks = new BlockSet(sizeBlocks); // S706
    blocks.addRange(0, sizeBlocks);
  } else {
    ({ set: blocks, unitBytes } = storage.getBitmapGrainSet(req.volume, req.bitmap)); // S705
    const sizeUnits = Math.ceil(source.sizeBytes / unitBytes);
    if (blocks.sizeBlocks > sizeUnits) blocks.resize(sizeUnits);
  }
  const r = await copyBlocks({
    source,
    dest,
    blocks,
    blockSizeBytes: unitBytes,
    zeroes: 'write',
    concurrency: options.concurrency ?? COPY_CONCURRENCY,
    maxBatchesInFlight: COPY_BATCHES,
    flushEveryBytes: SCATTERED_FLUSH_BYTES,
    // A delta's verify compares its grains: hashed here as they are read (hash-memo.ts).
    keepSourceHashes: mode === 'delta',
    signal: options.signal,
    progressIntervalMs: 200,
    onProgress: (p) => options.onProgress?.(p.bytesDone, p.bytesTotal, p.rateBytesPerSec),
  });
  return {
    mode,
    why,
    sourceId,
    destinationId,
    blocksToCopy: blocks.count(),
    blocksCopied: r.blocksDone,
    blockBytes: unitBytes,
    bytesCopied: r.bytesCopied,
    bytesZeroed: r.bytesZeroed,
  };
}
