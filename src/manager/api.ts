/**
 * The manager's REST API: JSON over HTTP with bearer tokens, for the CLI, the console and
 * scripts. Building the app is kept apart from listening (STYLE.md point 12), so tests
 * inject requests or listen on port 0.
 *
 *   request ─► onRequest: route's access (public | signed-in | viewer | operator | admin)
 *                         vs the token's user role ─► 401 / 403
 *           ─► schema validation (api-schema.ts) ─► 400 naming the field
 *           ─► routes/<url tree>.ts ─► Registry / ManagerDb / NodeClient
 *           ─► onResponse: every mutating call, and every 403, into the audit log
 *
 * Every route declares `config.access`; a route that forgets is admin-only. The
 * OpenAPI document at /v1/openapi.json is generated from the same route schemas.
 */
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { ReboundError } from '../errors.js';
import { installErrorHandlers } from '../http/index.js';
import type { Logger } from '../logger.js';
import { type Access, allows, hashToken } from './auth.js';
import { type Clock, isoTime } from './clock.js';
import type { ManagerDb, Role } from './db/types.js';
import type { EventLog } from './events.js';
import type { JobRunner } from './jobs/index.js';
import type { Registry } from './registry.js';
import { authRoutes } from './routes/auth.js';
import { backupRoutes } from './routes/backups.js';
import { consoleRoutes } from './routes/console.js';
import { drRoutes } from './routes/dr.js';
import { healthRoutes } from './routes/health.js';
import { heatmapRoutes } from './routes/heatmap.js';
import { jobRoutes } from './routes/jobs.js';
import { logRoutes } from './routes/logs.js';
import { nodeRoutes } from './routes/nodes.js';
import { siteRoutes } from './routes/sites.js';
import { storeRoutes } from './routes/stores.js';
import { tokenRoutes } from './routes/tokens.js';
import { userRoutes } from './routes/users.js';
import { volumeRoutes } from './routes/volumes.js';
import type { Scheduler } from './scheduler.js';

export interface Principal {
  user: string;
  role: Role;
  tokenId: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call this route; admin when left out. */
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export interface ManagerApiContext {
  db: ManagerDb;
  registry: Registry;
  events: EventLog;
  runner: JobRunner;
  scheduler: Scheduler;
  clock: Clock;
  version: string;
  startedAt: number;
  /** How long a token from sign-in lives. */
  sessionTtlMs: number;
}

export interface ManagerApiOptions extends ManagerApiContext {
  /** A pino logger for request logs; none by default. */
  logger?: Logger;
}

/** One route as declared, for the role table test and the docs. */
export interface RouteAccess {
  method: string;
  url: string;
  access: Access;
}

export function buildManagerApi(
  options: ManagerApiOptions,
): FastifyInstance & { routeAccess: RouteAccess[] } {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger as FastifyBaseLogger } : { logger: false }),
    ajv: { customOptions: { allErrors: false, coerceTypes: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  const ctx: ManagerApiContext = options;
  const { db, clock } = ctx;

  const routeAccess: RouteAccess[] = [];
  app.addHook('onRoute', (route) => {
    if (route.method === 'HEAD' || (Array.isArray(route.method) && route.method.includes('HEAD'))) return;
    for (const method of [route.method].flat()) {
      routeAccess.push({ method, url: route.url, access: route.config?.access ?? 'admin' });
    }
  });

  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url === undefined) return; // no such route: the 404 says so
    const access = request.routeOptions.config.access ?? 'admin';
    if (access === 'public') return;
    const header = request.headers.authorization ?? '';
    const m = /^Bearer (\S+)$/.exec(header);
    if (!m) {
      throw new ReboundError(
        'UNAUTHORIZED',
        'no API token: sign in (`rebound login`, POST /v1/auth/sign-in) or pass REBOUND_TOKEN',
      );
    }
    const found = await db.findToken(hashToken(m[1]));
    const now = clock.now();
    if (!found || (found.token.expiresAt !== null && Date.parse(found.token.expiresAt) <= now)) {
      throw new ReboundError('UNAUTHORIZED', 'unknown or expired API token: sign in again (`rebound login`)');
    }
    request.principal = { user: found.user.name, role: found.user.role, tokenId: found.token.id };
    // last-used to the minute: a read-mostly API should not write on every request.
    if (!found.token.lastUsedAt || now - Date.parse(found.token.lastUsedAt) > 60_000) {
      await db.touchToken(found.token.id, isoTime(clock));
    }
    if (!allows(found.user.role, access)) {
      throw new ReboundError(
        'FORBIDDEN',
        `${request.method} ${request.routeOptions.url} needs the ${access} role; ${found.user.name} is ${found.user.role}`,
        { detail: { required: access, role: found.user.role } },
      );
    }
  });

  // The audit log: who, when, what, and how it ended, for every call that changes
  // something and every refusal of a role. Bodies are never recorded (passwords, keys).
  app.addHook('onResponse', async (request, reply) => {
    const mutating = !['GET', 'HEAD', 'OPTIONS'].includes(request.method);
    if (!mutating && reply.statusCode !== 403) return;
    try {
      await db.appendAudit({
        at: isoTime(clock),
        actor: request.principal?.user ?? null,
        role: request.principal?.role ?? null,
        method: request.method,
        path: request.url.split('?')[0],
        status: reply.statusCode,
        ip: request.ip ?? null,
      });
    } catch (err) {
      request.log.error({ err }, 'audit write failed');
    }
  });

  installErrorHandlers(app);

  app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Rebound manager API',
        version: ctx.version,
        description:
          'The operation management system of Rebound: sites, nodes, volumes, object stores, backup settings, ' +
          'backups and restores as jobs, users and tokens, logs. ' +
          'Send `Authorization: Bearer <token>`; roles are admin > operator > viewer.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  app.register(async (scope) => healthRoutes(scope, ctx));
  app.register(async (scope) => authRoutes(scope, ctx));
  app.register(async (scope) => siteRoutes(scope, ctx));
  app.register(async (scope) => nodeRoutes(scope, ctx));
  app.register(async (scope) => volumeRoutes(scope, ctx));
  app.register(async (scope) => heatmapRoutes(scope, ctx));
  app.register(async (scope) => storeRoutes(scope, ctx));
  app.register(async (scope) => userRoutes(scope, ctx));
  app.register(async (scope) => tokenRoutes(scope, ctx));
  app.register(async (scope) => logRoutes(scope, ctx));
  app.register(async (scope) => backupRoutes(scope, ctx));
  app.register(async (scope) => jobRoutes(scope, ctx));
  app.register(async (scope) => drRoutes(scope, ctx));
  app.register(async (scope) => consoleRoutes(scope, ctx));
  app.register(async (scope) => {
    scope.get('/v1/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () =>
      app.swagger(),
    );
  });
  return Object.assign(app, { routeAccess }) as unknown as FastifyInstance & { routeAccess: RouteAccess[] };
}

/** The caller's identity; routes that are not public always have one. */
export function principalOf(request: { principal: Principal | null }): Principal {
  if (!request.principal) throw new ReboundError('UNAUTHORIZED', 'no API token');
  return request.principal;
}
