/**
 * manager/: the management service (SPEC "The parts": the "operation management
 * system"). It keeps the registry of sites, storage nodes, their volumes (SPEC Fig. 7)
 * and the object stores (Fig. 9) in its own database, watches the nodes' health, and
 * serves a REST API with users, roles and an audit log, which the CLI and the console
 * use. It changes nodes only through their control APIs (NodeClient), never by reaching
 * into a pool: a node is a separate machine in a real deployment, and the manager must
 * keep working, and say so, when one is gone.
 *
 * sites/ builds and tears down the secondary storage system (site providers) and runs
 * the operator's host start/stop hooks.
 *
 * Still to come here: backup settings and the scheduler (Fig. 10), resumable jobs, and
 * failover / failback orchestration (dr/).
 */
export { buildManagerApi, type ManagerApiContext, type Principal, type RouteAccess } from './api.js';
export type { BackupSettingView, GenerationView, JobView } from './api-schema.js';
export * as api from './api-schema.js';
export { type Access, allows, hashPassword, ROLES, verifyPassword } from './auth.js';
export { ManagerClient, type PageOptions } from './client.js';
export { type Clock, ManualClock, systemClock, type TimerHandle } from './clock.js';
export {
  DEFAULT_MANAGER_CONFIG,
  type ManagerConfig,
  readManagerConfig,
  writeManagerConfig,
} from './config.js';
export { type ManagerOptions, type RunningManager, startManager } from './daemon.js';
export { type ManagerDb, SqliteManagerDb } from './db/index.js';
export { JOB_PLANS, JobRunner } from './jobs/index.js';
export { HealthPoller } from './poller.js';
export { type NodeConnector, Registry } from './registry.js';
export { Scheduler } from './scheduler.js';
export * as sites from './sites/index.js';
