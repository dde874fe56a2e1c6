/**
 * /v1/audit (admin) and /v1/events (viewer): the audit log of mutating calls and
 * refusals, and the event log of operations and errors. Newest first, paginated: pass
 * the answer's `nextBefore` as `before` for the next page.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { ManagerApiContext } from '../api.js';
import { AuditPage, EventPage, EventQuery, PageQuery } from '../api-schema.js';

const DEFAULT_LIMIT = 100;

function page(q: { limit?: string; before?: string }) {
  return {
    limit: q.limit ? Number(q.limit) : DEFAULT_LIMIT,
    ...(q.before ? { before: Number(q.before) } : {}),
  };
}

export async function logRoutes(scope: FastifyInstance, ctx: ManagerApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/v1/audit',
    {
      config: { access: 'admin' },
      schema: { tags: ['logs'], querystring: PageQuery, response: { 200: AuditPage } },
    },
    async (req) => ctx.db.listAudit(page(req.query)),
  );

  app.get(
    '/v1/events',
    {
      config: { access: 'viewer' },
      schema: { tags: ['logs'], querystring: EventQuery, response: { 200: EventPage } },
    },
    async (req) =>
      ctx.db.listEvents({ ...page(req.query), ...(req.query.kind ? { kind: req.query.kind } : {}) }),
  );
}
