/**
 * The ObjectStore conformance suite (STYLE.md point 5): every implementation of
 * src/objectstore/types.ts runs these, so the backup engine can rely on one meaning of
 * "store" whether it writes to a directory or to S3.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isReboundError } from '../../src/errors.js';
import type { ObjectInfo, ObjectStore } from '../../src/objectstore/index.js';

export interface StoreFixture {
  store: ObjectStore;
  /** Close the store and remove what the fixture created. */
  close(): Promise<void>;
}

export interface ConformanceOptions {
  /** Keys for the pagination test: more than one S3 page (1000). Default 1100. */
  manyKeys?: number;
}

/** `open()` returns a fresh, empty store each time. */
export function objectStoreConformance(
  name: string,
  open: () => Promise<StoreFixture>,
  options: ConformanceOptions = {},
): void {
  const manyKeys = options.manyKeys ?? 1100;

  async function withStore(fn: (s: ObjectStore) => Promise<void>): Promise<void> {
    const fx = await open();
    try {
      await fn(fx.store);
    } finally {
      await fx.close();
    }
  }

  async function keysOf(s: ObjectStore, prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const o of s.list(prefix)) out.push(o.key);
    return out;
  }

  async function rejectsWith(p: Promise<unknown>, code: string, mentions?: string): Promise<void> {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(isReboundError(err), `expected a ReboundError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      if (mentions !== undefined)
        assert.ok(err.message.includes(mentions), `"${err.message}" names ${mentions}`);
      return true;
    });
  }

  describe(`${name}: ObjectStore conformance`, () => {
    it('has a description', () =>
      withStore(async (s) => {
        assert.equal(typeof s.description, 'string');
        assert.ok(s.description.length > 0);
      }));

    it('round-trips objects: empty, small, 3 MiB of random bytes; head gives the size', () =>
      withStore(async (s) => {
        const big = randomBytes(3 * 1024 * 1024 + 17);
        await s.put('rt/empty', Buffer.alloc(0));
        await s.put('rt/small', Buffer.from('hello, object'));
        await s.put('rt/big.bin', big);
        assert.deepEqual(await s.get('rt/empty'), Buffer.alloc(0));
        assert.equal((await s.get('rt/small')).toString(), 'hello, object');
        assert.ok((await s.get('rt/big.bin')).equals(big));
        assert.deepEqual(await s.head('rt/empty'), { key: 'rt/empty', sizeBytes: 0 });
        assert.deepEqual(await s.head('rt/big.bin'), { key: 'rt/big.bin', sizeBytes: big.length });
        assert.equal(await s.head('rt/missing'), undefined);
        assert.equal(await s.head('rt'), undefined, 'a prefix of keys is not an object');
      }));

    it('reads ranges: inside, to the end, past the end, at and beyond the end, zero-length', () =>
      withStore(async (s) => {
        const body = Buffer.alloc(10_000);
        for (let i = 0; i < body.length; i++) body[i] = (i * 31 + 7) & 0xff;
        await s.put('r/obj', body);
        const get = (offset: number, length: number) => s.get('r/obj', { offset, length });
        assert.ok((await get(0, 100)).equals(body.subarray(0, 100)));
        assert.ok((await get(4096, 4096)).equals(body.subarray(4096, 8192)));
        assert.ok((await get(9000, 1000)).equals(body.subarray(9000)), 'exactly to the end');
        assert.ok((await get(9990, 4096)).equals(body.subarray(9990)), 'past the end: what exists');
        assert.ok((await get(0, 1_000_000)).equals(body), 'longer than the object');
        assert.deepEqual(await get(10_000, 10), Buffer.alloc(0), 'starting at the end');
        assert.deepEqual(await get(50_000, 10), Buffer.alloc(0), 'starting past the end');
        assert.deepEqual(await get(500, 0), Buffer.alloc(0), 'zero length');
        await s.put('r/empty', Buffer.alloc(0));
        assert.deepEqual(await s.get('r/empty', { offset: 0, length: 10 }), Buffer.alloc(0));
      }));

    it('rejects bad ranges with INVALID_ARGUMENT', () =>
      withStore(async (s) => {
        await s.put('r/x', Buffer.from('x'));
        for (const range of [
          { offset: -1, length: 1 },
          { offset: 0, length: -1 },
          { offset: 0.5, length: 1 },
          { offset: 0, length: Number.NaN },
        ]) {
          await rejectsWith(s.get('r/x', range), 'INVALID_ARGUMENT');
        }
      }));

    it('fails a read of a missing key with OBJECT_NOT_FOUND naming the key, ranged or not', () =>
      withStore(async (s) => {
        await s.put('gen/1/present', Buffer.from('x'));
        await rejectsWith(s.get('gen/1/absent'), 'OBJECT_NOT_FOUND', 'gen/1/absent');
        await rejectsWith(
          s.get('gen/1/absent', { offset: 0, length: 10 }),
          'OBJECT_NOT_FOUND',
          'gen/1/absent',
        );
        await rejectsWith(
          s.get('gen/1/absent', { offset: 5, length: 0 }),
          'OBJECT_NOT_FOUND',
          'gen/1/absent',
        );
        await rejectsWith(s.get('gen/1'), 'OBJECT_NOT_FOUND', 'gen/1');
        await rejectsWith(s.get('gen/1/present/below'), 'OBJECT_NOT_FOUND', 'gen/1/present/below');
        await assert.rejects(s.get('nowhere'), (err: unknown) => {
          assert.ok(isReboundError(err, 'OBJECT_NOT_FOUND'));
          assert.equal(err.detail?.key, 'nowhere');
          return true;
        });
      }));

    it('is write-once: a second put fails ALREADY_EXISTS and keeps the old bytes', () =>
      withStore(async (s) => {
        await s.put('once/k', Buffer.from('first'));
        await rejectsWith(s.put('once/k', Buffer.from('second, longer')), 'ALREADY_EXISTS', 'once/k');
        await rejectsWith(s.put('once/k', Buffer.from('first')), 'ALREADY_EXISTS', 'once/k');
        await rejectsWith(s.put('once/k', Buffer.alloc(0)), 'ALREADY_EXISTS');
        assert.equal((await s.get('once/k')).toString(), 'first');
        assert.deepEqual(await s.head('once/k'), { key: 'once/k', sizeBytes: 5 });
      }));

    it('lets exactly one of many concurrent puts of one key win, and keeps its bytes', () =>
      withStore(async (s) => {
        const bodies = Array.from({ length: 8 }, (_, i) => Buffer.alloc(64 * 1024 + i, 0x41 + i));
        const results = await Promise.allSettled(bodies.map((b) => s.put('race/k', b)));
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        assert.equal(won.length, 1, `exactly one winner, got ${won.length}`);
        for (const r of results) {
          if (r.status === 'rejected')
            assert.ok(isReboundError(r.reason, 'ALREADY_EXISTS'), String(r.reason));
        }
        assert.ok((await s.get('race/k')).equals(bodies[won[0]]));
      }));

    it('stores concurrent puts of distinct keys', () =>
      withStore(async (s) => {
        const keys = Array.from({ length: 64 }, (_, i) => `par/${String(i).padStart(3, '0')}`);
        await Promise.all(keys.map((k, i) => s.put(k, Buffer.alloc(1000 + i, i))));
        assert.deepEqual(await keysOf(s, 'par/'), keys);
        const back = await Promise.all(keys.map((k) => s.get(k)));
        for (const [i, b] of back.entries()) assert.ok(b.equals(Buffer.alloc(1000 + i, i)));
      }));

    it('never shows a partial object to a reader during a put', () =>
      withStore(async (s) => {
        const body = randomBytes(8 * 1024 * 1024);
        let done = false;
        const writer = s.put('atomic/k', body).finally(() => {
          done = true;
        });
        let seen = 0;
        while (!done) {
          const info = await s.head('atomic/k');
          if (info !== undefined) assert.equal(info.sizeBytes, body.length, 'head during put');
          try {
            const got = await s.get('atomic/k', { offset: 0, length: body.length });
            assert.equal(got.length, body.length, 'get during put');
            seen++;
          } catch (err) {
            assert.ok(isReboundError(err, 'OBJECT_NOT_FOUND'), String(err));
          }
        }
        await writer;
        assert.ok((await s.get('atomic/k')).equals(body));
        assert.ok(seen >= 0);
      }));

    it('lists keys in lexicographic order, each once, with sizes, filtered by prefix', () =>
      withStore(async (s) => {
        // '-' < '.' < '/' < '0': a "directory" a/ sorts after a.c and before a0.
        const keys = ['b', 'a0', 'a/y/z', 'a.c', 'a-b', 'a/x', 'ab/c', 'a/y-', 'a/y/a', 'A', '_u', 'a/y.q'];
        await Promise.all(keys.map((k) => s.put(k, Buffer.alloc(k.length, 1))));
        const sorted = [...keys].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
        const all: ObjectInfo[] = [];
        for await (const o of s.list('')) all.push(o);
        assert.deepEqual(
          all.map((o) => o.key),
          sorted,
        );
        for (const o of all) assert.equal(o.sizeBytes, o.key.length);
        assert.deepEqual(await keysOf(s, 'a/'), ['a/x', 'a/y-', 'a/y.q', 'a/y/a', 'a/y/z']);
        assert.deepEqual(await keysOf(s, 'a/y'), ['a/y-', 'a/y.q', 'a/y/a', 'a/y/z']);
        assert.deepEqual(await keysOf(s, 'a/y/'), ['a/y/a', 'a/y/z']);
        assert.deepEqual(
          await keysOf(s, 'a'),
          sorted.filter((k) => k.startsWith('a')),
        );
        assert.deepEqual(await keysOf(s, 'a/x'), ['a/x']);
        assert.deepEqual(await keysOf(s, 'a/x/'), []);
        assert.deepEqual(await keysOf(s, 'zz'), []);
        assert.deepEqual(await keysOf(s, 'nothing/here/'), []);
      }));

    it(`lists ${manyKeys} keys (more than one S3 page) in order, each once`, () =>
      withStore(async (s) => {
        const keys = Array.from({ length: manyKeys }, (_, i) => `many/${String(i).padStart(5, '0')}`);
        // Shuffled, so the order listed is the store's doing.
        const shuffled = [...keys].sort(() => Math.random() - 0.5);
        const queue = [...shuffled];
        await Promise.all(
          Array.from({ length: 16 }, async () => {
            for (let k = queue.pop(); k !== undefined; k = queue.pop()) await s.put(k, Buffer.from(k));
          }),
        );
        await s.put('manz', Buffer.from('after the prefix'));
        await s.put('man', Buffer.from('before the prefix'));
        assert.deepEqual(await keysOf(s, 'many/'), keys);
        assert.deepEqual(await keysOf(s, 'many/001'), keys.slice(100, 200));
      }));

    it('deletes idempotently; a deleted key reads as missing and can be written again', () =>
      withStore(async (s) => {
        await s.put('del/a/b', Buffer.from('x'));
        await s.put('del/keep', Buffer.from('y'));
        await s.delete('del/a/b');
        assert.equal(await s.head('del/a/b'), undefined);
        await rejectsWith(s.get('del/a/b'), 'OBJECT_NOT_FOUND', 'del/a/b');
        assert.deepEqual(await keysOf(s, 'del/'), ['del/keep']);
        await s.delete('del/a/b');
        await s.delete('del/never/was');
        await s.delete('del'); // a prefix, not an object
        await s.put('del/a/b', Buffer.from('again'));
        assert.equal((await s.get('del/a/b')).toString(), 'again');
        assert.equal((await s.get('del/keep')).toString(), 'y');
      }));

    it('accepts every key the contract allows, up to 1024 bytes', () =>
      withStore(async (s) => {
        const segment = 'S'.repeat(100);
        const longest = `${Array.from({ length: 10 }, () => segment).join('/')}/${'e'.repeat(14)}`;
        assert.equal(Buffer.byteLength(longest), 1024);
        const keys = ['ABC-xyz_0.9', '.hidden', 'a/.b/c-', '...', 'x/y.z/_', longest, 'n'.repeat(255)];
        for (const k of keys) await s.put(k, Buffer.from(k));
        for (const k of keys) assert.equal((await s.get(k)).toString(), k);
        assert.deepEqual(
          await keysOf(s, ''),
          [...keys].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)),
        );
      }));

    it('rejects bad keys and prefixes with INVALID_ARGUMENT on every operation', () =>
      withStore(async (s) => {
        const bad = [
          '',
          '/abs',
          '..',
          'a/../b',
          'a/..',
          '.',
          './a',
          'a//b',
          'a/',
          'sp ace',
          'back\\slash',
          'ümlaut',
          'nul\0',
          'q?x=1',
          'a'.repeat(1025),
          `${'s'.repeat(256)}/x`,
        ];
        for (const k of bad) {
          await rejectsWith(s.put(k, Buffer.from('x')), 'INVALID_ARGUMENT');
          await rejectsWith(s.get(k), 'INVALID_ARGUMENT');
          await rejectsWith(s.head(k), 'INVALID_ARGUMENT');
          await rejectsWith(s.delete(k), 'INVALID_ARGUMENT');
        }
        await rejectsWith(s.put(123 as unknown as string, Buffer.from('x')), 'INVALID_ARGUMENT');
        await rejectsWith(s.put('ok', 'text' as unknown as Buffer), 'INVALID_ARGUMENT');
        await rejectsWith(keysOf(s, 'sp ace'), 'INVALID_ARGUMENT');
        assert.deepEqual(await keysOf(s, ''), [], 'nothing was written');
      }));
  });
}
