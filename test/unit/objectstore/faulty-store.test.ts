import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isReboundError, isRetryable } from '../../../src/errors.js';
import { DirectoryStore, FaultyStore } from '../../../src/objectstore/index.js';
import { objectStoreConformance } from '../../helpers/objectstore-conformance.js';

async function withFaulty(
  fn: (s: FaultyStore, inner: DirectoryStore) => Promise<void>,
  options?: ConstructorParameters<typeof FaultyStore>[1],
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rebound-faulty-'));
  const inner = new DirectoryStore(dir);
  try {
    await fn(new FaultyStore(inner, options), inner);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// With nothing armed it is the store it wraps.
objectStoreConformance(
  'FaultyStore (disarmed) over DirectoryStore',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rebound-faulty-'));
    return {
      store: new FaultyStore(new DirectoryStore(dir)),
      close: () => rm(dir, { recursive: true, force: true }),
    };
  },
  { manyKeys: 1001 },
);

describe('FaultyStore', () => {
  it('fails the next n calls with a retryable IO_ERROR naming the key, then works', () =>
    withFaulty(
      async (s) => {
        await assert.rejects(s.put('a', Buffer.from('1')), (err: unknown) => {
          assert.ok(isReboundError(err, 'IO_ERROR') && isRetryable(err));
          assert.match(err.message, /put a/);
          return true;
        });
        await assert.rejects(s.head('a'), (err: unknown) => isReboundError(err, 'IO_ERROR'));
        await s.put('a', Buffer.from('1'));
        assert.equal((await s.get('a')).toString(), '1');
        assert.equal(s.injected.length, 2);
        assert.deepEqual(s.calls, { put: 2, get: 1, head: 1, list: 0, delete: 0 });
      },
      { failNext: 2 },
    ));

  it('matches faults by operation and key pattern, with the code asked for', () =>
    withFaulty(async (s, inner) => {
      s.failNext({ ops: ['get'], key: /^data\//, count: 2, code: 'STORE_UNREACHABLE' });
      await s.put('data/1', Buffer.from('d'));
      await s.put('meta/1', Buffer.from('m'));
      assert.equal((await s.get('meta/1')).toString(), 'm');
      await assert.rejects(s.get('data/1'), (err: unknown) => isReboundError(err, 'STORE_UNREACHABLE'));
      await assert.rejects(s.get('data/1'), (err: unknown) => isReboundError(err, 'STORE_UNREACHABLE'));
      assert.equal((await s.get('data/1')).toString(), 'd');
      assert.equal(s.pendingFaults, 0);
      assert.equal((await inner.get('data/1')).toString(), 'd');
    }));

  it("an 'after' fault lets the put land and loses the answer (a retry then sees ALREADY_EXISTS)", () =>
    withFaulty(async (s, inner) => {
      s.failNext({ ops: ['put'], when: 'after' });
      await assert.rejects(s.put('k', Buffer.from('v')), (err: unknown) => isReboundError(err, 'IO_ERROR'));
      assert.deepEqual(await inner.head('k'), { key: 'k', sizeBytes: 1 });
      await assert.rejects(s.put('k', Buffer.from('v')), (err: unknown) =>
        isReboundError(err, 'ALREADY_EXISTS'),
      );
    }));

  it('corrupts reads (store intact) or writes (store damaged), flipping one byte or truncating', () =>
    withFaulty(async (s, inner) => {
      const body = Buffer.alloc(100, 7);
      await s.put('x', body);
      s.corrupt({ key: 'x' });
      const bad = await s.get('x');
      assert.equal(bad.length, 100);
      assert.equal(bad[50], 7 ^ 0xff);
      assert.ok((await inner.get('x')).equals(body), 'stored object untouched');
      s.corrupt({ key: 'x', offset: 10 });
      assert.equal(
        (await s.get('x', { offset: 5, length: 10 }))[5],
        7 ^ 0xff,
        'offset counted in the object',
      );
      s.corrupt({ mode: 'truncate' });
      assert.equal((await s.get('x')).length, 50);
      s.corrupt({ on: 'put', key: /^y/ });
      await s.put('y', body);
      await s.put('z', body);
      assert.equal((await inner.get('y'))[50], 7 ^ 0xff);
      assert.ok((await inner.get('z')).equals(body));
      assert.equal(body[50], 7, "the caller's buffer is not touched");
      s.reset();
      assert.ok((await s.get('x')).equals(body));
    }));

  it('delays calls through an injectable timer', () => {
    const slept: number[] = [];
    return withFaulty(
      async (s) => {
        await s.put('k', Buffer.from('v'));
        await s.get('k');
        assert.deepEqual(
          slept,
          [0, 25].filter((ms) => ms > 0),
        );
      },
      { delayMs: (op) => (op === 'get' ? 25 : 0), sleep: async (ms) => slept.push(ms) },
    );
  });

  it('a list fault after the first entry breaks the listing off', () =>
    withFaulty(async (s) => {
      await s.put('l/1', Buffer.from('1'));
      await s.put('l/2', Buffer.from('2'));
      s.failNext({ ops: ['list'], when: 'after' });
      const seen: string[] = [];
      await assert.rejects(
        async () => {
          for await (const o of s.list('l/')) seen.push(o.key);
        },
        (err: unknown) => isReboundError(err, 'IO_ERROR'),
      );
      assert.deepEqual(seen, ['l/1']);
    }));
});
