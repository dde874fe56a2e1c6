/**
 * S3Store against a real S3 server: Ceph's radosgw on a single node on loopback,
 * started by scripts/ceph-rgw.sh on free ports and stopped afterwards. Runs the
 * ObjectStore conformance suite, then the S3-only cases: wrong secret, endpoint down or
 * silent, missing bucket, bucket created on demand.
 *
 * Requires Debian's ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl; without
 * them this test fails (it never skips) and says so.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { isReboundError } from '../../src/errors.js';
import { openStore, S3Store, type S3StoreOptions } from '../../src/objectstore/index.js';
import { objectStoreConformance } from '../helpers/objectstore-conformance.js';
import { freePort, type Rgw, setBucketQuota, startRgw, stopRgw } from '../helpers/radosgw.js';
import { startSilentEndpoint, startTcpProxy } from '../helpers/tcp-proxy.js';

let rgw: Rgw | undefined;

let buckets = 0;
function bucketName(): string {
  return `rebound-t${++buckets}-${randomBytes(3).toString('hex')}`;
}

function options(extra: Partial<S3StoreOptions> = {}): S3StoreOptions {
  assert.ok(rgw, 'radosgw is running');
  return {
    endpoint: rgw.endpoint,
    region: rgw.region,
    bucket: bucketName(),
    accessKeyId: rgw.accessKeyId,
    secretAccessKey: rgw.secretAccessKey,
    maxConcurrency: 16,
    ...extra,
  };
}

function expectCode(code: string, mentions?: string) {
  return (err: unknown): boolean => {
    assert.ok(isReboundError(err), `expected a ReboundError, got ${inspect(err)}`);
    assert.equal(err.code, code, err.message);
    if (mentions !== undefined)
      assert.ok(err.message.includes(mentions), `"${err.message}" names ${mentions}`);
    if (rgw)
      assert.ok(!inspect(err, { depth: 20 }).includes(rgw.secretAccessKey), 'the secret is not in the error');
    return true;
  };
}

before(
  async () => {
    rgw = await startRgw();
    console.log(`radosgw ready at ${rgw.endpoint} after ${rgw.readyAfterS} s`);
  },
  { timeout: 90_000 },
);

after(() => stopRgw(rgw));

objectStoreConformance('S3Store on radosgw', async () => {
  const store = await openStore({ kind: 's3', ...options({ createBucket: true }) });
  return { store, close: () => store.close() };
});

describe('S3Store on radosgw: S3 specifics', () => {
  it('refuses a wrong secret with STORE_AUTH on every operation, without showing the secret', async () => {
    const good = new S3Store(options({ createBucket: true }));
    await good.ensureBucket();
    await good.put('k', Buffer.from('x'));
    const secret = `${rgw!.secretAccessKey.slice(0, -4)}XXXX`;
    const bad = new S3Store({ ...options(), bucket: good.bucket, secretAccessKey: secret });
    try {
      await assert.rejects(bad.put('k2', Buffer.from('x')), expectCode('STORE_AUTH'));
      await assert.rejects(bad.get('k'), expectCode('STORE_AUTH'));
      await assert.rejects(bad.get('k', { offset: 0, length: 1 }), expectCode('STORE_AUTH'));
      await assert.rejects(bad.head('k'), expectCode('STORE_AUTH'));
      await assert.rejects(bad.delete('k'), expectCode('STORE_AUTH'));
      await assert.rejects(async () => {
        for await (const _ of bad.list('')) {
        }
      }, expectCode('STORE_AUTH'));
      assert.ok(!bad.description.includes(secret) && !inspect(bad, { depth: 20 }).includes(secret));
      assert.equal((await good.get('k')).toString(), 'x', 'nothing changed');
    } finally {
      await good.close();
      await bad.close();
    }
  });

  it('reports an endpoint that refuses connections as STORE_UNREACHABLE, quickly', async () => {
    const port = await freePort();
    const store = new S3Store({
      ...options(),
      endpoint: `http://127.0.0.1:${port}`,
      maxAttempts: 2,
      connectTimeoutMs: 500,
    });
    const t0 = Date.now();
    try {
      await assert.rejects(store.get('k'), expectCode('STORE_UNREACHABLE'));
      await assert.rejects(store.put('k', Buffer.from('x')), expectCode('STORE_UNREACHABLE'));
      assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    } finally {
      await store.close();
    }
  });

  it('reports an endpoint that accepts but never answers as STORE_UNREACHABLE after the idle timeout', async () => {
    const silent = await startSilentEndpoint();
    const store = new S3Store({
      ...options(),
      endpoint: `http://127.0.0.1:${silent.port}`,
      maxAttempts: 2,
      idleTimeoutMs: 300,
    });
    const t0 = Date.now();
    try {
      await assert.rejects(store.head('k'), (err) => {
        expectCode('STORE_UNREACHABLE')(err);
        // Told apart from a refused connection: it was taken, and then nothing came back.
        assert.match((err as Error).message, /took the request and then sent nothing for 300 ms/);
        return true;
      });
      assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    } finally {
      await store.close();
      await silent.close();
    }
  });

  it('waits out an outage of a store that has answered before, up to its grace, and says how long it waited', async () => {
    const proxy = await startTcpProxy();
    const rgwUrl = new URL(rgw!.endpoint);
    proxy.target = { host: rgwUrl.hostname, port: Number(rgwUrl.port) };
    const endpoint = `http://127.0.0.1:${proxy.port}`;
    const told: string[] = [];
    const store = new S3Store(
      options({ endpoint, createBucket: true, outageGraceMs: 20_000, onOutage: (m) => told.push(m) }),
    );
    const short = new S3Store({ ...options(), endpoint, bucket: store.bucket, outageGraceMs: 1500 });
    const never = new S3Store({ ...options(), endpoint, bucket: store.bucket, outageGraceMs: 20_000 });
    try {
      await store.put('before', Buffer.from('1'));
      assert.equal((await short.get('before')).toString(), '1');
      // A gateway restarting: every connection dropped, new ones refused for 3 s.
      proxy.cut(3000);
      let t0 = Date.now();
      await store.put('during', Buffer.from('2'));
      assert.ok(Date.now() - t0 >= 2000, `the put waited for the store (${Date.now() - t0} ms)`);
      assert.equal((await store.get('during')).toString(), '2', 'and landed once it answered');
      assert.equal(told.length, 2, `told once when it stopped and once when it came back: ${told}`);
      assert.match(told[0], /stopped answering \(\w+\); waiting up to 20 s for it/);
      assert.ok(told[0].includes(store.bucket), 'names the store');
      assert.match(told[1], /answers again after \d+ s/);
      // A longer outage than the grace: the request fails, saying how long it waited.
      proxy.cut(8000);
      t0 = Date.now();
      await assert.rejects(short.get('before'), (err) => {
        expectCode('STORE_UNREACHABLE')(err);
        assert.match((err as Error).message, /waited \d+ s for it to answer again/);
        return true;
      });
      assert.ok(Date.now() - t0 < 6000, `gave up after its grace (${Date.now() - t0} ms)`);
      // A store that never answered (a wrong endpoint, say) is not waited for.
      t0 = Date.now();
      await assert.rejects(never.head('before'), expectCode('STORE_UNREACHABLE'));
      assert.ok(Date.now() - t0 < 4000, `failed at once (${Date.now() - t0} ms)`);
    } finally {
      await Promise.all([store.close(), short.close(), never.close()]);
      await proxy.close();
    }
  });

  it('reports a missing bucket as STORE_NO_BUCKET on every operation', async () => {
    const store = new S3Store(options());
    try {
      await assert.rejects(store.put('k', Buffer.from('x')), expectCode('STORE_NO_BUCKET', store.bucket));
      await assert.rejects(store.get('k'), expectCode('STORE_NO_BUCKET', store.bucket));
      await assert.rejects(store.head('k'), expectCode('STORE_NO_BUCKET', store.bucket));
      await assert.rejects(async () => {
        for await (const _ of store.list('')) {
        }
      }, expectCode('STORE_NO_BUCKET'));
    } finally {
      await store.close();
    }
  });

  it('reports a bucket over its quota as STORE_FULL, not as a credentials problem, and at once', async () => {
    assert.ok(rgw);
    const store = await openStore({ kind: 's3', ...options({ createBucket: true }) });
    try {
      await store.put('small', Buffer.alloc(1024, 1)); // makes the bucket
      await setBucketQuota(rgw, (store as S3Store).bucket, 64 * 1024);
      const started = Date.now();
      await assert.rejects(store.put('big', randomBytes(128 * 1024)), (err) => {
        expectCode('STORE_FULL', 'QuotaExceeded')(err);
        assert.match((err as Error).message, /big/, 'the message names the object');
        return true;
      });
      assert.ok(Date.now() - started < 20_000, 'not waited for as an outage');
      assert.deepEqual(await store.get('small'), Buffer.alloc(1024, 1), 'what was stored before is intact');
    } finally {
      await store.close();
    }
  });

  it('creates the bucket when asked: at open, or on the first put, and twice is fine', async () => {
    const opts = options({ createBucket: true });
    const opened = await openStore({ kind: 's3', ...opts });
    await opened.put('a', Buffer.from('1'));
    await (opened as S3Store).ensureBucket();
    assert.equal((await opened.get('a')).toString(), '1', 'creating it again kept the objects');
    await opened.close();

    const lazy = new S3Store(options({ createBucket: true }));
    try {
      await lazy.put('b', Buffer.from('2'));
      assert.equal((await lazy.get('b')).toString(), '2');
    } finally {
      await lazy.close();
    }
  });

  it('keeps write-once in head-then-put mode (for servers without If-None-Match)', async () => {
    const store = new S3Store(options({ createBucket: true, writeOnce: 'head-then-put' }));
    try {
      await store.ensureBucket();
      await store.put('k', Buffer.from('first'));
      await assert.rejects(store.put('k', Buffer.from('second')), expectCode('ALREADY_EXISTS', 'k'));
      assert.equal((await store.get('k')).toString(), 'first');
    } finally {
      await store.close();
    }
  });

  it('describes itself by bucket and endpoint, never by key or password', () => {
    const store = new S3Store({ ...options(), endpoint: 'http://user:pa55word@127.0.0.1:9/' });
    assert.equal(store.description, `s3://${store.bucket}@http://127.0.0.1:9`);
    assert.ok(!store.description.includes(rgw!.accessKeyId));
    return store.close();
  });
});
