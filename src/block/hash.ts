/**
 * Block hashes as two nodes exchange them to prove two volumes identical (failback verify,
 * `rebound volume compare`): one SHA-256 (HASH_BYTES) per fixed-size block, concatenated.
 * A node computes them off its main thread (src/volume/read-workers.ts); the manager compares
 * two lists here (src/manager/compare.ts).
 */

export const HASH_BYTES = 32;

/** The block numbers at which two hash lists (from `startBlock` on) differ, at most `limit` of them, and how many in all. */
export function diffHashes(
  a: Buffer,
  b: Buffer,
  startBlock: number,
  limit: number,
): { count: number; first: number[] } {
  const n = Math.min(a.length, b.length) / HASH_BYTES;
  const first: number[] = [];
  let count = 0;
  for (let k = 0; k < n; k++) {
    const o = k * HASH_BYTES;
    if (a.compare(b, o, o + HASH_BYTES, o, o + HASH_BYTES) !== 0) {
      count++;
      if (first.length < limit) first.push(startBlock + k);
    }
  }
  return { count, first };
}
