// Hash lists (src/block/hash.ts): diffHashes names the blocks whose hashes differ, at most
// `limit` of them, counts them all, and numbers them from `startBlock`.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { diffHashes, HASH_BYTES } from '../../../src/block/index.js';

const KiB = 1024;

/** SHA-256 of each 64 KiB block of `data`, concatenated. */
function hashList(data: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += 64 * KiB)
    out.push(
      createHash('sha256')
        .update(data.subarray(at, at + 64 * KiB))
        .digest(),
    );
  return Buffer.concat(out);
}

describe('diffHashes', () => {
  it('names the blocks that differ', () => {
    const a = Buffer.alloc(1024 * KiB, 7);
    const b = Buffer.from(a);
    b[5 * 64 * KiB + 100] = 8;
    b[9 * 64 * KiB] = 8;
    const [ha, hb] = [hashList(a), hashList(b)];
    assert.equal(ha.length, 16 * HASH_BYTES);
    assert.deepEqual(diffHashes(ha, hb, 0, 10), { count: 2, first: [5, 9] });
    assert.deepEqual(diffHashes(ha, hb, 100, 1), { count: 2, first: [105] });
    assert.deepEqual(diffHashes(ha, ha, 0, 10), { count: 0, first: [] });
  });
});
