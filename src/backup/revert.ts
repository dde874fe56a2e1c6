/**
 * Consistency assurance (SPEC Fig. 20, S301-S303) on the primary after a failover: stop
 * host I/O, take and keep a snapshot of what the primary held, and bring the volume back
 * to the generation the secondary was restored from, so that a delta failback (which
 * sends only the blocks the secondary changed) leaves the primary identical to the
 * secondary.
 *
 * Which blocks to rewrite: the primary's own incremental backup bitmap for this store
 * records every block written since its newest generation. When that generation is the
 * restore base, those blocks are exactly the drift, and only they are rewritten from the
 * base image. Otherwise (the volume was backed up again after the base, or the bitmap is
 * gone) the drift cannot be known and every block is rewritten; the result says which
 * and why. Repeating it is harmless: the fence and snapshot are kept, the blocks rewritten
 * again to the same contents.
 */
import { BlockSet } from '../block/block-set.js';
import { type CopyProgress, copyBlocks } from '../block/copy-engine.js';
import type { ObjectStore } from '../objectstore/types.js';
import type { Storage } from '../volume/types.js';
import { BackupImageDevice } from './image-device.js';
import { backupBitmaps, storeTagOf } from './writer.js';

export interface RevertOptions {
  encryptionKey?: Buffer;
  /**
   * The snapshot kept of the drifted primary (S302). The manager names it for its job
   * (before-failback-<job>), so a second failover keeps its own drift rather than finding
   * the first one's snapshot and keeping nothing. Default `before-failback`.
   */
  snapshot?: string;
  onProgress?: (progress: CopyProgress) => void;
  signal?: AbortSignal;
}

export interface RevertResult {
  volume: string;
  generationKey: string;
  snapshot: string;
  /** delta: only the drifted blocks were rewritten; full: every block. */
  mode: 'delta' | 'full';
  reason?: string;
  blocks: number;
  bytesWritten: number;
}

export async function revertToGeneration(
  storage: Storage,
  volume: string,
  store: ObjectStore,
  key: string,
  options: RevertOptions = {},
): Promise<RevertResult> {
  const snapshot = options.snapshot ?? 'before-failback';
  // S301: no host I/O from here on (waits for requests in flight).
  await storage.fence(volume);
  // S302: keep what the primary held, drift included.
  if (!storage.listSnapshots(volume).some((s) => s.name === snapshot))
    await storage.createSnapshot(volume, snapshot);

  // S303.
  const image = await BackupImageDevice.open(store, key, { encryptionKey: options.encryptionKey });
  const bs = image.blockSizeBytes;
  const info = storage.getVolume(volume);
  const count = Math.ceil(info.sizeBytes / bs);
  const inc = backupBitmaps(storage, volume, store, storeTagOf(store)).incremental;
  let blocks: BlockSet;
  let mode: RevertResult['mode'] = 'delta';
  let reason: string | undefined;
  if (inc?.endsWith(`.${image.catalog.id}`) && info.sizeBytes === image.sizeBytes) {
    blocks = storage.getBitmap(volume, inc);
  } else {
    mode = 'full';
    reason = inc
      ? 'the volume was backed up again after this generation: its drift since it is not recorded'
      : 'the volume has no backup bitmap for this store: its drift is not recorded';
    blocks = new BlockSet(count);
    blocks.addRange(0, count);
  }
  const result = await copyBlocks({
    source: image,
    dest: storage.device(volume),
    blocks,
    zeroes: 'write',
    concurrency: 8,
    maxIoBytes: 8 * 1024 * 1024,
    mergeHoleBytes: 8 * 1024 * 1024,
    onProgress: options.onProgress,
    signal: options.signal,
  });
  await storage.device(volume).flush();
  return {
    volume,
    generationKey: key,
    snapshot,
    mode,
    ...(reason ? { reason } : {}),
    blocks: blocks.count(),
    bytesWritten: result.bytesCopied + result.bytesZeroed,
  };
}
