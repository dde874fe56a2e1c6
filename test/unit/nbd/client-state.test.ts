/**
 * The NBD client's pure state: the unflushed-writes list (what a reconnect re-sends), the
 * range lock (read-modify-write at a minimum block size), options and backoff, and the
 * mapping of a server's error values to codes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isReboundError } from '../../../src/errors.js';
import { serverError } from '../../../src/nbd/client/errno.js';
import { reconnectDelayMs, resolveClientOptions } from '../../../src/nbd/client/options.js';
import { RangeLock } from '../../../src/nbd/client/range-lock.js';
import { UnflushedWrites } from '../../../src/nbd/client/unflushed.js';

describe('UnflushedWrites', () => {
  it('keeps writes until a flush sent after they completed succeeds', () => {
    const u = new UnflushedWrites();
    const a = u.add(0, 4096, Buffer.alloc(4096), 0, true);
    const b = u.add(8192, 4096, Buffer.alloc(4096), 0, true);
    assert.equal(u.completedBytes, 0);
    u.completed(a);
    const covered = u.coveredByFlush();
    assert.deepEqual(covered, [a]); // b was still in flight: the flush does not cover it
    u.completed(b);
    u.flushed(covered);
    assert.equal(u.size, 1);
    assert.equal(u.bytes, b.costBytes);
    assert.ok(b.costBytes >= 4096);
  });

  it('after a drop, acknowledged entries are stale and come back in completion order', () => {
    const u = new UnflushedWrites();
    const a = u.add(0, 10, Buffer.alloc(10), 0, true);
    const b = u.add(0, 10, Buffer.alloc(10, 1), 0, true);
    const zero = u.add(100, 1 << 30, undefined, 2, false);
    const pending = u.add(50, 10, Buffer.alloc(10), 0, true);
    u.completed(b);
    u.completed(zero);
    u.completed(a); // a completed last: replaying it last keeps the server's final state
    u.connectionLost();
    assert.equal(u.completedBytes, 0);
    assert.deepEqual(u.stale(), [b, zero, a]);
    assert.equal(pending.state, 'pending');
    u.completed(b); // re-sent
    assert.deepEqual(u.stale(), [zero, a]);
    u.remove(pending);
    assert.equal(u.size, 3);
    assert.ok(zero.costBytes < 1024, 'a zero entry holds no data');
  });
});

describe('RangeLock', () => {
  it('serialises overlapping ranges and lets disjoint ones run', async () => {
    const lock = new RangeLock();
    const order: string[] = [];
    const r1 = await lock.lock(0, 4096);
    const disjoint = lock.lock(4096, 8192).then((release) => {
      order.push('disjoint');
      release();
    });
    const overlapping = lock.lock(4095, 4097).then((release) => {
      order.push('overlapping');
      release();
    });
    await disjoint;
    assert.deepEqual(order, ['disjoint']);
    r1();
    await overlapping;
    assert.deepEqual(order, ['disjoint', 'overlapping']);
  });
});

describe('client options', () => {
  it('fills defaults and refuses contradictions', () => {
    const o = resolveClientOptions({ exportName: 'v' });
    assert.deepEqual(o.endpoint, { host: '127.0.0.1', port: 10809 });
    assert.deepEqual(o.metaContexts, ['base:allocation']);
    assert.equal(o.tlsRequired, false);
    assert.equal(resolveClientOptions({ exportName: 'v', tls: { x509: { ca: '' } } }).tlsRequired, true);
    assert.equal(resolveClientOptions({ exportName: 'v', reconnect: false }).reconnect, false);
    assert.throws(
      () => resolveClientOptions({ exportName: 'v', path: '/s', port: 1 }),
      (e) => isReboundError(e, 'INVALID_ARGUMENT'),
    );
    assert.throws(
      () => resolveClientOptions({ exportName: 'v', tlsRequired: true }),
      (e) => isReboundError(e, 'INVALID_ARGUMENT'),
    );
    assert.throws(() => resolveClientOptions({ exportName: 'v', maxInFlight: 0 }), /maxInFlight/);
  });

  it('backs off by doubling up to the cap', () => {
    const p = { maxAttempts: 10, initialDelayMs: 100, maxDelayMs: 1000, maxElapsedMs: 10_000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 60].map((a) => reconnectDelayMs(p, a)),
      [100, 200, 400, 800, 1000, 1000],
    );
  });
});

describe('server errors', () => {
  const ctx = { command: 'WRITE', offset: 0, length: 4096, sizeBytes: 1 << 20 };
  it('map by the inverse of the errno column, refined by the range', () => {
    const code = (errno: number, c = ctx) => serverError({ errno, message: 'm' }, c).code;
    assert.equal(code(5), 'IO_ERROR');
    assert.equal(code(28), 'POOL_NO_SPACE');
    assert.equal(code(1), 'READ_ONLY');
    assert.equal(code(22), 'INVALID_ARGUMENT');
    assert.equal(code(95), 'NOT_SUPPORTED');
    assert.equal(code(108), 'VOLUME_FENCED');
    assert.equal(code(12345), 'INVALID_ARGUMENT'); // unknown values count as EINVAL
    const past = { ...ctx, offset: (1 << 20) - 100 };
    assert.equal(code(28, past), 'OUT_OF_RANGE');
    assert.equal(code(22, past), 'OUT_OF_RANGE');
    const e = serverError({ errno: 5, message: 'disk on fire', offset: 512 }, ctx);
    assert.match(e.message, /WRITE \[0, \+4096\) failed with EIO at 512: disk on fire/);
    assert.equal(e.detail?.errno, 5);
  });
});
