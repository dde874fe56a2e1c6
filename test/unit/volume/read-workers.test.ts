// Reads of pool volumes in the read workers (src/volume/read-workers.ts): the hashes must
// be the hashes of the bytes a read gives, at any hash grain against any pool block size,
// over holes, a short last block, copy-on-write blocks and a snapshot's shared ones; and a
// volume's readDataRanges (a copy's batch) must give exactly the bytes reads give.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { isReboundError } from '../../../src/errors.js';
import { MiB, pattern, tempStorage } from './helpers.js';

const KiB = 1024;

function sha(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

describe('volume reads in worker threads', () => {
  for (const poolBlock of [4 * KiB, 64 * KiB])
    for (const unit of [4 * KiB, 64 * KiB])
      it(`pool blocks of ${poolBlock / KiB} KiB, hash blocks of ${unit / KiB} KiB: the hashes of what a read gives`, async () => {
        const t = await tempStorage({ drives: [{ sizeBytes: 32 * MiB }], blockSizeBytes: poolBlock });
        try {
          const s = t.storage;
          const size = 4 * MiB + 4 * KiB; // a short last hash block when the unit is 64 KiB
          await s.createVolume('v', size);
          const d = s.device('v');
          await d.write(0, pattern(1 * MiB, 1)); // a run
          await d.write(2 * MiB + 100, pattern(3000, 2)); // part of a block; holes around
          await d.write(size - 4 * KiB, pattern(4 * KiB, 3)); // the last bytes
          await s.createSnapshot('v', 'snap');
          await d.write(64 * KiB + 512, pattern(8 * KiB, 4)); // copy on write
          const total = Math.ceil(size / unit);
          const all = Array.from({ length: total }, (_, b) => b);
          const image = await d.read(0, size);
          const want = Buffer.concat(
            all.map((b) => sha(image.subarray(b * unit, Math.min((b + 1) * unit, size)))),
          );
          assert.deepEqual((await s.hashVolumeBlocks('v', all, unit)).hashes, want);
          // A scattered choice, in the order asked.
          const some = [total - 1, 0, 1, Math.floor(total / 2), 3];
          assert.deepEqual(
            (await s.hashVolumeBlocks('v', some, unit)).hashes,
            Buffer.concat(some.map((b) => want.subarray(b * 32, (b + 1) * 32))),
          );
          await assert.rejects(
            s.hashVolumeBlocks('v', [total], unit),
            (e: unknown) => isReboundError(e, 'OUT_OF_RANGE') && /past the end/.test((e as Error).message),
          );
          assert.equal((await s.hashVolumeBlocks('v', [], unit)).hashes.length, 0);
        } finally {
          await t.cleanup();
        }
      });

  it('hashes while host writes go on, and a reopened node hashes the same', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', 8 * MiB);
      const d = s.device('v');
      await d.write(0, pattern(8 * MiB, 5));
      const blocks = Array.from({ length: 128 }, (_, b) => b);
      const before = (await s.hashVolumeBlocks('v', blocks, 64 * KiB)).hashes;
      // Writes to other blocks during hashing change nothing of the blocks hashed.
      const writes = Promise.all(
        Array.from({ length: 32 }, (_, i) => d.write(4 * MiB + i * 64 * KiB, pattern(64 * KiB, 100 + i))),
      );
      const during = (await s.hashVolumeBlocks('v', blocks.slice(0, 64), 64 * KiB)).hashes;
      await writes;
      assert.deepEqual(during, before.subarray(0, 64 * 32));
      await d.flush();
      const image = await d.read(0, 8 * MiB);
      await t.reopen();
      const after = (await t.storage.hashVolumeBlocks('v', blocks, 64 * KiB)).hashes;
      assert.deepEqual(
        after,
        Buffer.concat(blocks.map((b) => sha(image.subarray(b * 64 * KiB, (b + 1) * 64 * KiB)))),
      );
    } finally {
      await t.cleanup();
    }
  });

  for (const poolBlock of [4 * KiB, 64 * KiB])
    it(`readDataRanges over ${poolBlock / KiB} KiB pool blocks: the bytes of reads, back to back`, async () => {
      const t = await tempStorage({ drives: [{ sizeBytes: 32 * MiB }], blockSizeBytes: poolBlock });
      try {
        const s = t.storage;
        const size = 8 * MiB;
        await s.createVolume('v', size);
        const d = s.device('v');
        for (let i = 0; i < 40; i++) await d.write(i * 97 * KiB, pattern(4 * KiB, i)); // scattered
        await d.write(5 * MiB, pattern(300 * KiB, 50)); // a run across blocks
        await s.createSnapshot('v', 'snap');
        await d.write(5 * MiB + 8 * KiB, pattern(4 * KiB, 51)); // copy on write inside the run
        const ranges = [
          { offset: 0, length: 4 * KiB },
          { offset: 97 * KiB, length: 4 * KiB },
          { offset: 1 * MiB + 3, length: 5000 }, // unaligned, holes and data
          { offset: 3 * MiB, length: 64 * KiB }, // a hole: zeros
          { offset: 5 * MiB - 4 * KiB, length: 200 * KiB },
          { offset: size - 512, length: 512 }, // the last bytes
          { offset: size, length: 0 },
        ];
        const want = Buffer.concat(await Promise.all(ranges.map((r) => d.read(r.offset, r.length))));
        assert.deepEqual(await d.readDataRanges!(ranges), want);
        // Many at once, spread over the workers, each answer its own.
        const singles = await Promise.all(ranges.map((r) => d.readDataRanges!([r])));
        assert.deepEqual(Buffer.concat(singles), want);
        await assert.rejects(
          d.readDataRanges!([ranges[0], { offset: size - 512, length: 1024 }]),
          (e: unknown) => isReboundError(e, 'OUT_OF_RANGE'),
        );
        // A host device refuses it while the volume is fenced, as it refuses reads.
        await s.fence('v');
        await assert.rejects(s.hostDevice('v').readDataRanges!(ranges), (e: unknown) =>
          isReboundError(e, 'VOLUME_FENCED'),
        );
        assert.deepEqual(await s.device('v').readDataRanges!(ranges), want);
      } finally {
        await t.cleanup();
      }
    });

  it("a snapshot's readRanges into shared memory: the worker writes it in place, holes zeroed", async () => {
    const t = await tempStorage({ drives: [{ sizeBytes: 32 * MiB }], blockSizeBytes: 64 * KiB });
    try {
      const s = t.storage;
      await s.createVolume('v', 4 * MiB);
      const d = s.device('v');
      for (let i = 0; i < 8; i++) await d.write(i * 300 * KiB, pattern(4 * KiB, i));
      await s.createSnapshot('v', 'snap');
      await d.write(300 * KiB, pattern(4 * KiB, 99)); // after the snapshot: not what it reads
      const snap = s.snapshotDevice('v', 'snap');
      const ranges = [
        { offset: 0, length: 4 * KiB },
        { offset: 300 * KiB, length: 4 * KiB },
        { offset: 1 * MiB, length: 8 * KiB }, // a hole: zeros over what the memory held
        { offset: 1200 * KiB, length: 4 * KiB },
      ];
      const want = Buffer.concat(await Promise.all(ranges.map((r) => snap.read(r.offset, r.length))));
      for (const keepHashes of [false, true]) {
        const into = Buffer.from(new SharedArrayBuffer(64 * KiB)).fill(0xee);
        const got = await snap.readRanges!(ranges, { keepHashes, into });
        assert.equal(got.buffer, into.buffer, 'a view of the memory given');
        assert.equal(got.byteOffset, into.byteOffset);
        assert.deepEqual(got, want);
        assert.ok(
          into.subarray(want.length).every((b) => b === 0xee),
          'nothing written past the ranges',
        );
      }
      // Memory a worker cannot share is not used: the answer is the device's own.
      const local = Buffer.alloc(64 * KiB, 0xee);
      const got = await snap.readRanges!(ranges, { into: local });
      assert.notEqual(got.buffer, local.buffer);
      assert.deepEqual(got, want);
      assert.ok(local.every((b) => b === 0xee));
    } finally {
      await t.cleanup();
    }
  });
});
