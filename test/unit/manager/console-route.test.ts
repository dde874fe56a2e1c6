// The manager's console route (src/manager/routes/console.ts) on fastify inject: the
// built files with their types, caching and security headers; index.html for the
// console's own paths; a JSON 404 for a missing asset and for every unknown /v1 path;
// and, before the console is built, a page that says how to build it.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { installErrorHandlers } from '../../../src/http/index.js';
import type { ManagerApiContext } from '../../../src/manager/api.js';
import { consoleRoutes } from '../../../src/manager/routes/console.js';

const INDEX =
  '<!doctype html><title>console</title><script type="module" src="/assets/app-1a2b.js"></script>';
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(4000))});`;

async function appFor(dir: string): Promise<FastifyInstance> {
  const app = Fastify();
  installErrorHandlers(app);
  app.register(async (scope) => consoleRoutes(scope, {} as ManagerApiContext, dir));
  await app.ready();
  return app;
}

describe('console route', () => {
  let dir: string;
  let app: FastifyInstance;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rebound-console-route-'));
    app = await appFor(dir);
  });
  after(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('says how to build the console until it is built', async () => {
    const res = await app.inject({ url: '/' });
    assert.equal(res.statusCode, 404);
    assert.match(res.headers['content-type'] as string, /text\/html/);
    assert.match(res.body, /npm run build/);
  });

  it('serves the built files, index.html for console paths, and 404 for the rest', async () => {
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), INDEX);
    await writeFile(join(dir, 'assets', 'app-1a2b.js'), SCRIPT);

    for (const url of ['/', '/volumes', '/volumes/ABCD1234:7?x=1', '/index.html']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 200, url);
      assert.equal(res.body, INDEX, url);
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(res.headers['cache-control'], 'no-cache');
      assert.match(res.headers['content-security-policy'] as string, /script-src 'self'/);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    }

    const js = await app.inject({ url: '/assets/app-1a2b.js', headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(js.statusCode, 200);
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['content-encoding'], 'gzip');
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(gunzipSync(js.rawPayload).toString(), SCRIPT);
    const plain = await app.inject({ url: '/assets/app-1a2b.js' });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body, SCRIPT);
    assert.notEqual(plain.headers.etag, js.headers.etag, 'one ETag per encoding');

    const again = await app.inject({ url: '/', headers: { 'if-none-match': String(plain.headers.etag) } });
    assert.equal(again.statusCode, 200, 'another file’s ETag does not match');
    const index = await app.inject({ url: '/' });
    const cached = await app.inject({
      url: '/volumes',
      headers: { 'if-none-match': String(index.headers.etag) },
    });
    assert.equal(cached.statusCode, 304);

    for (const url of ['/assets/app-old.js', '/favicon.ico', '/v1/nothing', '/v1', '/v1/volumes/x/y']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.json().error.code, 'NOT_FOUND', url);
    }
    const traversal = await app.inject({ url: '/assets/../../../etc/passwd' });
    assert.ok(!traversal.body.includes('root:'), 'no path reaches the file system');
  });
});
