/**
 * GrainHashMemo: a hash a copy's read kept is given out once, only while it still
 * describes its grain (volume/hash-memo.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GrainHashMemo, MemoBudget, STALE_MS } from '../../../src/volume/hash-memo.js';

const h = (n: number) => Buffer.alloc(32, n);
const hashes = (...ns: number[]) => Buffer.concat(ns.map(h));
/** The hash `m` gives for `grain` at `where`, or undefined (take copies it into a buffer of ours). */
const take = (m: GrainHashMemo, grain: number, where: number) => {
  const out = Buffer.alloc(40, 0xee);
  if (!m.take(grain, where, out, 4)) {
    assert.ok(
      out.every((b) => b === 0xee),
      'a miss writes nothing',
    );
    return undefined;
  }
  assert.ok(out.subarray(0, 4).every((b) => b === 0xee) && out.subarray(36).every((b) => b === 0xee));
  return out.subarray(4, 36);
};

describe('GrainHashMemo', () => {
  it('gives a kept hash once, and only while the grain is where it was read', () => {
    const m = new GrainHashMemo(new MemoBudget(1024));
    assert.ok(m.begin([3, 4, 9]));
    m.end([3, 4, 9], [100, 200, 300], hashes(3, 4, 9));
    assert.equal(m.size, 3);
    assert.deepEqual(take(m, 3, 100), h(3));
    assert.equal(take(m, 3, 100), undefined, 'given once');
    assert.equal(take(m, 4, 999), undefined, 'moved (a revert, a resize): a miss');
    assert.equal(take(m, 4, 200), undefined, 'and dropped');
    assert.deepEqual(take(m, 9, 300), h(9));
    assert.equal(m.size, 0);
  });

  it('drops what a write spoils, kept already or still being read', () => {
    const m = new GrainHashMemo(new MemoBudget(1024));
    m.begin([1, 2]);
    m.end([1, 2], [10, 20], hashes(1, 2));
    m.spoil(2, 1);
    assert.deepEqual(take(m, 1, 10), h(1));
    assert.equal(take(m, 2, 20), undefined, 'written after it was read');

    // A write while the read is in flight: the worker may have read before or after it.
    m.begin([5, 6, 7]);
    m.spoil(6, 1);
    m.end([5, 6, 7], [50, 60, 70], hashes(5, 6, 7));
    assert.deepEqual(take(m, 5, 50), h(5));
    assert.equal(take(m, 6, 60), undefined, 'spoiled in flight: not kept');
    assert.deepEqual(take(m, 7, 70), h(7));

    // The spoil ends with the read: the next read of the grain keeps it again.
    m.begin([6]);
    m.end([6], [61], hashes(6));
    assert.deepEqual(take(m, 6, 61), h(6));
  });

  it('a long write over few kept grains spoils them as a short one does', () => {
    const m = new GrainHashMemo(new MemoBudget(1024));
    m.begin([10, 1000, 5000]);
    m.end([10, 1000, 5000], [1, 2, 3], hashes(1, 2, 3));
    m.begin([2000]);
    m.spoil(500, 100_000); // longer than everything kept and in flight: walks the maps instead
    m.end([2000], [4], hashes(4));
    assert.deepEqual(take(m, 10, 1), h(1));
    assert.equal(take(m, 1000, 2), undefined);
    assert.equal(take(m, 5000, 3), undefined);
    assert.equal(take(m, 2000, 4), undefined);
  });

  it('keeps nothing of a failed read, and nothing past the budget the memos of a node share', () => {
    const budget = new MemoBudget(4);
    const m = new GrainHashMemo(budget);
    assert.ok(m.begin([1, 2]));
    m.end([1, 2], [1, 2], null);
    assert.equal(m.size, 0);
    assert.ok(m.begin([1, 2, 3]));
    assert.equal(m.begin([4, 5]), false, 'over the cap: the read keeps nothing');
    m.end([1, 2, 3], [1, 2, 3], hashes(1, 2, 3));
    assert.equal(m.size, 3);
    assert.equal(m.begin([]), false);
    // Another volume's memo on the same node has one grain left of the budget.
    const other = new GrainHashMemo(budget);
    assert.equal(other.begin([7, 8]), false);
    assert.ok(other.begin([7]));
    other.end([7], [70], hashes(7));
    assert.equal(budget.used, 4);
    // Given out, they free the budget.
    for (const g of [1, 2, 3]) assert.deepEqual(take(m, g, g), h(g));
    assert.deepEqual(take(other, 7, 70), h(7));
    assert.equal(budget.used, 0);
  });

  it('gives way to a new copy once what another memo kept is stale, and a cleared memo frees its share', () => {
    let now = 0;
    const budget = new MemoBudget(4, () => now);
    const old = new GrainHashMemo(budget);
    old.begin([1, 2, 3]);
    old.end([1, 2, 3], [1, 2, 3], hashes(1, 2, 3)); // a copy whose verify never came
    const next = new GrainHashMemo(budget);
    now = STALE_MS - 1;
    assert.equal(next.begin([5, 6]), false, 'not stale yet: the new copy keeps nothing');
    now = STALE_MS + 1;
    assert.ok(next.begin([5, 6]), 'stale: dropped for the new copy');
    assert.equal(old.size, 0);
    assert.equal(take(old, 1, 1), undefined);
    next.end([5, 6], [5, 6], hashes(5, 6));
    assert.equal(budget.used, 2);
    next.clear(); // its volume deleted
    assert.equal(budget.used, 0);
    assert.equal(take(next, 5, 5), undefined);
  });
});
