/**
 * Copy-on-write at the grain: a partial write into a 64 KiB block a snapshot shares
 * writes only its 4 KiB grains to a new block (an overlay), which reads its other grains
 * from the shared block. Checked as a user would: the bytes the volume and the snapshot
 * read back (plain reads, batched reads, hashes), the pool blocks used, and both after a
 * crash-free reopen (checkpoint) and after a reopen that replays the log.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import { BS, MiB, pattern, type TempStorage, tempStorage } from './helpers.js';

const G = 4096;
const SIZE = 2 * MiB;

/** A model of the volume's bytes, patched as the tests write. */
class Model {
  readonly bytes: Buffer;
  constructor(size: number) {
    this.bytes = Buffer.alloc(size);
  }
  write(offset: number, data: Buffer): void {
    data.copy(this.bytes, offset);
  }
}

describe('copy-on-write at the grain (overlays)', () => {
  let t: TempStorage;
  afterEach(() => t.cleanup());

  async function setup(): Promise<{ model: Model; snapshot: Buffer }> {
    t = await tempStorage({ drives: [{ sizeBytes: 64 * MiB }], blockSizeBytes: BS });
    await t.storage.createVolume('v', SIZE);
    const model = new Model(SIZE);
    const full = pattern(SIZE, 9);
    await t.storage.hostDevice('v').write(0, full);
    model.write(0, full);
    await t.storage.createSnapshot('v', 's');
    return { model, snapshot: Buffer.from(full) };
  }

  async function check(model: Model, snapshot: Buffer): Promise<void> {
    const dev = t.storage.device('v');
    assert.ok((await dev.read(0, SIZE)).equals(model.bytes), 'the volume reads as written');
    // Unaligned cuts across overlays and plain blocks.
    for (const [off, len] of [
      [3 * BS + 100, 2 * BS],
      [5 * BS + G - 1, 3],
      [BS - 7, 14],
    ]) {
      assert.ok(
        (await dev.read(off, len)).equals(model.bytes.subarray(off, off + len)),
        `read ${off}+${len}`,
      );
    }
    const ranges = [
      { offset: 3 * BS + G, length: G },
      { offset: 5 * BS, length: BS },
      { offset: 7 * BS + 10, length: 3 * G },
    ];
    const batched = await dev.readDataRanges!(ranges);
    const want = Buffer.concat(ranges.map((r) => model.bytes.subarray(r.offset, r.offset + r.length)));
    assert.ok(batched.equals(want), 'batched reads (read workers) read as written');
    const hashes = (await t.storage.hashVolumeBlocks('v', [3, 5, 7], BS)).hashes;
    for (const [i, b] of [3, 5, 7].entries()) {
      const h = createHash('sha256')
        .update(model.bytes.subarray(b * BS, (b + 1) * BS))
        .digest();
      assert.ok(hashes.subarray(i * 32, i * 32 + 32).equals(h), `hash of block ${b}`);
    }
    const snap = await t.storage.snapshotDevice('v', 's').read(0, SIZE);
    assert.ok(snap.equals(snapshot), 'the snapshot still reads as it was taken');
  }

  it('a 4 KiB write into a shared block uses one new block, and reads back from both', async () => {
    const { model, snapshot } = await setup();
    const used = t.storage.pool().usedBytes;
    const written = t.storage.rawPool.drives.stats.writtenBytes;
    const dev = t.storage.hostDevice('v');
    for (const [off, seed] of [
      [3 * BS + G, 1], // grain 1 of block 3
      [5 * BS + 15 * G, 2], // the last grain of block 5
      [7 * BS, 3], // the first grain of block 7
    ] as const) {
      const d = pattern(G, seed);
      await dev.write(off, d);
      model.write(off, d);
    }
    assert.equal(t.storage.pool().usedBytes - used, 3 * BS, 'one new block per written block');
    assert.equal(
      t.storage.rawPool.drives.stats.writtenBytes - written,
      3 * G,
      'only the grains written went to the drives, not 3 copies of 64 KiB',
    );
    await check(model, snapshot);
  });

  it('once the snapshot is deleted, overlays fold back into plain blocks, copying the smaller side', async () => {
    const { model } = await setup();
    const dev = t.storage.hostDevice('v');
    for (const [off, len, seed] of [
      [3 * BS + G, G, 1],
      [5 * BS + 15 * G, G, 2],
      [7 * BS + 100, G, 3], // unaligned: grains 0 and 1, grain 0 filled from the base
      [9 * BS + G, 12 * G, 4], // 12 grains of 16: the overlay holds more than its base gives
    ] as const) {
      const d = pattern(len, seed);
      await dev.write(off, d);
      model.write(off, d);
    }
    assert.equal(t.storage.pool().usedBytes, SIZE + 4 * BS);
    const written = t.storage.rawPool.drives.stats.writtenBytes;
    await t.storage.deleteSnapshot('v', 's');
    await t.storage.whenFolded();
    assert.equal(t.storage.foldStats.folded, 4, 'four overlays folded');
    assert.equal(t.storage.foldStats.lastError, null);
    // Blocks 3, 5 and 7: their 1, 1 and 2 grains go back into the base. Block 9: the
    // base's 4 other grains go into the overlay's block. Copying the base's side always,
    // as the fold once did, wrote 44 grains for the first three.
    assert.equal(
      t.storage.rawPool.drives.stats.writtenBytes - written,
      (1 + 1 + 2 + 4) * G,
      'a fold writes the grains of the smaller side only',
    );
    await t.storage.rawPool.flush();
    assert.equal(t.storage.pool().usedBytes, SIZE, 'one pool block per volume block again');
    assert.ok((await t.storage.device('v').read(0, SIZE)).equals(model.bytes), 'reads the same');
    const hashes = (await t.storage.hashVolumeBlocks('v', [3, 5, 7, 9], BS)).hashes;
    for (const [i, b] of [3, 5, 7, 9].entries()) {
      const h = createHash('sha256')
        .update(model.bytes.subarray(b * BS, (b + 1) * BS))
        .digest();
      assert.ok(hashes.subarray(i * 32, i * 32 + 32).equals(h), `hash of block ${b} (read workers)`);
    }
    await t.reopenFromLog();
    assert.ok((await t.storage.device('v').read(0, SIZE)).equals(model.bytes), 'and after replaying the log');
    assert.equal(t.storage.pool().usedBytes, SIZE, 'the freed blocks free after the replay');
    await t.reopen();
    assert.ok((await t.storage.device('v').read(0, SIZE)).equals(model.bytes), 'and after a reopen');
    await t.storage.whenFolded();
    assert.equal(t.storage.foldStats.folded, 0, 'nothing left to fold at open');
  });

  it("a fold frees the overlay's block, which a new volume then takes and reads as it wrote it", async () => {
    const { model } = await setup();
    const alloc = t.storage.rawPool.allocator;
    const held = () => Array.from({ length: 64 }, (_, b) => b).filter((b) => alloc.refCount(b) > 0);
    const volumeBlocks = held();
    assert.equal(volumeBlocks.length, SIZE / BS);
    const d = pattern(G, 5);
    await t.storage.hostDevice('v').write(2 * BS + 3 * G, d);
    model.write(2 * BS + 3 * G, d);
    const overlayBlock = held().filter((b) => !volumeBlocks.includes(b));
    assert.equal(overlayBlock.length, 1, 'the write took one new block');
    await t.storage.deleteSnapshot('v', 's');
    await t.storage.whenFolded();
    assert.equal(t.storage.foldStats.folded, 1);
    await t.storage.rawPool.flush(); // a freed block goes out again once its free is durable
    assert.deepEqual(held(), volumeBlocks, "the volume is back on its own blocks, the overlay's freed");
    // The overlay's block holds grain 3 of block 2 and nothing else: a new volume's partial
    // write there must read zeros around its bytes.
    await t.storage.createVolume('w', 4 * BS);
    const w = pattern(100, 6);
    await t.storage.hostDevice('w').write(BS + 10, w);
    assert.equal(alloc.refCount(overlayBlock[0]), 1, "the new volume's block is the one the fold freed");
    const want = Buffer.alloc(4 * BS);
    w.copy(want, BS + 10);
    assert.ok(
      (await t.storage.device('w').read(0, 4 * BS)).equals(want),
      'the new volume reads its own bytes',
    );
    assert.ok(
      (await t.storage.device('v').read(0, SIZE)).equals(model.bytes),
      'the folded volume is untouched',
    );
  });

  it('unaligned and spanning writes fill their edge grains from where the grain is', async () => {
    const { model, snapshot } = await setup();
    const dev = t.storage.hostDevice('v');
    const writes: [number, number][] = [
      [3 * BS + G + 100, 50], // inside grain 1: new overlay, grain filled from the base
      [3 * BS + G + 300, 10], // the same grain again: in place, the grain is the overlay's
      [3 * BS + 2 * G - 5, G + 10], // grains 1-3: 1 is the overlay's, 3 from the base
      [5 * BS + 3, 2 * BS], // across blocks 5, 6 and 7: whole block 6 in the middle
      [7 * BS + 9 * G, 7], // block 7 (an overlay since the last write) again
    ];
    for (const [i, [off, len]] of writes.entries()) {
      const d = pattern(len, 20 + i);
      await dev.write(off, d);
      model.write(off, d);
    }
    await dev.writeZeroes(7 * BS + 10 * G + 1, 100); // a zeroing is a write of zeros here
    model.write(7 * BS + 10 * G + 1, Buffer.alloc(100));
    await check(model, snapshot);
  });

  it('an overlay whose every grain is written becomes a plain block and lets its base go', async () => {
    const { model, snapshot } = await setup();
    const dev = t.storage.hostDevice('v');
    assert.equal(t.storage.pool().usedBytes, SIZE, 'the volume and its snapshot share every block');
    for (let g = 0; g < BS / G; g++) {
      const d = pattern(G, 40 + g);
      await dev.write(4 * BS + g * G, d);
      model.write(4 * BS + g * G, d);
    }
    assert.equal(t.storage.pool().usedBytes, SIZE + BS, 'block 4 rewritten: one block more');
    await check(model, snapshot);
    await t.storage.deleteSnapshot('v', 's');
    await t.storage.rawPool.flush(); // frees are quarantined until durable
    assert.equal(
      t.storage.pool().usedBytes,
      SIZE,
      'the snapshot gone, its block 4 is free: the overlay no longer holds it as a base',
    );
    assert.ok((await t.storage.device('v').read(0, SIZE)).equals(model.bytes));
  });

  it('keeps a base while a snapshot is deleted; a trim and a volume delete free everything', async () => {
    const { model } = await setup();
    const dev = t.storage.hostDevice('v');
    const d = pattern(G, 5);
    await dev.write(2 * BS + 6 * G, d);
    model.write(2 * BS + 6 * G, d);
    await t.storage.deleteSnapshot('v', 's');
    // The base is now referenced by the overlay alone: the volume still reads it.
    assert.ok((await t.storage.device('v').read(0, SIZE)).equals(model.bytes));
    await t.reopen();
    assert.ok((await t.storage.device('v').read(0, SIZE)).equals(model.bytes), 'after a reopen');
    await t.storage.hostDevice('v').trim(2 * BS, BS);
    model.write(2 * BS, Buffer.alloc(BS));
    assert.ok((await t.storage.device('v').read(0, SIZE)).equals(model.bytes), 'after a trim');
    await t.storage.deleteVolume('v');
    await t.storage.rawPool.flush();
    assert.equal(t.storage.pool().usedBytes, 0, 'every block, overlays and bases, is free again');
  });

  it('a snapshot of an overlay shares it; the next write gathers the block whole', async () => {
    const { model, snapshot } = await setup();
    const dev = t.storage.hostDevice('v');
    const d = pattern(G, 7);
    await dev.write(6 * BS + 2 * G, d);
    model.write(6 * BS + 2 * G, d);
    await t.storage.createSnapshot('v', 's2');
    const atS2 = Buffer.from(model.bytes);
    const e = pattern(100, 8);
    await dev.write(6 * BS + 9 * G, e);
    model.write(6 * BS + 9 * G, e);
    await check(model, snapshot);
    assert.ok((await t.storage.snapshotDevice('v', 's2').read(0, SIZE)).equals(atS2), 'the second snapshot');
    await t.storage.deleteSnapshot('v', 's');
    await t.storage.deleteSnapshot('v', 's2');
    await t.storage.deleteVolume('v');
    await t.storage.rawPool.flush();
    assert.equal(t.storage.pool().usedBytes, 0, 'nothing leaks');
  });

  for (const how of ['a checkpoint (clean close)', 'the log (no checkpoint)'] as const) {
    it(`overlays survive a reopen from ${how}`, async () => {
      const { model, snapshot } = await setup();
      const dev = t.storage.hostDevice('v');
      for (let i = 0; i < 20; i++) {
        const off = (i % 8) * BS + ((i * 5) % 16) * G + (i % 3) * 100;
        const d = pattern(G, 60 + i);
        await dev.write(off, d);
        model.write(off, d);
      }
      await dev.flush();
      if (how === 'the log (no checkpoint)') {
        await t.reopenFromLog(); // flushed, not closed: what a crash leaves
      } else {
        await t.reopen();
      }
      const used = t.storage.pool().usedBytes;
      await check(model, snapshot);
      await t.storage.deleteSnapshot('v', 's');
      await t.storage.deleteVolume('v');
      await t.storage.rawPool.flush();
      assert.ok(used > 0);
      assert.equal(t.storage.pool().usedBytes, 0, 'reference counts rebuilt with the bases');
    });
  }
});
