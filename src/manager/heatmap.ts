/**
 * An update bitmap as a heat map: the address space cut into `buckets` equal slices and
 * the changed blocks counted in each, so the console draws where a volume changed (since
 * failover, since the last backup) from a few hundred numbers instead of the bitmap,
 * which for a large volume is megabytes. Pure: a BlockSet in, counts out.
 */
import type { BlockSet } from '../block/block-set.js';

export interface Buckets {
  blocksPerBucket: number;
  /** Changed blocks per slice; the last slice may be shorter than the others. */
  counts: number[];
}

export function bucketBlocks(set: BlockSet, buckets: number): Buckets {
  const total = set.sizeBlocks;
  if (total === 0) return { blocksPerBucket: 0, counts: [] };
  const per = Math.ceil(total / Math.max(1, Math.min(buckets, total)));
  const counts = new Array<number>(Math.ceil(total / per)).fill(0);
  // Runs, not bits: a sparse set is scanned a byte at a time and a long run split in a few steps.
  for (const run of set.runs()) {
    let b = run.start;
    const end = run.start + run.count;
    while (b < end) {
      const i = Math.floor(b / per);
      const stop = Math.min(end, (i + 1) * per);
      counts[i] += stop - b;
      b = stop;
    }
  }
  return { blocksPerBucket: per, counts };
}
