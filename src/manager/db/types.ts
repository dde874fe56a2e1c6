/**
 * The manager's records and the one data-access interface, ManagerDb. Everything the
 * manager keeps goes through it, so a PostgreSQL backend can follow by implementing it
 * again (the methods are async for that reason, though SQLite answers at once).
 */

export type SiteRole = 'primary' | 'secondary';
export type NodeHealth = 'ok' | 'unreachable';
export type Role = 'admin' | 'operator' | 'viewer';
export type EventLevel = 'info' | 'warning' | 'error';

export interface SiteRecord {
  name: string;
  role: SiteRole;
  createdAt: string;
}

export interface NodeRecord {
  name: string;
  site: string;
  apiUrl: string;
  /** The node's API token, SecretBox-sealed. */
  sealedToken: string;
  /** Device serial number, learned from the node's /v1/node at registration. */
  serial: string;
  health: NodeHealth;
  /** Why it is unreachable (the last error), null when ok. */
  healthReason: string | null;
  healthChangedAt: string;
  lastSeenAt: string | null;
  createdAt: string;
}

/** SPEC Fig. 7, as the node reports it. */
export interface VolumeSyncInput {
  uniqueId: string;
  name: string;
  serial: string;
  number: number;
  sizeBytes: number;
  usedBytes: number;
  pool: string;
  inheritedUniqueId: string | null;
  createdAt: string;
}

/** SPEC Fig. 7 plus what only the manager knows (backed up, last backup time). */
export interface VolumeRecord extends VolumeSyncInput {
  node: string;
  backedUp: boolean;
  lastBackupAt: string | null;
  syncedAt: string;
}

export interface StoreRecord {
  name: string;
  provider: 'directory' | 's3';
  path: string | null;
  endpoint: string | null;
  region: string | null;
  bucket: string | null;
  accessKeyId: string | null;
  sealedSecretKey: string | null;
  encryption: 'none' | 'aes-256-gcm';
  sealedEncryptionKey: string | null;
  tags: Record<string, string>;
  createdAt: string;
}

export interface UserRecord {
  name: string;
  role: Role;
  /** scrypt$N$r$p$salt$hash, or null for a user who signs in with tokens only. */
  passwordHash: string | null;
  createdAt: string;
}

export interface TokenRecord {
  id: string;
  user: string;
  name: string;
  /** SHA-256 of the token, hex. The token itself is never stored. */
  tokenHash: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string | null;
  role: Role | null;
  method: string;
  path: string;
  status: number;
  ip: string | null;
}

export interface EventEntry {
  id: number;
  at: string;
  level: EventLevel;
  kind: string;
  subject: string | null;
  message: string;
  detail: Record<string, unknown> | null;
}

export type BackupMethod = 'full' | 'incremental' | 'differential';

/**
 * SPEC Fig. 10's timing: one shot (now when `at` is null, else at that time) or periodic
 * (every `interval` days, weeks or months from `start`, at most `maxRuns` times).
 */
export type Schedule =
  | { kind: 'once'; at: string | null }
  | { kind: 'daily' | 'weekly' | 'monthly'; start: string; interval: number; maxRuns: number | null };

/** Which generations to keep after each run (the node's prune rules). */
export interface RetentionRules {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
}

export interface BackupSettingRecord {
  id: string;
  name: string;
  /** The volume's unique ID. */
  volume: string;
  store: string;
  method: BackupMethod;
  schedule: Schedule;
  retention: RetentionRules | null;
  enabled: boolean;
  runs: number;
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastJob: string | null;
  createdAt: string;
}

export type JobState = 'queued' | 'running' | 'paused' | 'cancelling' | 'succeeded' | 'failed' | 'cancelled';
export const ACTIVE_JOB_STATES: readonly JobState[] = ['queued', 'running', 'paused', 'cancelling'];

export interface JobProgress {
  bytesDone: number;
  bytesTotal: number;
  rateBytesPerSec: number;
  etaSeconds: number | null;
}

export interface JobError {
  code: string;
  message: string;
  detail?: Record<string, unknown>;
}

export interface JobRecord {
  id: string;
  kind: string;
  title: string;
  state: JobState;
  /** At most one active job per lock key (e.g. `volume:<unique ID>`). */
  lockKey: string | null;
  params: Record<string, unknown>;
  /** What the job's steps have learned so far; the plan's state. */
  data: Record<string, unknown>;
  /** The step in progress (or the one a paused job will run again). */
  step: string | null;
  progress: JobProgress | null;
  result: Record<string, unknown> | null;
  error: JobError | null;
  pausedReason: string | null;
  /** The node whose return resumes a paused job. */
  waitingNode: string | null;
  setting: string | null;
  /** Started later than planned (a run missed while the manager was down). */
  late: boolean;
  createdBy: string | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  updatedAt: string;
}

export type JobLogStatus = 'started' | 'done' | 'failed' | 'paused' | 'info';

export interface JobLogEntry {
  id: number;
  job: string;
  at: string;
  step: string;
  /** SPEC step or figure numbers, e.g. "S201-S208". */
  spec: string | null;
  status: JobLogStatus;
  message: string;
}

export type JobChange = Partial<
  Pick<
    JobRecord,
    | 'state'
    | 'data'
    | 'step'
    | 'progress'
    | 'result'
    | 'error'
    | 'pausedReason'
    | 'waitingNode'
    | 'startedAt'
    | 'endedAt'
  >
> & { updatedAt: string };

export type BackupSettingChange = Partial<
  Pick<
    BackupSettingRecord,
    'enabled' | 'runs' | 'nextRunAt' | 'lastRunAt' | 'lastJob' | 'schedule' | 'method' | 'retention' | 'store'
  >
>;

