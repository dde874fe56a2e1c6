// A failback verify's set of blocks: the secondary's changes and the primary's drift,
// which two pools may track at different grains, joined in the first one's unit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlockSet } from '../../../src/block/block-set.js';
import { unionChanged } from '../../../src/manager/compare.js';

const KiB = 1024;

function setOf(size: number, ...runs: [number, number][]): BlockSet {
  const s = new BlockSet(size);
  for (const [start, count] of runs) s.addRange(start, count);
  return s;
}

describe('unionChanged', () => {
  it('adds the blocks of the same unit as they are, leaving both sets untouched', () => {
    const a = { set: setOf(64, [0, 2]), blockBytes: 4 * KiB };
    const b = { set: setOf(64, [1, 3], [40, 1]), blockBytes: 4 * KiB };
    const u = unionChanged(a, b);
    assert.deepEqual(
      [...u.set.runs()],
      [
        { start: 0, count: 4 },
        { start: 40, count: 1 },
      ],
    );
    assert.equal(u.blockBytes, 4 * KiB);
    assert.equal(a.set.count(), 2);
  });

  it('marks every block of the first unit that a block of the second overlaps', () => {
    // 64 KiB block 1 covers 4 KiB grains 16-31; a 64 KiB set of 4 KiB grains 5 and 17
    // becomes blocks 0 and 1.
    const grains = { set: setOf(48, [40, 1]), blockBytes: 4 * KiB };
    const blocks = { set: setOf(3, [1, 1]), blockBytes: 64 * KiB };
    assert.deepEqual(
      [...unionChanged(grains, blocks).set.runs()],
      [
        { start: 16, count: 16 },
        { start: 40, count: 1 },
      ],
    );
    const back = unionChanged(
      { set: setOf(3), blockBytes: 64 * KiB },
      { set: setOf(48, [5, 1], [17, 1]), blockBytes: 4 * KiB },
    );
    assert.deepEqual([...back.set.runs()], [{ start: 0, count: 2 }]);
  });
});
