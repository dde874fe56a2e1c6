/**
 * Update bitmaps at the grain of the writes: a 64 KiB-block pool notes which 4 KiB grains
 * a write, a zeroing or a premark touched, keeps them through freeze and merge, hands
 * them out as a grain set (what a failback copies and compares), and forgets them at a
 * restart (every block marked before it counts whole).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BS, MiB, pattern, type TempStorage, tempStorage } from './helpers.js';

const G = 4096;

/** The set bits of a grain set, as numbers. */
function bits(set: { runs(): Iterable<{ start: number; count: number }> }): number[] {
  const out: number[] = [];
  for (const r of set.runs()) for (let i = r.start; i < r.start + r.count; i++) out.push(i);
  return out;
}

describe('update bitmaps at the grain of the writes', () => {
  let t: TempStorage;
  before(async () => {
    t = await tempStorage({ drives: [{ sizeBytes: 64 * MiB }], blockSizeBytes: BS });
    await t.storage.createVolume('v', 4 * MiB);
    await t.storage.createBitmap('v', 'b');
  });
  after(() => t.cleanup());

  it('marks the grains of writes and zeroings, whole blocks where they cover them', async () => {
    const dev = t.storage.hostDevice('v');
    await dev.write(2 * BS + 3 * G + 10, pattern(100, 1)); // grain 3 of block 2
    await dev.write(5 * BS - G, pattern(2 * G, 2)); // grain 15 of block 4, grain 0 of block 5
    await dev.writeZeroes(8 * BS + G, 2 * G); // grains 1-2 of block 8
    await dev.write(10 * BS, pattern(BS, 3)); // block 10 whole
    const [info] = t.storage.listBitmaps('v');
    assert.equal(info.grainBytes, G);
    assert.equal(info.dirtyBlocks, 5);
    assert.equal(info.dirtyGrains, 1 + 1 + 1 + 2 + 16);
    const { set, unitBytes } = t.storage.getBitmapGrainSet('v', 'b');
    assert.equal(unitBytes, G);
    assert.deepEqual(bits(set), [
      2 * 16 + 3,
      4 * 16 + 15,
      5 * 16,
      8 * 16 + 1,
      8 * 16 + 2,
      ...Array.from({ length: 16 }, (_, i) => 10 * 16 + i),
    ]);
  });

  it('premarks the grains of byte ranges, and keeps grains through freeze and merge', async () => {
    const marked = await t.storage.premarkBitmaps('v', [
      { offset: 20 * BS + 5 * G, length: G },
      { offset: 2 * BS + 7 * G, length: G }, // another grain of a marked block
    ]);
    assert.equal(marked, 1, 'block 20 was new');
    await t.storage.freezeBitmap('v', 'b', 'frozen');
    const frozen = t.storage.getBitmapGrains('v', 'frozen');
    assert.equal(frozen.maskOf(20), 1 << 5);
    assert.equal(frozen.maskOf(2), (1 << 3) | (1 << 7));
    assert.equal(t.storage.listBitmaps('v').find((b) => b.name === 'b')!.dirtyGrains, 0, 'restarted empty');

    // A write after the freeze lands in `b`; merging `b` into the frozen one unites grains.
    await t.storage.hostDevice('v').write(2 * BS + 9 * G, pattern(G, 4));
    await t.storage.hostDevice('v').write(20 * BS, pattern(BS, 5));
    await t.storage.mergeBitmap('v', 'b', 'frozen');
    const merged = t.storage.getBitmapGrains('v', 'frozen');
    assert.equal(merged.maskOf(2), (1 << 3) | (1 << 7) | (1 << 9));
    assert.equal(merged.maskOf(20), 0xffff, 'whole in one: whole');
  });

  it('forgets grains at a restart: blocks marked before it count whole', async () => {
    const s = await t.reopen();
    const { set } = s.getBitmapGrainSet('v', 'frozen');
    assert.deepEqual(
      bits(set).filter((g) => Math.floor(g / 16) === 2),
      Array.from({ length: 16 }, (_, i) => 2 * 16 + i),
    );
    await s.hostDevice('v').write(30 * BS + G, pattern(G, 6));
    assert.equal(s.getBitmapGrains('v', 'b').maskOf(30), 1 << 1, 'new writes are tracked again');
  });
});
