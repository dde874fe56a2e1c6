// The console draws a control only for a role that may call its route (web/src/api/access.ts);
// that table must say what the manager enforces. A route the manager changes, or removes,
// fails here rather than as a button that answers 403, or a missing one.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { allows as serverAllows } from '../../../src/manager/auth.js';
import { allows, can, ROUTE_ACCESS } from '../../../web/src/api/access.js';
import { openTestApi } from '../../helpers/manager-api.js';

describe('console access table', () => {
  it('matches the access every route declares in the manager', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rebound-webaccess-'));
    const api = await openTestApi(dir);
    try {
      const { app } = api;
      const server = new Map(app.routeAccess.map((r) => [`${r.method} ${r.url}`, r.access]));
      for (const [route, access] of Object.entries(ROUTE_ACCESS)) {
        assert.ok(server.has(route), `the manager has no route ${route}`);
        assert.equal(access, server.get(route), `${route}: the console and the manager disagree`);
      }
    } finally {
      await api.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('ranks roles as the manager does', () => {
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      for (const need of ['public', 'signed-in', 'viewer', 'operator', 'admin'] as const) {
        assert.equal(allows(role, need), serverAllows(role, need), `${role} vs ${need}`);
      }
    }
    assert.equal(can('viewer', 'POST /v1/volumes'), false);
    assert.equal(can('operator', 'POST /v1/volumes'), true);
    assert.equal(can('operator', 'POST /v1/stores'), false);
    assert.equal(can('operator', 'GET /v1/users'), false);
  });
});
