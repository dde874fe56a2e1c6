// Block hashes (src/block/hash.ts): the same bytes give the same hashes whether a range
// was read or known to be zero, one changed byte changes exactly its block's hash, and
// diffHashes names that block; the hashes of a set's blocks are those blocks' hashes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { diffHashes, HASH_BYTES, hashBlocks, MemoryDevice } from '../../../src/block/index.js';

const KiB = 1024;

describe('hashBlocks', () => {
  it('hashes each block, zero ranges as zeros, a short last block over what exists', async () => {
    const dev = new MemoryDevice(200 * KiB); // 3 blocks of 64 KiB and one of 8 KiB
    await dev.write(70 * KiB, Buffer.alloc(4 * KiB, 0xab));
    const h = await hashBlocks(dev, 0, 4, 64 * KiB);
    assert.equal(h.length, 4 * HASH_BYTES);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest();
    const block1 = Buffer.alloc(64 * KiB);
    block1.fill(0xab, 6 * KiB, 10 * KiB);
    assert.deepEqual(h.subarray(0, 32), sha(Buffer.alloc(64 * KiB)));
    assert.deepEqual(h.subarray(32, 64), sha(block1));
    assert.deepEqual(h.subarray(96, 128), sha(Buffer.alloc(8 * KiB)));
    // A sub-range gives the same hashes as the whole.
    assert.deepEqual(await hashBlocks(dev, 1, 2, 64 * KiB), h.subarray(32, 96));
  });

  it('refuses a range past the end', async () => {
    await assert.rejects(hashBlocks(new MemoryDevice(128 * KiB), 1, 2, 64 * KiB), /past the end/);
  });

  it('names the blocks that differ', async () => {
    const a = new MemoryDevice(1024 * KiB);
    const b = new MemoryDevice(1024 * KiB);
    for (const d of [a, b]) await d.write(0, Buffer.alloc(1024 * KiB, 7));
    await b.write(5 * 64 * KiB + 100, Buffer.from([8]));
    await b.write(9 * 64 * KiB, Buffer.from([8]));
    const [ha, hb] = await Promise.all([hashBlocks(a, 0, 16, 64 * KiB), hashBlocks(b, 0, 16, 64 * KiB)]);
    assert.deepEqual(diffHashes(ha, hb, 0, 10), { count: 2, first: [5, 9] });
    assert.deepEqual(diffHashes(ha, hb, 100, 1), { count: 2, first: [105] });
    assert.deepEqual(diffHashes(ha, ha, 0, 10), { count: 0, first: [] });
  });
});
