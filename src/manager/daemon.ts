/**
 * `rebound manager run`: opens the database (migrating it), the secret box, starts the
 * health poller and the API. At first start it makes the bootstrap admin and hands its
 * token to the caller to print, once. Mirrors node/daemon.ts: half a manager is worse
 * than none, so a failure while starting releases what was opened.
 *
 *   CLI, console ──HTTP──► buildManagerApi ─► Registry ─► NodeClient ──HTTP──► nodes
 *                                 │              │
 *                                 └──► ManagerDb ◄┘ ◄── HealthPoller (every pollIntervalMs)
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type Logger, silentLogger } from '../logger.js';
import { SecretBox } from '../secrets.js';
import { VERSION } from '../version.js';
import { BOOTSTRAP_USER, bootstrapAdmin } from './accounts.js';
import { buildManagerApi } from './api.js';
import { type Clock, isoTime, systemClock } from './clock.js';
import { DEFAULT_MANAGER_CONFIG, MANAGER_SECRET_KEY_FILE, type ManagerConfig } from './config.js';
import { SqliteManagerDb } from './db/sqlite.js';
import type { ManagerDb } from './db/types.js';
import { EventLog } from './events.js';
import { JOB_PLANS, JobRunner } from './jobs/index.js';
import { HealthPoller } from './poller.js';
import { type NodeConnector, Registry } from './registry.js';
import { Scheduler } from './scheduler.js';

export interface ManagerOptions {
  /** Time and timers (tests pass a ManualClock). */
  clock?: Clock;
  logger?: Logger;
  /** How the manager reaches nodes (tests may wrap NodeClient). */
  connect?: NodeConnector;
  /** How often jobs poll node tasks (ms); tests shorten it. */
  jobPollMs?: number;
}

export interface RunningManager {
  /** http://host:port, where the API listens. */
  apiUrl: string;
  db: ManagerDb;
  registry: Registry;
  poller: HealthPoller;
  events: EventLog;
  runner: JobRunner;
  scheduler: Scheduler;
  /** Schema versions migrated at this start (empty when already current). */
  migrated: number[];
  /** First start only: the admin user and its token, for the caller to print once. */
  bootstrap: { user: string; token: string } | undefined;
  close(): Promise<void>;
}

export async function startManager(
  dataDir: string,
  config: Partial<ManagerConfig> = {},
  options: ManagerOptions = {},
): Promise<RunningManager> {
  const cfg: ManagerConfig = { ...DEFAULT_MANAGER_CONFIG, ...config };
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const box = await SecretBox.open(
    join(dataDir, MANAGER_SECRET_KEY_FILE),
    cfg.secretKey ?? process.env.REBOUND_SECRET_KEY,
  );
  const { db, applied } = SqliteManagerDb.open(dataDir, { at: isoTime(clock) });
  const events = new EventLog(db, clock, logger.child({ part: 'events' }), cfg.webhookUrl ?? null);
  const registry = new Registry({
    db,
    box,
    clock,
    events,
    connect: options.connect,
    nodeTimeoutMs: cfg.nodeTimeoutMs,
  });
  const poller = new HealthPoller(registry, clock, cfg.pollIntervalMs, logger.child({ part: 'poller' }));
  const runner = new JobRunner({
    db,
    registry,
    events,
    clock,
    logger: logger.child({ part: 'jobs' }),
    plans: JOB_PLANS,
    dataDir,
    pollMs: options.jobPollMs,
  });
  const scheduler = new Scheduler({ db, runner, clock, events, logger: logger.child({ part: 'scheduler' }) });
  // A node that answers again resumes the jobs that paused waiting for it.
  registry.onNodeBack((node) => void runner.nodeBack(node));
  let api: FastifyInstance | undefined;
  let apiUrl: string;
  let bootstrap: RunningManager['bootstrap'];
  try {
    const issued = await bootstrapAdmin(db, clock);
    if (issued) {
      bootstrap = { user: BOOTSTRAP_USER, token: issued.token };
      await events.record(
        'info',
        'user.added',
        BOOTSTRAP_USER,
        'first start: bootstrap admin and token created',
      );
    }
    api = buildManagerApi({
      db,
      registry,
      events,
      runner,
      scheduler,
      clock,
      version: VERSION,
      startedAt: clock.now(),
      sessionTtlMs: cfg.sessionTtlMs,
      // Per-request lines only at debug: an operator's log should show changes and errors.
      logger: logger.child(
        { part: 'api' },
        { level: ['debug', 'trace', 'silent'].includes(logger.level) ? logger.level : 'warn' },
      ),
    });
    apiUrl = await api.listen({ port: cfg.apiPort, host: cfg.apiHost });
  } catch (err) {
    await api?.close();
    await db.close();
    throw err;
  }
  poller.start();
  await runner.recover();
  await scheduler.start();
  const app = api;
  logger.info({ apiUrl, migrated: applied }, 'manager running');

  let closing: Promise<void> | undefined;
  return {
    apiUrl,
    db,
    registry,
    poller,
    events,
    runner,
    scheduler,
    migrated: applied,
    bootstrap,
    close() {
      closing ??= (async () => {
        await scheduler.stop();
        await poller.stop();
        await runner.close();
        await app.close();
        await events.drain();
        await db.close();
        logger.info('manager stopped');
      })();
      return closing;
    },
  };
}
