/**
 * Who may call which manager route, as the console needs to know it to draw a page: a
 * control that calls a route the user's role does not reach is not drawn at all (not
 * drawn disabled). The manager decides for real (src/manager/api.ts answers 403); this
 * table only mirrors its `config.access`, and test/unit/web/access.test.ts checks every
 * entry against the routes the manager declares, so the two cannot drift apart.
 *
 * Plain data, no DOM: the Node tests import it as it is.
 */
import type { WhoAmI } from '../../../src/manager/api-schema.js';

export type Role = WhoAmI['role'];
/** As src/manager/auth.ts: a role, or no token at all, or any signed-in user. */
export type Access = Role | 'public' | 'signed-in';

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Does `role` reach `required`? admin > operator > viewer (src/manager/auth.ts `allows`). */
export function allows(role: Role, required: Access): boolean {
  if (required === 'public' || required === 'signed-in') return true;
  return RANK[role] >= RANK[required];
}

/** Every route the console calls, `METHOD /url` as the manager declares it, and its access. */
export const ROUTE_ACCESS = {
  'POST /v1/auth/sign-in': 'public',
  'GET /v1/auth/whoami': 'signed-in',
  'GET /v1/sites': 'viewer',
  'POST /v1/sites': 'admin',
  'DELETE /v1/sites/:site': 'admin',
  'POST /v1/sites/:site/start': 'operator',
  'GET /v1/nodes': 'viewer',
  'POST /v1/nodes': 'admin',
  'POST /v1/nodes/:node/check': 'operator',
  'DELETE /v1/nodes/:node': 'admin',
  'GET /v1/volumes': 'viewer',
  'POST /v1/volumes': 'operator',
  'GET /v1/volumes/:volume': 'viewer',
  'DELETE /v1/volumes/:volume': 'operator',
  'GET /v1/stores': 'viewer',
  'POST /v1/stores': 'admin',
  'DELETE /v1/stores/:store': 'admin',
  'GET /v1/users': 'admin',
  'POST /v1/users': 'admin',
  'PATCH /v1/users/:user': 'admin',
  'DELETE /v1/users/:user': 'admin',
  'GET /v1/tokens': 'signed-in',
  'POST /v1/tokens': 'signed-in',
  'DELETE /v1/tokens/:token': 'signed-in',
  'GET /v1/audit': 'admin',
  'GET /v1/events': 'viewer',
  'GET /v1/backup-settings': 'viewer',
  'POST /v1/backup-settings': 'operator',
  'PATCH /v1/backup-settings/:setting': 'operator',
  'DELETE /v1/backup-settings/:setting': 'operator',
  'POST /v1/backup-settings/:setting/run': 'operator',
  'POST /v1/backups': 'operator',
  'GET /v1/stores/:store/generations': 'viewer',
  'POST /v1/restores': 'operator',
  'POST /v1/stores/:store/verify': 'operator',
  'POST /v1/failovers': 'operator',
  'POST /v1/failbacks': 'operator',
  'GET /v1/failbacks/estimate': 'viewer',
  'GET /v1/dr': 'viewer',
  'GET /v1/volumes/:volume/heatmap': 'viewer',
  'GET /v1/jobs': 'viewer',
  'GET /v1/jobs/stream': 'viewer',
  'GET /v1/jobs/:job': 'viewer',
  'POST /v1/jobs/:job/cancel': 'operator',
  'POST /v1/jobs/:job/resume': 'operator',
} as const satisfies Record<string, Access>;

export type ApiRoute = keyof typeof ROUTE_ACCESS;

/** May `role` call `route`? */
export function can(role: Role, route: ApiRoute): boolean {
  return allows(role, ROUTE_ACCESS[route]);
}
