/** /v1/health: liveness for monitors (no token), with the node count by health. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { ManagerApiContext } from '../api.js';
import { ManagerHealth } from '../api-schema.js';

export async function healthRoutes(scope: FastifyInstance, ctx: ManagerApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/v1/health',
    { config: { access: 'public' }, schema: { tags: ['health'], response: { 200: ManagerHealth } } },
    async () => {
      const nodes = await ctx.db.listNodes();
      const ok = nodes.filter((n) => n.health === 'ok').length;
      return {
        status: 'ok' as const,
        version: ctx.version,
        schemaVersion: await ctx.db.schemaVersion(),
        uptimeSeconds: (ctx.clock.now() - ctx.startedAt) / 1000,
        nodes: { total: nodes.length, ok, unreachable: nodes.length - ok },
      };
    },
  );
}
