// The role table of the manager API, checked on every route the app declares (no
// sockets: fastify inject). A viewer changes nothing; every refusal is a 403 with an
// audit entry; a route that forgets its access is admin-only.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createUser, issueToken } from '../../../src/manager/accounts.js';
import { allows } from '../../../src/manager/auth.js';
import type { Role } from '../../../src/manager/db/types.js';
import { openTestApi } from '../../helpers/manager-api.js';

/** Every route and who may call it: a change here is a change of policy, on purpose. */
const EXPECTED: Record<string, string> = {
  'GET /v1/health': 'public',
  'GET /v1/openapi.json': 'public',
  'POST /v1/auth/sign-in': 'public',
  'GET /v1/auth/whoami': 'signed-in',
  'GET /v1/sites': 'viewer',
  'POST /v1/sites': 'admin',
  'GET /v1/sites/:site': 'viewer',
  'DELETE /v1/sites/:site': 'admin',
  'POST /v1/sites/:site/start': 'operator',
  'GET /v1/nodes': 'viewer',
  'POST /v1/nodes': 'admin',
  'GET /v1/nodes/:node': 'viewer',
  'POST /v1/nodes/:node/check': 'operator',
  'DELETE /v1/nodes/:node': 'admin',
  'GET /v1/volumes': 'viewer',
  'POST /v1/volumes': 'operator',
  'GET /v1/volumes/:volume': 'viewer',
  'DELETE /v1/volumes/:volume': 'operator',
  'POST /v1/volume-comparisons': 'operator',
  'GET /v1/stores': 'viewer',
  'POST /v1/stores': 'admin',
  'GET /v1/stores/:store': 'viewer',
  'DELETE /v1/stores/:store': 'admin',
  'GET /v1/users': 'admin',
  'POST /v1/users': 'admin',
  'GET /v1/users/:user': 'admin',
  'PATCH /v1/users/:user': 'admin',
  'DELETE /v1/users/:user': 'admin',
  'GET /v1/tokens': 'signed-in',
  'POST /v1/tokens': 'signed-in',
  'DELETE /v1/tokens/:token': 'signed-in',
  'GET /v1/audit': 'admin',
  'GET /v1/events': 'viewer',
  'GET /v1/backup-settings': 'viewer',
  'POST /v1/backup-settings': 'operator',
  'GET /v1/backup-settings/:setting': 'viewer',
  'PATCH /v1/backup-settings/:setting': 'operator',
  'DELETE /v1/backup-settings/:setting': 'operator',
  'POST /v1/backup-settings/:setting/run': 'operator',
  'POST /v1/backups': 'operator',
  'GET /v1/stores/:store/generations': 'viewer',
  'POST /v1/restores': 'operator',
  'POST /v1/stores/:store/verify': 'operator',
  'GET /v1/jobs': 'viewer',
  'GET /v1/jobs/stream': 'viewer',
  'GET /v1/jobs/:job': 'viewer',
  'POST /v1/jobs/:job/cancel': 'operator',
  'POST /v1/jobs/:job/resume': 'operator',
  'POST /v1/failovers': 'operator',
  'POST /v1/failbacks': 'operator',
  'GET /v1/failbacks/estimate': 'viewer',
  'GET /v1/dr': 'viewer',
  'GET /v1/volumes/:volume/heatmap': 'viewer',
  // The web console's files (routes/console.ts); everything it shows comes from the routes above.
  'GET /*': 'public',
};

describe('manager API roles', () => {
  let dir: string;
  let api: Awaited<ReturnType<typeof openTestApi>>;
  let app: Awaited<ReturnType<typeof openTestApi>>['app'];
  const tokens = {} as Record<Role, string>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rebound-mroles-'));
    api = await openTestApi(dir);
    app = api.app;
    for (const role of ['admin', 'operator', 'viewer'] as Role[]) {
      const user = await createUser(api.db, api.clock, { name: role, role });
      tokens[role] = (await issueToken(api.db, api.clock, user, 'test', null)).token;
    }
  });
  after(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('declares the expected access on every route', () => {
    const got = Object.fromEntries(app.routeAccess.map((r) => [`${r.method} ${r.url}`, r.access]));
    assert.deepEqual(got, EXPECTED);
  });

  it('lets a viewer change nothing but its own tokens', () => {
    const viewerMutations = app.routeAccess.filter((r) => r.method !== 'GET' && allows('viewer', r.access));
    assert.deepEqual(viewerMutations.map((r) => `${r.method} ${r.url}`).sort(), [
      'DELETE /v1/tokens/:token',
      'POST /v1/auth/sign-in',
      'POST /v1/tokens',
    ]);
  });

  it('answers 401 without a token and 403 to a role below the route’s, each refusal audited', async () => {
    for (const route of app.routeAccess) {
      const url = route.url.replace(/:[a-z]+/g, 'zz');
      const none = await app.inject({ method: route.method as 'GET', url });
      if (route.access === 'public') assert.notEqual(none.statusCode, 401, `${route.method} ${route.url}`);
      else assert.equal(none.statusCode, 401, `${route.method} ${route.url} without a token`);
      for (const role of ['viewer', 'operator', 'admin'] as Role[]) {
        // An event stream never ends: only its refusals can be checked by injection.
        if (route.url === '/v1/jobs/stream' && allows(role, route.access)) continue;
        const before = (await api.db.listAudit({ limit: 1 })).items[0]?.id ?? 0;
        const res = await app.inject({
          method: route.method as 'GET',
          url,
          headers: { authorization: `Bearer ${tokens[role]}` },
        });
        const label = `${role} ${route.method} ${route.url}: ${res.statusCode} ${res.body}`;
        if (allows(role, route.access)) {
          assert.ok(res.statusCode !== 403 && res.statusCode !== 401, label);
        } else {
          assert.equal(res.statusCode, 403, label);
          assert.equal(res.json().error.code, 'FORBIDDEN');
          const entry = (await api.db.listAudit({ limit: 1 })).items[0];
          assert.ok(entry && entry.id > before, `audited: ${label}`);
          assert.equal(entry.actor, role);
          assert.equal(entry.status, 403);
          assert.equal(entry.method, route.method);
          assert.equal(entry.path, url);
        }
      }
    }
  });
});
