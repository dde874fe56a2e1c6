/**
 * A delta copy's reads keep the hashes of what they read (readDataRanges with keepHashes),
 * and a verify with fromCopy is answered from them only where the volume has not changed
 * since: the answer must always equal the hashes of what a read gives now
 * (volume/hash-memo.ts).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { type BlockDevice, BlockSet, copyBlocks, MemoryDevice } from '../../../src/block/index.js';
import type { NodeStorage } from '../../../src/volume/index.js';
import { MiB, pattern, tempStorage } from './helpers.js';

const KiB = 1024;
const G = 4 * KiB;

function sha(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** A pool of 64 KiB blocks with volume 'v' of `size` bytes filled with pattern `seed`. */
async function withVolume(
  size: number,
  seed: number,
  fn: (s: NodeStorage, d: BlockDevice) => Promise<void>,
): Promise<void> {
  const t = await tempStorage({ drives: [{ sizeBytes: 64 * MiB }], blockSizeBytes: 64 * KiB });
  try {
    await t.storage.createVolume('v', size);
    const d = t.storage.device('v');
    await d.write(0, pattern(size, seed));
    await fn(t.storage, d);
  } finally {
    await t.cleanup();
  }
}

/** The hashes answered for `grains` are those of what reads of them give now. */
async function assertHashesOfReads(d: BlockDevice, grains: number[], hashes: Buffer): Promise<void> {
  for (let i = 0; i < grains.length; i++)
    assert.deepEqual(
      hashes.subarray(i * 32, i * 32 + 32),
      sha(await d.read(grains[i] * G, G)),
      `grain ${grains[i]}`,
    );
}

describe('hashes kept by a delta copy for its verify', () => {
  it('answers the verify from the copy where nothing changed, and reads again where something did', async () => {
    const size = 8 * MiB;
    await withVolume(size, 1, async (s, d) => {
      await s.createSnapshot('v', 'base'); // the writes below make grain overlays, as after a failover
      // Scattered grains, as hosts' 4 KiB writes leave them (some adjacent: 8 KiB ranges).
      const grains = [3, 17, 18, 40, 255, 600, 601, 602, 1500, 2047];
      for (const g of grains) await d.write(g * G, pattern(G, 100 + g));
      const set = new BlockSet(size / G);
      for (const g of grains) set.add(g);

      const dest = new MemoryDevice(size, { blockSizeBytes: G });
      await copyBlocks({ source: d, dest, blocks: set, blockSizeBytes: G, keepSourceHashes: true });

      // Two grains change after the copy read them: a write, and a zeroing.
      await d.write(17 * G + 100, Buffer.from('changed after the copy'));
      await d.writeZeroes(1500 * G, G);
      const asked = [...grains, 5]; // 5: never copied, so never kept
      const { hashes, fromCopy } = await s.hashVolumeBlocks('v', asked, G, { fromCopy: true });
      await assertHashesOfReads(d, asked, hashes);
      // A change spoils what was kept of its whole 64 KiB block: 17 and 18 (block 1), 1500.
      assert.equal(fromCopy, grains.length - 3, "all but the changed blocks' grains and the uncopied one");

      // Each kept hash is given once: asked again, every grain is read and hashed.
      const again = await s.hashVolumeBlocks('v', grains, G, { fromCopy: true });
      assert.equal(again.fromCopy, 0);
      assert.deepEqual(again.hashes, hashes.subarray(0, grains.length * 32));
    });
  });

  it("from a snapshot's reads (generation N+1), answers only for grains the volume still maps where the snapshot does", async () => {
    await withVolume(4 * MiB, 3, async (s, d) => {
      await s.createSnapshot('v', 'n1');
      // Written after the snapshot, before its read: the volume now maps grain 40 to a new
      // overlay, so what the snapshot's read hashed no longer describes the volume's grain.
      await d.write(40 * G, pattern(G, 77));
      const grains = [7, 40, 300];
      const snap = s.snapshotDevice('v', 'n1');
      await snap.readRanges!(
        grains.map((g) => ({ offset: g * G, length: G })),
        { keepHashes: true },
      );
      const { hashes, fromCopy } = await s.hashVolumeBlocks('v', grains, G, { fromCopy: true });
      await assertHashesOfReads(d, grains, hashes);
      assert.equal(fromCopy, 2, 'grains 7 and 300; 40 read again');
    });
  });

  it('keeps nothing of a grain written while the copy reads it, nor without keepHashes or fromCopy', async () => {
    await withVolume(4 * MiB, 2, async (s, d) => {
      const grains = Array.from({ length: 256 }, (_, i) => i * 4);
      const ranges = grains.map((g) => ({ offset: g * G, length: G }));

      // Writes racing the batch's read: whichever the worker saw, the verify must give the
      // hash of what the grain holds now.
      const reading = d.readDataRanges!(ranges, { keepHashes: true });
      const writes = grains.slice(0, 64).map((g) => d.write(g * G, pattern(G, 500 + g)));
      await Promise.all([reading, ...writes]);
      const { hashes, fromCopy } = await s.hashVolumeBlocks('v', grains, G, { fromCopy: true });
      await assertHashesOfReads(d, grains, hashes);
      // A write spoils its whole block's grains: blocks 0-15 hold the 64 grains written.
      assert.equal(fromCopy, grains.length - 64, 'none of the written grains answered from the read');

      // Without keepHashes nothing is kept; without fromCopy nothing is used.
      await d.readDataRanges!(ranges);
      assert.equal((await s.hashVolumeBlocks('v', grains, G, { fromCopy: true })).fromCopy, 0);
      await d.readDataRanges!(ranges, { keepHashes: true });
      assert.equal((await s.hashVolumeBlocks('v', grains, G)).fromCopy, 0);
      assert.equal((await s.hashVolumeBlocks('v', grains, G, { fromCopy: true })).fromCopy, 256);
    });
  });
});
