/** /v1/health and /v1/node: liveness and the node's identity. */
import type { FastifyInstance } from 'fastify';
import type { NodeApiContext } from '../api.js';
import { Health, NodeIdentity } from '../api-schema.js';

export async function nodeRoutes(app: FastifyInstance, ctx: NodeApiContext): Promise<void> {
  app.get('/v1/health', { schema: { response: { 200: Health } } }, async () => {
    const pool = ctx.storage.pool();
    return {
      status: pool.freeBytes > 0 ? ('ok' as const) : ('degraded' as const),
      serial: ctx.storage.serial,
      uptimeSeconds: (Date.now() - ctx.startedAt) / 1000,
      volumes: ctx.storage.listVolumes().length,
      nbdConnections: ctx.nbdConnections(),
      poolFreeBytes: pool.freeBytes,
    };
  });

  app.get('/v1/node', { schema: { response: { 200: NodeIdentity } } }, async () => ({
    serial: ctx.storage.serial,
    version: ctx.version,
    nbd: ctx.nbd,
    pool: ctx.storage.pool(),
  }));
}
