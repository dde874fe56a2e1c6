import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlockSet } from '../../../src/block/block-set.js';

describe('BlockSet', () => {
  it('sets, tests, counts and lists runs', () => {
    const s = new BlockSet(100);
    assert.equal(s.add(3), true);
    assert.equal(s.add(3), false);
    s.addRange(10, 20);
    s.add(99);
    assert.equal(s.count(), 22);
    assert.ok(s.has(29) && !s.has(30) && !s.has(9));
    assert.deepEqual(
      [...s.runs()],
      [
        { start: 3, count: 1 },
        { start: 10, count: 20 },
        { start: 99, count: 1 },
      ],
    );
    assert.deepEqual([...s.runs(15, 20)], [{ start: 15, count: 15 }]);
    assert.ok(s.hasAny(25, 100) && !s.hasAny(30, 60));
  });

  it('unions, clones and clears independently', () => {
    const a = new BlockSet(64);
    const b = new BlockSet(64);
    a.add(1);
    b.add(63);
    const c = a.clone().union(b);
    assert.equal(c.count(), 2);
    a.clear();
    assert.equal(a.count(), 0);
    assert.equal(c.count(), 2);
  });

  it('encodes and decodes, and rejects foreign bytes', () => {
    const s = new BlockSet(1001);
    s.addRange(0, 9);
    s.add(1000);
    const back = BlockSet.decode(s.encode());
    assert.equal(back.sizeBlocks, 1001);
    assert.deepEqual([...back.runs()], [...s.runs()]);
    assert.throws(() => BlockSet.decode(Buffer.from('not a bitmap at all')));
  });

  it('resizes: grown blocks start clear, a shrink forgets the tail', () => {
    const s = new BlockSet(20);
    s.addRange(0, 20);
    s.resize(13);
    assert.equal(s.count(), 13);
    s.resize(40);
    assert.equal(s.count(), 13);
    assert.ok(!s.has(20));
  });

  it('addRange matches setting bits one at a time (every start and length)', () => {
    for (let start = 0; start < 20; start++) {
      for (let n = 0; n < 30; n++) {
        const a = new BlockSet(64);
        const b = new BlockSet(64);
        a.addRange(start, n);
        for (let i = start; i < start + n; i++) b.add(i);
        assert.deepEqual(a.encode(), b.encode());
      }
    }
  });

  it('nextWith and runs match a bit-by-bit scan (sizes inside a byte, every from and end)', () => {
    // A small LCG: the same sets on every run.
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (const size of [0, 1, 7, 8, 9, 31, 64, 67]) {
      for (const density of [0, 0.1, 0.5, 0.9, 1]) {
        const s = new BlockSet(size);
        for (let i = 0; i < size; i++) if (random() < density) s.add(i);
        const naive = (value: boolean, from: number, end: number) => {
          for (let b = Math.max(0, from); b < Math.min(end, size); b++) if (s.has(b) === value) return b;
          return Math.min(end, size);
        };
        for (let from = 0; from <= size + 2; from++) {
          for (let end = from; end <= size + 2; end++) {
            for (const value of [true, false]) {
              assert.equal(
                s.nextWith(value, from, end),
                naive(value, from, end),
                `${size}/${density}: ${value} in [${from}, ${end})`,
              );
            }
          }
        }
        const bits: number[] = [];
        for (const r of s.runs()) for (let k = 0; k < r.count; k++) bits.push(r.start + k);
        assert.deepEqual(
          bits,
          Array.from({ length: size }, (_, i) => i).filter((i) => s.has(i)),
        );
      }
    }
  });
  it('slice holds exactly the bits of its range, from a byte boundary or not', () => {
    const s = new BlockSet(70);
    for (const b of [0, 3, 7, 8, 15, 16, 17, 40, 63, 64, 69]) s.add(b);
    for (let start = 0; start <= 70; start++) {
      for (let count = 0; start + count <= 70; count++) {
        const part = s.slice(start, count);
        assert.equal(part.sizeBlocks, count);
        const want = Array.from({ length: count }, (_, k) => k).filter((k) => s.has(start + k));
        const got: number[] = [];
        for (const r of part.runs()) for (let k = 0; k < r.count; k++) got.push(r.start + k);
        assert.deepEqual(got, want, `[${start}, +${count})`);
        assert.equal(part.count(), want.length, `count of [${start}, +${count})`);
      }
    }
    assert.throws(() => s.slice(60, 11), RangeError);
  });
});
