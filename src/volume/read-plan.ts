/**
 * Where the bytes of a list of volume ranges are on the drives: the plan a read worker
 * follows (read-worker.ts), for hashes (failback verify) or for the bytes themselves
 * (a copy's batch of scattered blocks). Each range covers one or more pool blocks (or
 * part of one); each piece is a segment on a drive, or zeros for an unmapped block.
 * Adjacent pieces of one range on one drive merge, so a 64 KiB hash block over 4 KiB pool
 * blocks written in order is one read.
 */
import { grainBytesOf } from '../block/grain-masks.js';
import type { Pool } from '../pool/index.js';
import { eachSource, type MappingTable } from './mapping.js';

export interface ReadPlan {
  /** The drives' file descriptors, by drive index. */
  fds: number[];
  /** Bytes of each range. */
  lengths: Uint32Array;
  /** Segments of range i: segs[segStart[i] .. segStart[i + 1]). */
  segStart: Uint32Array;
  /** Triples: drive index (-1: zeros), byte position on the drive, length. */
  segs: Float64Array;
}

/** The plan of ranges [offsets[i], +lengths[i]) of a volume (the caller checked them). */
export function planReads(
  pool: Pool,
  table: MappingTable,
  offsets: ArrayLike<number>,
  lengths: ArrayLike<number>,
): ReadPlan {
  const bs = pool.blockSizeBytes;
  const grain = grainBytesOf(bs);
  const drives = pool.drives;
  const n = offsets.length;
  const segStart = new Uint32Array(n + 1);
  let segs = new Float64Array(Math.max(3, n * 3)); // one segment per range, grown when pieces do not merge
  let m = 0;
  let cur = 0; // the range being planned: segments never merge across two
  const push = (drive: number, position: number, length: number) => {
    const p = (m - 1) * 3;
    if (
      m > 0 &&
      m > segStart[cur] &&
      segs[p] === drive &&
      (drive < 0 || segs[p + 1] + segs[p + 2] === position)
    ) {
      segs[p + 2] += length;
      return;
    }
    if ((m + 1) * 3 > segs.length) {
      const grown = new Float64Array(segs.length * 2);
      grown.set(segs);
      segs = grown;
    }
    segs[m * 3] = drive;
    segs[m * 3 + 1] = position;
    segs[m * 3 + 2] = length;
    m++;
  };
  const piece = (pbn: number, inPbn: number, length: number) => {
    if (pbn === 0) push(-1, 0, length);
    else {
      const d = drives.driveIndexOf(pbn);
      push(d, drives.positionOf(pbn, d) + inPbn, length);
    }
  };
  for (cur = 0; cur < n; cur++) {
    segStart[cur] = m;
    const start = offsets[cur];
    const end = start + lengths[cur];
    for (let pos = start; pos < end; ) {
      const lba = Math.floor(pos / bs);
      const inBlock = pos - lba * bs;
      const len = Math.min(bs - inBlock, end - pos);
      eachSource(table, lba, inBlock, len, grain, piece);
      pos += len;
    }
  }
  segStart[n] = m;
  return { fds: drives.fds, lengths: Uint32Array.from(lengths), segStart, segs: segs.slice(0, m * 3) };
}

/** The plan of hash blocks `blocks` of `hashBlockBytes` (the volume's last one may be short). */
export function planHashes(
  pool: Pool,
  table: MappingTable,
  sizeBytes: number,
  blocks: ArrayLike<number>,
  hashBlockBytes: number,
): ReadPlan {
  const offsets = new Float64Array(blocks.length);
  const lengths = new Uint32Array(blocks.length);
  for (let i = 0; i < blocks.length; i++) {
    offsets[i] = blocks[i] * hashBlockBytes;
    lengths[i] = Math.min(hashBlockBytes, sizeBytes - offsets[i]);
  }
  return planReads(pool, table, offsets, lengths);
}
