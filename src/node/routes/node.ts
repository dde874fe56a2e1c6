/** /v1/health and /v1/node: liveness and the node's identity. */
import type { FastifyInstance } from 'fastify';
import type { NodeApiContext } from '../api.js';
import { Health, NodeIdentity } from '../api-schema.js';

export async function nodeRoutes(app: FastifyInstance, ctx: NodeApiContext): Promise<void> {
  // Polled by the manager: the free bytes alone, not pool(), which stats every drive file.
  app.get('/v1/health', { schema: { response: { 200: Health } } }, async () => {
    const freeBytes = ctx.storage.freeBytes;
    return {
      status: freeBytes > 0 ? ('ok' as const) : ('degraded' as const),
      serial: ctx.storage.serial,
      uptimeSeconds: (Date.now() - ctx.startedAt) / 1000,
      volumes: ctx.storage.listVolumes().length,
      nbdConnections: ctx.nbdConnections(),
      poolFreeBytes: freeBytes,
    };
  });

  app.get('/v1/node', { schema: { response: { 200: NodeIdentity } } }, async () => ({
    serial: ctx.storage.serial,
    version: ctx.version,
    nbd: ctx.nbd,
    pool: ctx.storage.pool(),
  }));
}