export interface SiteProviderRecord {
  site: string;
  /** The provider configuration as JSON, SecretBox-sealed. */
  sealedConfig: string;
  hooks: Record<string, unknown> | null;
  createdAt: string;
}

/** Where a protected volume is active and what a failback needs (SPEC S108, S401-S402, S503). */
export interface DrVolumeRecord {
  /** The unique ID its backups are filed under: the primary volume's. */
  lineage: string;
  primaryNode: string;
  primaryVolume: string;
  active: 'primary' | 'secondary';
  /** failed-over | failing-back | failed-back */
  state: string;
  store: string | null;
  /** The generation the secondary was restored from. */
  baseGeneration: string | null;
  secondarySite: string | null;
  secondaryNode: string | null;
  secondaryVolume: string | null;
  /** S301-S303 on the primary: done, owed (primary unreachable at failover), or null. */
  consistency: 'done' | 'owed' | null;
  consistencyDetail: string | null;
  failoverJob: string | null;
  failbackJob: string | null;
  failedOverAt: string | null;
  failedBackAt: string | null;
  updatedAt: string;
}

/** Newest first; pass `nextBefore` back as `before` for the next page. */
export interface Page<T> {
  items: T[];
  nextBefore: number | null;
}

export interface PageQuery {
  limit: number;
  before?: number;
}

export interface SyncResult {
  added: string[];
  removed: string[];
  updated: string[];
}

export interface ManagerDb {
  /** Highest migration applied. */
  schemaVersion(): Promise<number>;

  listSites(): Promise<SiteRecord[]>;
  getSite(name: string): Promise<SiteRecord | undefined>;
  addSite(site: SiteRecord): Promise<void>;
  removeSite(name: string): Promise<void>;

  listNodes(): Promise<NodeRecord[]>;
  getNode(name: string): Promise<NodeRecord | undefined>;
  getNodeBySerial(serial: string): Promise<NodeRecord | undefined>;
  addNode(node: NodeRecord): Promise<void>;
  removeNode(name: string): Promise<void>;
  setNodeHealth(
    name: string,
    health: { health: NodeHealth; reason: string | null; changedAt: string; lastSeenAt: string | null },
  ): Promise<void>;

  listVolumes(filter?: { node?: string; name?: string }): Promise<VolumeRecord[]>;
  getVolume(uniqueId: string): Promise<VolumeRecord | undefined>;
  /** Replace what is known of one node's volumes by what it reports, in one transaction. */
  syncNodeVolumes(node: string, volumes: VolumeSyncInput[], at: string): Promise<SyncResult>;
  recordBackup(uniqueId: string, at: string): Promise<void>;

  listStores(): Promise<StoreRecord[]>;
  getStore(name: string): Promise<StoreRecord | undefined>;
  addStore(store: StoreRecord): Promise<void>;
  removeStore(name: string): Promise<void>;

  countUsers(): Promise<number>;
  listUsers(): Promise<UserRecord[]>;
  getUser(name: string): Promise<UserRecord | undefined>;
  addUser(user: UserRecord): Promise<void>;
  updateUser(name: string, change: { role?: Role; passwordHash?: string | null }): Promise<void>;
  removeUser(name: string): Promise<void>;

  addToken(token: TokenRecord): Promise<void>;
  /** The token with that hash and its user, if both exist. */
  findToken(tokenHash: string): Promise<{ token: TokenRecord; user: UserRecord } | undefined>;
  listTokens(user?: string): Promise<TokenRecord[]>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  removeToken(id: string): Promise<void>;
  touchToken(id: string, at: string): Promise<void>;

  appendAudit(entry: Omit<AuditEntry, 'id'>): Promise<void>;
  listAudit(page: PageQuery): Promise<Page<AuditEntry>>;
  appendEvent(entry: Omit<EventEntry, 'id'>): Promise<EventEntry>;
  listEvents(page: PageQuery & { kind?: string }): Promise<Page<EventEntry>>;

  listBackupSettings(): Promise<BackupSettingRecord[]>;
  getBackupSetting(idOrName: string): Promise<BackupSettingRecord | undefined>;
  addBackupSetting(setting: BackupSettingRecord): Promise<void>;
  updateBackupSetting(id: string, change: BackupSettingChange): Promise<void>;
  removeBackupSetting(id: string): Promise<void>;

  /**
   * Insert a job (ALREADY_EXISTS-style BUSY when an active job holds its lock key). With
   * `claim`, also move the setting on, in the same transaction, and only if its
   * next_run_at is still `claim.expectNextRunAt`: a run is claimed once, even if two
   * schedulers race or the manager dies between the two writes.
   */
  addJob(
    job: JobRecord,
    claim?: { setting: string; expectNextRunAt: string | null; change: BackupSettingChange },
  ): Promise<boolean>;
  getJob(id: string): Promise<JobRecord | undefined>;
  listJobs(filter: {
    state?: JobState[];
    kind?: string;
    setting?: string;
    limit: number;
  }): Promise<JobRecord[]>;
  /** With `log`, that line is appended in the same transaction (a step and its log line). */
  updateJob(id: string, change: JobChange, log?: Omit<JobLogEntry, 'id'>): Promise<void>;
  appendJobLog(entry: Omit<JobLogEntry, 'id'>): Promise<JobLogEntry>;
  listJobLog(job: string): Promise<JobLogEntry[]>;

  getSiteProvider(site: string): Promise<SiteProviderRecord | undefined>;
  putSiteProvider(record: SiteProviderRecord): Promise<void>;

  listDrVolumes(): Promise<DrVolumeRecord[]>;
  getDrVolume(lineage: string): Promise<DrVolumeRecord | undefined>;
  putDrVolume(record: DrVolumeRecord): Promise<void>;

  close(): Promise<void>;
}
