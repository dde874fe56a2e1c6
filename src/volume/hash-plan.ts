/**
 * Where the bytes of each hash block of a volume are: the plan the hash worker reads from
 * (hash-worker.ts). A hash block of `hashBlockBytes` covers one or more pool blocks (or
 * part of one); each piece is a segment on a drive, or zeros for an unmapped block.
 * Adjacent pieces on one drive merge, so a 64 KiB hash block over 4 KiB pool blocks
 * written in order is one read.
 */
import type { Pool } from '../pool/index.js';
import type { MappingTable } from './mapping.js';

export interface HashJob {
  /** The drives' file descriptors, by drive index. */
  fds: number[];
  /** Bytes of each hash block (the volume's last one may be short). */
  lengths: Uint32Array;
  /** Segments of block i: segs[segStart[i] .. segStart[i + 1]). */
  segStart: Uint32Array;
  /** Triples: drive index (-1: zeros), byte position on the drive, length. */
  segs: Float64Array;
}

export function planHashes(
  pool: Pool,
  table: MappingTable,
  sizeBytes: number,
  blocks: ArrayLike<number>,
  hashBlockBytes: number,
): HashJob {
  const bs = pool.blockSizeBytes;
  const drives = pool.drives;
  const n = blocks.length;
  const lengths = new Uint32Array(n);
  const segStart = new Uint32Array(n + 1);
  let segs = new Float64Array(Math.max(3, n * 3)); // one segment per block, grown when pieces do not merge
  let m = 0;
  let cur = 0; // the hash block being planned: segments never merge across two
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
  for (cur = 0; cur < n; cur++) {
    segStart[cur] = m;
    const start = blocks[cur] * hashBlockBytes;
    const end = Math.min(start + hashBlockBytes, sizeBytes);
    lengths[cur] = end - start;
    for (let pos = start; pos < end; ) {
      const lba = Math.floor(pos / bs);
      const inBlock = pos - lba * bs;
      const len = Math.min(bs - inBlock, end - pos);
      const pbn = table.get(lba);
      if (pbn === 0) push(-1, 0, len);
      else {
        const at = drives.locate(pbn);
        push(at.driveIndex, at.position + inBlock, len);
      }
      pos += len;
    }
  }
  segStart[n] = m;
  return { fds: drives.fds, lengths, segStart, segs: segs.slice(0, m * 3) };
}
