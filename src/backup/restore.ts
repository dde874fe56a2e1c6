/**
 * Restore (SPEC Fig. 17, S201-S211; DESIGN.md data path "Restore"): the copy engine
 * from a generation's BackupImageDevice to a volume.
 *
 *   S201-S204  resolve the chain (catalogs, parent pointers) and load every metadata
 *   S205-S208  plan: each block from the newest generation holding it, read once, ranged
 *              gets in parallel, verified before it is written; blocks no generation
 *              holds are zeros (written as zeroes into an existing volume, skipped in a
 *              new one)
 *   S209-S210  the destination inherits the source's unique ID
 *   S211       an update bitmap (`since-restore`) starts at that instant
 *
 * The three stages overlap: the copy engine keeps `concurrency` chunks in flight, each
 * fetching (ranged gets), decoding (the codec pool's workers) and writing; the
 * destination is flushed in the background every `flushEveryBytes`, so the final flush
 * is short; read buffers go back to the image once written (copy engine `recycle`).
 *
 * Writes are hinted `direct`: the image's read buffers are aligned memory, and a volume
 * writes them to its drives with O_DIRECT, past the page cache. Nobody reads a restored
 * volume's blocks back soon, and copying them into the cache (most dearly into memory a
 * VM had not touched yet) and spinning on the drive file's inode lock while writers
 * queued for it took more CPU than decoding and hashing them (bench/backup.ts, 4 GiB:
 * 21.7 CPU seconds, 7.9 with direct writes). Only runs of DIRECT_MIN_BYTES and more: a
 * scattered apply (a failback through the object store) stays buffered, where a direct
 * write per 4 KiB block would wait on the disk each time.
 *
 * Scattered blocks (a delta: onlyNewest) go in the copy engine's batches: many chunks
 * read with one readDataRanges, decoded in one codec job per fetch window.
 *
 * A block failing its checksum fails the read (or batch) it belongs to: the copy engine
 * writes nothing of it, and the restore rejects with BACKUP_OBJECT_CORRUPT naming the
 * object. The destination then holds a partial restore; it gets no inherited ID and no
 * bitmap, so nothing mistakes it for a finished one.
 */
import { BlockSet } from '../block/block-set.js';
import { type CopyProgress, copyBlocks } from '../block/copy-engine.js';
import type { BlockDevice } from '../block/device.js';
import { flushAlong, SCATTERED_FLUSH_BYTES } from '../block/flush-along.js';
import { fullMask, grainRuns, popcount32 } from '../block/grain-masks.js';
import { ReboundError } from '../errors.js';
import type { ObjectStore } from '../objectstore/types.js';
import type { Storage, VolumeInfo } from '../volume/types.js';
import { BackupImageDevice } from './image-device.js';

