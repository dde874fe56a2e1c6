/**
 * The web console (web/, built by Vite into dist/console/) at `/`: its files, and its
 * index.html for any other path outside /v1, so a link to /volumes/ABCD:3 opens that page
 * of the console. These routes are public (a browser fetches the page before anyone signs
 * in); everything the console shows comes from the /v1 API, which stays protected.
 *
 * The built files are read into memory at the first request (a few files, ~100 KB) and
 * served from there: no path from a request ever reaches the file system, hashed assets
 * are cached for good, and index.html is revalidated by its ETag. Until the console is
 * built, `/` says how to build it. Nothing here is in the OpenAPI document.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ReboundError } from '../../errors.js';
import type { ManagerApiContext } from '../api.js';

/** dist/console/, beside dist/src/ where this file runs from. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../console/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};

/** The console runs only its own scripts and talks only to this manager. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

interface Asset {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  etag: string;
  immutable: boolean;
}

async function loadConsole(dir: string): Promise<Map<string, Asset> | null> {
  let names: string[];
  try {
    names = (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((d) => d.isFile())
      .map((d) => relative(dir, join(d.parentPath, d.name)));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (!names.includes('index.html')) return null;
  const files = new Map<string, Asset>();
  for (const name of names) {
    const body = await readFile(join(dir, name));
    const type = TYPES[extname(name)] ?? 'application/octet-stream';
    const compressible = /^(text\/|application\/json|image\/svg)/.test(type) && body.length > 1024;
    files.set(`/${name.split(sep).join('/')}`, {
      body,
      gzip: compressible ? gzipSync(body, { level: 9 }) : null,
      type,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      immutable: name.startsWith(`assets${sep}`),
    });
  }
  return files;
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rebound: console not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto; line-height: 1.5">
<h1>The Rebound console is not built</h1>
<p>This manager serves the web console from <code>dist/console/</code>, which is not there yet.
Build it in the Rebound checkout with</p>
<pre>npm install
npm run build        # the server and the console (or: npm run build:web)</pre>
<p>then reload this page. The API works without it: <a href="/v1/openapi.json">/v1/openapi.json</a>, and the
<code>rebound</code> command line.</p>
</body></html>
`;

export async function consoleRoutes(
  scope: FastifyInstance,
  _ctx: ManagerApiContext,
  dir: string = CONSOLE_DIR,
): Promise<void> {
  let files: Map<string, Asset> | null = null;
  let loading: Promise<Map<string, Asset> | null> | null = null;
  /** Loaded once it is there; looked for again on each request until then. */
  const current = async () => {
    if (files) return files;
    loading ??= loadConsole(dir).finally(() => {
      loading = null;
    });
    files = await loading;
    return files;
  };

  const send = (request: FastifyRequest, reply: FastifyReply, asset: Asset) => {
    reply.headers(SECURITY_HEADERS);
    reply.header('content-type', asset.type);
    reply.header('vary', 'accept-encoding');
    reply.header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    const gzip = asset.gzip && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    // One ETag per representation: the gzipped bytes are not the same entity.
    const etag = gzip ? `${asset.etag.slice(0, -1)}-gz"` : asset.etag;
    reply.header('etag', etag);
    const match = String(request.headers['if-none-match'] ?? '');
    if (match.split(/\s*,\s*/).includes(etag)) return reply.status(304).send();
    if (gzip) reply.header('content-encoding', 'gzip');
    return reply.send(gzip ? asset.gzip : asset.body);
  };

  scope.get('/*', { config: { access: 'public' }, schema: { hide: true } }, async (request, reply) => {
    const path = request.url.split('?')[0];
    // The API's unknown paths answer as the API does, never with the console's page.
    if (path === '/v1' || path.startsWith('/v1/')) {
      throw new ReboundError('NOT_FOUND', `no route ${request.method} ${path}`);
    }
    const built = await current();
    if (!built) {
      return reply
        .status(404)
        .header('content-type', 'text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(NOT_BUILT);
    }
    const asset = built.get(path);
    if (asset) return send(request, reply, asset);
    // A missing file (an old asset name) is a 404, not the page: a script answered with
    // HTML fails in a way nobody can read.
    if (path.startsWith('/assets/') || /\.[a-z0-9]{1,5}$/i.test(path)) {
      throw new ReboundError('NOT_FOUND', `no file ${path} in the console`);
    }
    return send(request, reply, built.get('/index.html')!);
  });
}
