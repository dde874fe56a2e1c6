// The heat map's buckets: every changed block counted once, in the slice it falls in,
// runs split across slice edges, a short last slice, fewer blocks than buckets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlockSet } from '../../../src/block/block-set.js';
import { bucketBlocks } from '../../../src/manager/heatmap.js';

describe('bucketBlocks', () => {
  it('counts changed blocks per slice, splitting runs at slice edges', () => {
    const set = new BlockSet(1000);
    set.addRange(0, 3); // slice 0
    set.addRange(95, 10); // 5 in slice 0, 5 in slice 1
    set.add(999); // the last slice
    const b = bucketBlocks(set, 10);
    assert.equal(b.blocksPerBucket, 100);
    assert.deepEqual(b.counts, [8, 5, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.equal(
      b.counts.reduce((a, n) => a + n, 0),
      set.count(),
    );
  });

  it('keeps a short last slice and never makes more slices than blocks', () => {
    const set = new BlockSet(10);
    set.addRange(0, 10);
    assert.deepEqual(bucketBlocks(set, 4), { blocksPerBucket: 3, counts: [3, 3, 3, 1] });
    assert.deepEqual(bucketBlocks(set, 256), { blocksPerBucket: 1, counts: new Array(10).fill(1) });
    assert.deepEqual(bucketBlocks(new BlockSet(0), 8), { blocksPerBucket: 0, counts: [] });
  });
});