export interface RestoreOptions {
  /** Destination volume; default: the source volume's name (from the catalog). */
  volume?: string;
  /**
   * What to do when the destination exists: 'fail' (default, ALREADY_EXISTS) or
   * 'overwrite' (it is grown when smaller; every block is written, zeros included).
   * Hosts must not write to it meanwhile (fence it).
   */
  existing?: 'fail' | 'overwrite';
  encryptionKey?: Buffer;
  /** Reads in flight. Default 8. */
  concurrency?: number;
  /** Read/write size (blocks merged). Default 8 MiB. */
  maxIoBytes?: number;
  /**
   * Apply only the blocks the newest generation of the chain holds (SPEC S903 on a
   * failback through the object store): right only when the destination already sits at
   * that generation's parent, which the caller has made sure of. Needs an existing volume.
   */
  onlyNewest?: boolean;
  /**
   * Start a flush of the destination (in the background, one at a time) each time this
   * many bytes of blocks were written since the last one, so that the drives write back
   * while later blocks are fetched and decoded. Default 128 MiB, and SCATTERED_FLUSH_BYTES
   * (block/flush-along.ts) for a delta (onlyNewest); 0: only the final flush.
   */
  flushEveryBytes?: number;
  /** Write at most this many bytes per second into the destination (the node's restore rate). */
  maxBytesPerSec?: number;
  /** Name of the update bitmap started at the end (S211). Default 'since-restore'. */
  bitmapName?: string;
  onProgress?: (progress: CopyProgress) => void;
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

export interface RestoreResult {
  volume: VolumeInfo;
  generationKey: string;
  generation: number;
  /** Generations the chain has, oldest first (generation keys). */
  chain: string[];
  bitmap: string;
  bytesCopied: number;
  bytesZeroed: number;
  /** Ranged gets issued and bytes fetched from the store. */
  fetches: number;
  bytesFetched: number;
  elapsedMs: number;
  rateBytesPerSec: number;
}

export async function restoreGeneration(
  storage: Storage,
  store: ObjectStore,
  key: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const started = Date.now();
  // Aligned read buffers: the volume writes them with direct I/O (copy engine `direct`).
  const image = await BackupImageDevice.open(store, key, {
    encryptionKey: options.encryptionKey,
    alignedReads: true,
    // A delta: its ancestors' metadata (a full's is 37 bytes a block) is not needed.
    newestOnly: options.onlyNewest,
  });
  const catalog = image.catalog;
  const name = options.volume ?? catalog.volumeName;
  const bitmapName = options.bitmapName ?? 'since-restore';

  let exists = true;
  try {
    storage.getVolume(name);
  } catch (err) {
    if (!(err instanceof ReboundError && err.code === 'NOT_FOUND')) throw err;
    exists = false;
  }
  if (exists && (options.existing ?? 'fail') !== 'overwrite') {
    throw new ReboundError(
      'ALREADY_EXISTS',
      `volume ${name} exists; restore into it with existing: 'overwrite'`,
      {
        detail: { field: 'volume', volume: name },
      },
    );
  }
  let info = exists
    ? storage.getVolume(name)
    : await storage.createVolume(name, roundUp512(catalog.sizeBytes));
  if (info.sizeBytes < catalog.sizeBytes)
    info = await storage.growVolume(name, roundUp512(catalog.sizeBytes));
  const dest = storage.device(name);

  // S205-S208. A new volume reads zeros everywhere: copy only the blocks some generation
  // holds. An existing one gets every block of the source's size, zeros included, and
  // zeros past it, so it reads exactly like the source.
  const bs = image.blockSizeBytes;
  const maxIoBytes = options.maxIoBytes ?? 8 * 1024 * 1024;
  // A new volume: the held blocks, with gaps shorter than an I/O filled in so that chunks
  // stay whole (the image reports the gaps as holes, and those are skipped, not written).
  if (options.onlyNewest && !exists)
    throw new ReboundError('INVALID_ARGUMENT', `onlyNewest applies a delta: volume ${name} must exist`, {
      detail: { field: 'volume' },
    });
  // A delta's partial entries hold some grains of their blocks: those blocks are not
  // copied whole (the rest of them is the destination's own), their grains are written
  // after the copy (writePartialBlocks).
  const partial = options.onlyNewest ? image.partialBlocks() : new Map<number, number>();
  const blocks = options.onlyNewest
    ? withoutBlocks(image.plan.chain[image.plan.chain.length - 1].meta.bitmap, partial.keys())
    : exists
      ? fullSet(image.sizeBytes, bs)
      : bridged(image.plan.held, Math.max(1, Math.floor(maxIoBytes / bs)));
  const flushEvery =
    options.flushEveryBytes ?? (options.onlyNewest ? SCATTERED_FLUSH_BYTES : 128 * 1024 * 1024);
  const result = await copyBlocks({
    source: image,
    dest,
    blocks,
    zeroes: exists ? 'write' : 'skip',
    concurrency: options.concurrency ?? 8,
    maxIoBytes,
    // The image reads holes for free: one read (a few ranged gets) per chunk.
    mergeHoleBytes: maxIoBytes,
    onProgress: options.onProgress,
    progressIntervalMs: options.progressIntervalMs,
    // Flushing as the restore goes overlaps the drives' write-back (buffered writes: a
    // volume on tmpfs, a partial last block) and the metadata commits with the fetching
    // and decoding of later blocks.
    flushEveryBytes: flushEvery,
    recycle: (data) => image.recycle(data),
    // Nobody reads a restore's blocks back soon: they go to the drives once, not through
    // the page cache (copied in, written back later, the node's cache flooded).
    direct: true,
    maxBytesPerSec: options.maxBytesPerSec,
    signal: options.signal,
  });
  result.bytesCopied += await writePartialBlocks(image, dest, partial, flushEvery, options.signal);
  if (exists && info.sizeBytes > image.sizeBytes) {
    await dest.writeZeroes(image.sizeBytes, info.sizeBytes - image.sizeBytes);
    await dest.flush();
  }

  // S209-S210: inherit the source's unique ID (none when it is this very volume).
  info = await storage.setInheritedUniqueId(
    name,
    catalog.uniqueId === info.uniqueId ? null : catalog.uniqueId,
  );
  // S211: from this instant every write is marked.
  if (info.bitmaps.includes(bitmapName)) await storage.deleteBitmap(name, bitmapName);
  await storage.createBitmap(name, bitmapName);
  info = storage.getVolume(name);

  const elapsedMs = Date.now() - started;
  return {
    volume: info,
    generationKey: image.generationKey,
    generation: catalog.generation,
    chain: image.plan.chainKeys,
    bitmap: bitmapName,
    bytesCopied: result.bytesCopied,
    bytesZeroed: result.bytesZeroed,
    fetches: image.stats.fetches,
    bytesFetched: image.stats.bytesFetched,
    elapsedMs,
    rateBytesPerSec: elapsedMs > 0 ? Math.round((result.bytesDone * 1000) / elapsedMs) : 0,
  };
}

/** `set` without `blocks`. */
function withoutBlocks(set: BlockSet, blocks: Iterable<number>): BlockSet {
  const out = set.clone();
  for (const b of blocks) out.delete(b);
  return out;
}

/** Partly held blocks read together (one codec job per fetch window). */
const PARTIAL_BATCH_BLOCKS = 256;

/**
 * Write the grains of partly held blocks (block -> grains) from the image into `dest`,
 * grain run by grain run, a few batches at once, and flush; returns the bytes written.
 * The grains come packed, as the delta stores them (readPartialGrains): no block around
 * them is decoded or assembled. A flush starts in the background each `flushEvery`
 * bytes (one at a time), so the last one finds little left to write back.
 */
async function writePartialBlocks(
  image: BackupImageDevice,
  dest: BlockDevice,
  partial: Map<number, number>,
  flushEvery: number,
  signal: AbortSignal | undefined,
): Promise<number> {
  if (partial.size === 0) return 0;
  const bs = image.blockSizeBytes;
  const grain = image.plan.grainBytes;
  const blocks = [...partial.keys()].sort((x, y) => x - y);
  let next = 0;
  let written = 0;
  let flushFailed: { error: unknown } | undefined;
  const flushes = flushAlong(dest, flushEvery, (error) => {
    flushFailed ??= { error };
  });
  const worker = async () => {
    while (next < blocks.length) {
      signal?.throwIfAborted();
      if (flushFailed) throw flushFailed.error;
      const batch = blocks.slice(next, next + PARTIAL_BATCH_BLOCKS);
      next += batch.length;
      const { data, at, masks } = await image.readPartialGrains(batch);
      const writes: Promise<void>[] = [];
      let batchBytes = 0;
      batch.forEach((b, i) => {
        const start = b * bs;
        const length = Math.min(bs, image.sizeBytes - start);
        grainRuns(partial.get(b)!, (g0, g1) => {
          // The device's last block may end inside a grain run.
          const from = g0 * grain;
          const to = Math.min(g1 * grain, length);
          if (to <= from) return;
          if (at[i] < 0) writes.push(dest.writeZeroes(start + from, to - from));
          else {
            // Grain g of the entry is its k-th packed grain, k = the mask's grains below g
            // (mask 0: a whole entry, every grain).
            const k = masks[i] === 0 ? g0 : popcount32(masks[i] & fullMask(g0));
            const p = at[i] + k * grain;
            writes.push(dest.write(start + from, data.subarray(p, p + to - from)));
          }
          written += to - from;
          batchBytes += to - from;
        });
      });
      const settled = await Promise.allSettled(writes);
      image.recycle(data); // every write has ended: the next batch may read into it
      for (const s of settled) if (s.status === 'rejected') throw s.reason;
      flushes.wrote(batchBytes);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  await flushes.idle();
  if (flushFailed) throw flushFailed.error;
  await dest.flush();
  return written;
}

function roundUp512(n: number): number {
  return Math.ceil(n / 512) * 512;
}

function fullSet(sizeBytes: number, blockSizeBytes: number): BlockSet {
  const n = Math.ceil(sizeBytes / blockSizeBytes);
  const s = new BlockSet(n);
  s.addRange(0, n);
  return s;
}

/** `set` with every gap of at most `maxGap` blocks between two runs filled in. */
function bridged(set: BlockSet, maxGap: number): BlockSet {
  const out = new BlockSet(set.sizeBlocks);
  let start = -1;
  let end = -1;
  for (const run of set.runs()) {
    if (start >= 0 && run.start - end <= maxGap) end = run.start + run.count;
    else {
      if (start >= 0) out.addRange(start, end - start);
      start = run.start;
      end = run.start + run.count;
    }
  }
  if (start >= 0) out.addRange(start, end - start);
  return out;
}
