/** The block allocator (src/pool/allocator.ts): which free block a write gets. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isReboundError } from '../../../src/errors.js';
import { Allocator } from '../../../src/pool/allocator.js';

/** Allocate and map `n` blocks, as writes do; returns their numbers in order. */
function write(a: Allocator, n: number): number[] {
  const got: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = a.allocate();
    a.mapReserved(p);
    got.push(p);
  }
  return got;
}

/** Unmap `pbns` and let the frees become durable. */
function free(a: Allocator, pbns: number[]): void {
  for (const p of pbns) a.unref(p, 1);
  assert.equal(a.release(1), pbns.length);
}

describe('allocator', () => {
  it('hands out a fresh pool in order, so blocks allocated together are adjacent', () => {
    assert.deepEqual(write(new Allocator(100), 5), [1, 2, 3, 4, 5]);
  });

  it('reuses freed blocks before any block no write has reached', () => {
    const a = new Allocator(100);
    write(a, 10);
    free(a, [7, 3]);
    // Next-fit below the top: the cursor stands after 10, so the search wraps to 3, then 7.
    assert.deepEqual(write(a, 3), [3, 7, 11]);
    assert.equal(a.freeBlocks, 89);
  });

  it('after a reopen (mappings counted again) fills the gaps below the highest mapped block first', () => {
    const a = new Allocator(100);
    for (const p of [2, 5, 9]) a.addRef(p);
    assert.deepEqual(write(a, 8), [1, 3, 4, 6, 7, 8, 10, 11]);
  });

  it('finds a lone free block far away across groups of full ones, in either direction', () => {
    const a = new Allocator(10_000);
    write(a, 9_000);
    free(a, [8_500]);
    assert.equal(write(a, 1)[0], 8_500);
    free(a, [20]); // behind the cursor
    assert.deepEqual(write(a, 2), [20, 9_001]);
  });

  it('counts every block of a pool whose size is not a whole number of groups', () => {
    for (const n of [1, 1023, 1024, 1025, 3000]) {
      const a = new Allocator(n);
      const all = write(a, n);
      assert.deepEqual(
        all,
        Array.from({ length: n }, (_, i) => i + 1),
        `pool of ${n}`,
      );
      assert.throws(
        () => a.allocate(),
        (e) => isReboundError(e, 'POOL_NO_SPACE'),
      );
      const ends = n === 1 ? [1] : [1, n];
      free(a, ends);
      assert.deepEqual(write(a, ends.length), ends, `pool of ${n}`);
    }
  });

  it('gives a quarantined block out only once its free is released, and an unused reservation at once', () => {
    const a = new Allocator(4);
    write(a, 4);
    a.unref(2, 5);
    assert.throws(
      () => a.allocate(),
      (e) => isReboundError(e, 'POOL_NO_SPACE'),
    );
    a.release(5);
    const p = a.allocate();
    assert.equal(p, 2);
    a.unreserve(p);
    assert.equal(a.allocate(), 2);
  });
});
