/**
 * The node's control API: HTTP + JSON with a bearer token, for the manager and the CLI.
 * Building the app is kept apart from listening (STYLE.md point 12), so tests inject
 * requests or listen on port 0.
 *
 *   GET  /v1/health                       no token: liveness for monitors
 *   GET  /v1/node                         identity: serial, NBD address, pool
 *   /v1/volumes[/:volume[/snapshots|/bitmaps|/pairs|/pair-key|/hashes ...]]   see routes/
 *   /v1/externals, /v1/local-copies      virtual volumes (failback method 2)
 */
import { timingSafeEqual } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { ReboundError } from '../errors.js';
import { installErrorHandlers } from '../http/index.js';
import type { Logger } from '../logger.js';
import type { ExternalVolumes, PairManager } from '../replication/index.js';
import type { Storage } from '../volume/types.js';
import type { MountedGeneration } from './exports.js';
import type { PairKeys } from './pair-keys.js';
import { backupRoutes } from './routes/backups.js';
import { bitmapRoutes } from './routes/bitmaps.js';
import { externalRoutes } from './routes/externals.js';
import { nodeRoutes } from './routes/node.js';
import { pairKeyRoutes } from './routes/pair-key.js';
import { pairRoutes } from './routes/pairs.js';
import { snapshotRoutes } from './routes/snapshots.js';
import { storeRoutes } from './routes/stores.js';
import { volumeRoutes } from './routes/volumes.js';
import type { StoreRegistry } from './stores.js';
import type { TaskRunner } from './tasks.js';

export interface NodeApiContext {
  storage: Storage;
  stores: StoreRegistry;
  tasks: TaskRunner;
  /** Copy pairs from this node's volumes (replication/). */
  pairs: PairManager;
  /** TLS keys of the failback pairs that write into this node's volumes. */
  pairKeys: PairKeys;
  /** Other nodes' exports attached as virtual volumes (replication/external.ts). */
  externals: ExternalVolumes;
  /** Backup generations served over NBD, by export name. */
  mounts: Map<string, MountedGeneration>;
  /** Where hosts reach this node's NBD server, for the nbd:// URIs the API returns. */
  nbd: { host: string; port: number; tls: string };
  version: string;
  startedAt: number;
  nbdConnections(): number;
  /** NodeConfig.restoreBytesPerSec: the pace of restores into this node's pool. */
  restoreBytesPerSec?: number;
  /** NodeConfig.backupBytesPerSec: the pace of backups reading this node's volumes. */
  backupBytesPerSec?: number;
  /** Aborted when the node starts to stop: held long polls answer at once (routes/wait.ts). */
  stopping: AbortSignal;
}

export interface NodeApiOptions extends NodeApiContext {
  token: string;
  /** A pino logger for request logs; none by default. */
  logger?: Logger;
}

export function buildNodeApi(options: NodeApiOptions): FastifyInstance {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger as FastifyBaseLogger } : { logger: false }),
    ajv: { customOptions: { allErrors: false, coerceTypes: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const expected = Buffer.from(`Bearer ${options.token}`);
  app.addHook('onRequest', async (request) => {
    if (request.url === '/v1/health') return;
    const got = Buffer.from(request.headers.authorization ?? '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      throw new ReboundError('UNAUTHORIZED', 'missing or wrong bearer token');
    }
  });

  installErrorHandlers(app);

  const ctx: NodeApiContext = options;
  app.register(async (scope) => nodeRoutes(scope, ctx));
  app.register(async (scope) => volumeRoutes(scope, ctx));
  app.register(async (scope) => snapshotRoutes(scope, ctx));
  app.register(async (scope) => bitmapRoutes(scope, ctx));
  app.register(async (scope) => pairRoutes(scope, ctx));
  app.register(async (scope) => pairKeyRoutes(scope, ctx));
  app.register(async (scope) => externalRoutes(scope, ctx));
  app.register(async (scope) => storeRoutes(scope, ctx));
  app.register(async (scope) => backupRoutes(scope, ctx));
  return app;
}

/** nbd://host:port/export, the URI qemu and libnbd tools take. */
export function nbdUri(ctx: Pick<NodeApiContext, 'nbd'>, exportName: string): string {
  const scheme = ctx.nbd.tls === 'off' ? 'nbd' : 'nbds';
  const host = ctx.nbd.host.includes(':') ? `[${ctx.nbd.host}]` : ctx.nbd.host;
  // Export names are [A-Za-z0-9._-] and '@': all legal in a URI path as they are.
  return `${scheme}://${host}:${ctx.nbd.port}/${exportName}`;
}
