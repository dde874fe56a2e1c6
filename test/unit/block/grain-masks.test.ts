import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlockSet } from '../../../src/block/block-set.js';
import {
  GrainMasks,
  grainBytesOf,
  grainSet,
  MAX_MASKS,
  popcount32,
  regrid,
} from '../../../src/block/grain-masks.js';

const BS = 65536;
const G = 4096;

describe('grain masks', () => {
  it('cuts a block into grains of 4 KiB, or blockSize / 32, and none when a block is one grain', () => {
    assert.equal(grainBytesOf(65536), 4096);
    assert.equal(grainBytesOf(131072), 4096);
    assert.equal(grainBytesOf(1024 * 1024), 32768);
    assert.equal(grainBytesOf(4096), 0);
    assert.equal(new GrainMasks(4096).maskOfRange(3, 3 * 4096 + 100, 10), new GrainMasks(4096).full);
    assert.equal(new GrainMasks(131072).full, 0xffffffff);
    assert.equal(popcount32(0xffffffff), 32);
    assert.equal(popcount32(0b1011), 3);
  });

  it('maps a byte range to the grains it touches in one block', () => {
    const g = new GrainMasks(BS);
    assert.equal(g.maskOfRange(2, 2 * BS + 3 * G + 1, 1), 1 << 3);
    assert.equal(g.maskOfRange(2, 2 * BS - 10, 20), 1, 'starts in the block before');
    assert.equal(g.maskOfRange(2, 3 * BS - 10, 100), 1 << 15, 'runs into the next block');
    assert.equal(g.maskOfRange(2, 2 * BS + G, 2 * G), 0b110);
    assert.equal(g.maskOfRange(2, 0, 10 * BS), 0xffff);
  });

  it('widens a partly marked block, keeps a whole one whole, and forgets safely', () => {
    const g = new GrainMasks(BS);
    g.mark(1, 0b1, false);
    g.mark(1, 0b100, true);
    assert.equal(g.maskOf(1), 0b101);
    g.mark(2, 0b1, true); // block 2 already whole in the set: stays whole
    assert.equal(g.maskOf(2), 0xffff);
    g.mark(1, 0xfffa, true); // every grain now: whole, no mask kept
    assert.equal(g.size, 0);
    g.mark(3, 0b10, false);
    g.mark(4, 0b10, false);
    g.markWhole(3, 1);
    assert.equal(g.maskOf(3), 0xffff);
    assert.equal(g.maskOf(4), 0b10);
    const c = g.clone();
    g.clear();
    assert.equal(c.maskOf(4), 0b10, 'a clone is its own');
    g.mark(5, 1, false);
    g.mark(6, 1, false);
    g.truncate(6);
    assert.equal(g.maskOf(6), 0xffff);
    assert.ok(MAX_MASKS >= 1 << 16);
  });

  it('unites like its sets: whole in either is whole, partial in both is the union', () => {
    const aSet = new BlockSet(16);
    const bSet = new BlockSet(16);
    const a = new GrainMasks(BS);
    const b = new GrainMasks(BS);
    for (const [set, masks, blk, m] of [
      [aSet, a, 1, 0b1], // partial in both
      [bSet, b, 1, 0b10],
      [aSet, a, 2, 0b1], // partial here, whole there
      [bSet, b, 2, 0xffff],
      [bSet, b, 3, 0b100], // only there
      [aSet, a, 4, 0b1000], // only here
    ] as const) {
      masks.mark(blk, m, set.has(blk));
      set.add(blk);
    }
    a.union(
      b,
      (x) => aSet.has(x),
      (x) => bSet.has(x),
    );
    aSet.union(bSet);
    assert.deepEqual(
      [1, 2, 3, 4].map((x) => a.maskOf(x)),
      [0b11, 0xffff, 0b100, 0b1000],
    );
  });
});

describe('grain sets', () => {
  it('expands blocks to grains (masks where known) and regrids between units', () => {
    const set = new BlockSet(4);
    const g = new GrainMasks(BS);
    set.add(1);
    set.add(2);
    g.mark(2, 0b101, false);
    const fine = grainSet(set, g, 4 * BS - 100); // the last block is cut short
    assert.equal(fine.sizeBlocks, 64);
    assert.deepEqual(
      [...fine.runs()],
      [
        { start: 16, count: 17 }, // block 1 whole, then grain 0 of block 2
        { start: 34, count: 1 },
      ],
    );
    const coarse = regrid(fine, G, BS, 4 * BS);
    assert.deepEqual([...coarse.runs()], [{ start: 1, count: 2 }]);
    assert.deepEqual([...regrid(coarse, BS, G, 4 * BS).runs()], [{ start: 16, count: 32 }]);
    assert.equal(regrid(fine, G, G, 4 * BS), fine);
  });
});
