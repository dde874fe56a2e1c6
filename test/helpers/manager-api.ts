/**
 * The manager's API built in memory over a fresh database, without listening and without
 * nodes: for tests of what the API declares (roles, the console's access table).
 */
import { join } from 'node:path';
import { silentLogger } from '../../src/logger.js';
import { buildManagerApi } from '../../src/manager/api.js';
import { ManualClock } from '../../src/manager/clock.js';
import { SqliteManagerDb } from '../../src/manager/db/index.js';
import { EventLog } from '../../src/manager/events.js';
import { JOB_PLANS, JobRunner } from '../../src/manager/jobs/index.js';
import { Registry } from '../../src/manager/registry.js';
import { Scheduler } from '../../src/manager/scheduler.js';
import { SecretBox } from '../../src/secrets.js';

export async function openTestApi(dir: string) {
  const { db } = SqliteManagerDb.open(dir);
  const clock = new ManualClock();
  const box = await SecretBox.open(join(dir, 'secret.key'), 'ab'.repeat(32));
  const events = new EventLog(db, clock, silentLogger);
  const registry = new Registry({ db, box, clock, events, nodeTimeoutMs: 1000 });
  const runner = new JobRunner({
    db,
    registry,
    events,
    clock,
    logger: silentLogger,
    plans: JOB_PLANS,
    dataDir: dir,
  });
  const scheduler = new Scheduler({ db, runner, clock, events, logger: silentLogger });
  const app = buildManagerApi({
    db,
    registry,
    events,
    runner,
    scheduler,
    clock,
    version: 'test',
    startedAt: clock.now(),
    sessionTtlMs: 1e6,
  });
  await app.ready();
  return {
    app,
    db,
    clock,
    async close() {
      await app.close();
      await runner.close();
      await db.close();
    },
  };
}
