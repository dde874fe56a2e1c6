// The console draws a control only for a role that may call its route (web/src/api/access.ts);
// that table must say what the manager enforces. A route the manager changes, or removes,
// fails here rather than as a button that answers 403, or a missing one.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../src/logger.js';
import { buildManagerApi } from '../../../src/manager/api.js';
import { allows as serverAllows } from '../../../src/manager/auth.js';
import { ManualClock } from '../../../src/manager/clock.js';
import { SqliteManagerDb } from '../../../src/manager/db/index.js';
import { EventLog } from '../../../src/manager/events.js';
import { Registry } from '../../../src/manager/registry.js';
import { SecretBox } from '../../../src/secrets.js';
import { allows, can, ROUTE_ACCESS } from '../../../web/src/api/access.js';

describe('console access table', () => {
  it('matches the access every route declares in the manager', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rebound-webaccess-'));
    const { db } = SqliteManagerDb.open(dir);
    try {
      const clock = new ManualClock();
      const box = await SecretBox.open(join(dir, 'secret.key'), 'ab'.repeat(32));
      const events = new EventLog(db, clock, silentLogger);
      const registry = new Registry({ db, box, clock, events, nodeTimeoutMs: 1000 });
      const app = buildManagerApi({
        db,
        registry,
        events,
        clock,
        version: 't',
        startedAt: 0,
        sessionTtlMs: 1,
      });
      await app.ready();
      const server = new Map(app.routeAccess.map((r) => [`${r.method} ${r.url}`, r.access]));
      for (const [route, access] of Object.entries(ROUTE_ACCESS)) {
        assert.ok(server.has(route), `the manager has no route ${route}`);
        assert.equal(access, server.get(route), `${route}: the console and the manager disagree`);
      }
      await app.close();
    } finally {
      await db.close();
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
