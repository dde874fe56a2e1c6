/** ReplyBuffers: READ replies' data buffers, used again once written. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplyBuffers } from '../../../src/nbd/reply-buffers.js';

describe('ReplyBuffers', () => {
  it('hands out the exact length, and a given-back buffer to the next read of its size', () => {
    const pool = new ReplyBuffers();
    const a = pool.take(70_656);
    assert.equal(a.length, 70_656);
    assert.equal(a.buffer.byteLength, 131_072); // the power of two above
    a.fill(0xab);
    pool.give(a);
    assert.equal(pool.keptBytes, 131_072);
    const b = pool.take(100_000);
    assert.equal(b.buffer, a.buffer, 'the same memory again');
    assert.equal(b.length, 100_000);
    assert.equal(pool.keptBytes, 0);
    const c = pool.take(100);
    assert.equal(c.buffer.byteLength, 4096);
    assert.notEqual(c.buffer, a.buffer, 'another size, another buffer');
  });

  it('never hands one buffer to two reads: a buffer given back twice is kept once', () => {
    const pool = new ReplyBuffers();
    const a = pool.take(4096);
    pool.give(a);
    pool.give(a);
    assert.equal(pool.keptBytes, 4096);
    const b = pool.take(4096);
    const c = pool.take(4096);
    assert.equal(b.buffer, a.buffer);
    assert.notEqual(c.buffer, b.buffer);
    // Given back while it was out, then twice more: still one copy waiting.
    pool.give(b);
    pool.give(b);
    assert.equal(pool.keptBytes, 4096);
  });

  it("keeps nothing it did not make (Node's shared slab), and nothing past its cap", () => {
    const pool = new ReplyBuffers(8192);
    pool.give(Buffer.allocUnsafe(100)); // a view of Node's 8 KiB slab
    pool.give(Buffer.alloc(4096));
    assert.equal(pool.keptBytes, 0);
    const bufs = [pool.take(4096), pool.take(4096), pool.take(4096)];
    for (const b of bufs) pool.give(b);
    assert.equal(pool.keptBytes, 8192, 'the third is left to the collector');
  });
});
