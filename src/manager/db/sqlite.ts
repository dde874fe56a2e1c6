/**
 * ManagerDb on SQLite (better-sqlite3), the embedded default: one file, `manager.db`, in
 * the manager's data directory, WAL mode (readers never wait for the writer), full
 * synchronous commits (a job's recorded state must survive a power cut), foreign keys
 * on. All SQL of the manager lives in this file and migrations/.
 */
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ReboundError } from '../../errors.js';
import { migrate, schemaVersion } from './migrate.js';
import { MIGRATIONS, type Migration } from './migrations/index.js';
import type {
  AuditEntry,
  BackupSettingChange,
  BackupSettingRecord,
  DrVolumeRecord,
  EventEntry,
  JobChange,
  JobLogEntry,
  JobRecord,
  JobState,
  ManagerDb,
  NodeHealth,
  NodeRecord,
  Page,
  PageQuery,
  Role,
  SiteProviderRecord,
  SiteRecord,
  StoreRecord,
  SyncResult,
  TokenRecord,
  UserRecord,
  VolumeRecord,
  VolumeSyncInput,
} from './types.js';

export const DB_FILE = 'manager.db';

type Row = Record<string, unknown>;

/** Prepared statements kept at most (see `statement` below). */
const STATEMENT_CACHE = 256;

export class SqliteManagerDb implements ManagerDb {
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(private readonly db: Database.Database) {}

  /** Open (creating, mode 0600) `manager.db` in dataDir and bring it to the newest schema. */
  static open(
    dataDir: string,
    options: { at?: string; migrations?: readonly Migration[] } = {},
  ): { db: SqliteManagerDb; applied: number[] } {
    const path = join(dataDir, DB_FILE);
    closeSync(openSync(path, 'a', 0o600));
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      const applied = migrate(db, options.migrations ?? MIGRATIONS, options.at ?? new Date().toISOString());
      return { db: new SqliteManagerDb(db), applied };
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async schemaVersion(): Promise<number> {
    return schemaVersion(this.db);
  }

  // ---- sites ----

  async listSites(): Promise<SiteRecord[]> {
    return this.all('SELECT * FROM sites ORDER BY name').map(site);
  }
  async getSite(name: string): Promise<SiteRecord | undefined> {
    return mapOpt(this.one('SELECT * FROM sites WHERE name = ?', name), site);
  }
  async addSite(s: SiteRecord): Promise<void> {
    this.unique(`a site named ${s.name} exists`, () =>
      this.run('INSERT INTO sites (name, role, created_at) VALUES (?, ?, ?)', s.name, s.role, s.createdAt),
    );
  }
  async removeSite(name: string): Promise<void> {
    const nodes = this.all('SELECT name FROM nodes WHERE site = ?', name);
    if (nodes.length > 0) {
      throw new ReboundError(
        'BUSY',
        `site ${name} still has nodes (${nodes.map((n) => n.name).join(', ')}); remove them first`,
      );
    }
    this.run('DELETE FROM sites WHERE name = ?', name);
  }

  // ---- nodes ----

  async listNodes(): Promise<NodeRecord[]> {
    return this.all('SELECT * FROM nodes ORDER BY name').map(node);
  }
  async getNode(name: string): Promise<NodeRecord | undefined> {
    return mapOpt(this.one('SELECT * FROM nodes WHERE name = ?', name), node);
  }
  async getNodeBySerial(serial: string): Promise<NodeRecord | undefined> {
    return mapOpt(this.one('SELECT * FROM nodes WHERE serial = ?', serial), node);
  }
  async addNode(n: NodeRecord): Promise<void> {
    this.unique(`a node named ${n.name} (or with serial ${n.serial}) is registered`, () =>
      this.run(
        `INSERT INTO nodes (name, site, api_url, sealed_token, serial, health, health_reason,
           health_changed_at, last_seen_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        n.name,
        n.site,
        n.apiUrl,
        n.sealedToken,
        n.serial,
        n.health,
        n.healthReason,
        n.healthChangedAt,
        n.lastSeenAt,
        n.createdAt,
      ),
    );
  }
  async removeNode(name: string): Promise<void> {
    this.run('DELETE FROM nodes WHERE name = ?', name);
  }
  async setNodeHealth(
    name: string,
    h: { health: NodeHealth; reason: string | null; changedAt: string; lastSeenAt: string | null },
  ): Promise<void> {
    this.run(
      `UPDATE nodes SET health = ?, health_reason = ?, health_changed_at = ?,
         last_seen_at = COALESCE(?, last_seen_at) WHERE name = ?`,
      h.health,
      h.reason,
      h.changedAt,
      h.lastSeenAt,
      name,
    );
  }

  // ---- volumes ----

  async listVolumes(filter: { node?: string; name?: string } = {}): Promise<VolumeRecord[]> {
    return this.all(
      `SELECT * FROM volumes WHERE (@node IS NULL OR node = @node) AND (@name IS NULL OR name = @name)
       ORDER BY node, number`,
      { node: filter.node ?? null, name: filter.name ?? null },
    ).map(volume);
  }
  async getVolume(uniqueId: string): Promise<VolumeRecord | undefined> {
    return mapOpt(this.one('SELECT * FROM volumes WHERE unique_id = ?', uniqueId), volume);
  }
  async syncNodeVolumes(nodeName: string, reported: VolumeSyncInput[], at: string): Promise<SyncResult> {
    const result: SyncResult = { added: [], removed: [], updated: [] };
    this.db.transaction(() => {
      const known = new Map(
        this.all('SELECT * FROM volumes WHERE node = ?', nodeName).map((r) => [
          r.unique_id as string,
          volume(r),
        ]),
      );
      const seen = new Set<string>();
      for (const v of reported) {
        seen.add(v.uniqueId);
        const old = known.get(v.uniqueId);
        if (!old) {
          // A name freed by a deleted volume may come back with a new number: drop the stale row.
          this.run('DELETE FROM volumes WHERE node = ? AND name = ?', nodeName, v.name);
          this.run(
            `INSERT INTO volumes (unique_id, node, name, serial, number, size_bytes, used_bytes, pool,
               inherited_unique_id, created_at, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            v.uniqueId,
            nodeName,
            v.name,
            v.serial,
            v.number,
            v.sizeBytes,
            v.usedBytes,
            v.pool,
            v.inheritedUniqueId,
            v.createdAt,
            at,
          );
          result.added.push(v.uniqueId);
          continue;
        }
        if (
          old.name !== v.name ||
          old.sizeBytes !== v.sizeBytes ||
          old.usedBytes !== v.usedBytes ||
          old.pool !== v.pool ||
          old.inheritedUniqueId !== v.inheritedUniqueId
        ) {
          result.updated.push(v.uniqueId);
        }
        this.run(
          `UPDATE volumes SET name = ?, size_bytes = ?, used_bytes = ?, pool = ?, inherited_unique_id = ?,
             synced_at = ? WHERE unique_id = ?`,
          v.name,
          v.sizeBytes,
          v.usedBytes,
          v.pool,
          v.inheritedUniqueId,
          at,
          v.uniqueId,
        );
      }
      for (const id of known.keys()) {
        if (seen.has(id)) continue;
        this.run('DELETE FROM volumes WHERE unique_id = ?', id);
        result.removed.push(id);
      }
    })();
    return result;
  }
  async recordBackup(uniqueId: string, at: string): Promise<void> {
    this.run('UPDATE volumes SET backed_up = 1, last_backup_at = ? WHERE unique_id = ?', at, uniqueId);
  }

  // ---- stores ----

  async listStores(): Promise<StoreRecord[]> {
    return this.all('SELECT * FROM stores ORDER BY name').map(store);
  }
  async getStore(name: string): Promise<StoreRecord | undefined> {
    return mapOpt(this.one('SELECT * FROM stores WHERE name = ?', name), store);
  }
  async addStore(s: StoreRecord): Promise<void> {
    this.unique(`a store named ${s.name} is registered`, () =>
      this.run(
        `INSERT INTO stores (name, provider, path, endpoint, region, bucket, access_key_id, sealed_secret_key,
           encryption, sealed_encryption_key, tags_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        s.name,
        s.provider,
        s.path,
        s.endpoint,
        s.region,
        s.bucket,
        s.accessKeyId,
        s.sealedSecretKey,
        s.encryption,
        s.sealedEncryptionKey,
        JSON.stringify(s.tags),
        s.createdAt,
      ),
    );
  }
  async removeStore(name: string): Promise<void> {
    this.run('DELETE FROM stores WHERE name = ?', name);
  }

  // ---- users and tokens ----

  async countUsers(): Promise<number> {
    return (this.one('SELECT COUNT(*) AS n FROM users') as { n: number }).n;
  }
  async listUsers(): Promise<UserRecord[]> {
    return this.all('SELECT * FROM users ORDER BY name').map(user);
  }
  async getUser(name: string): Promise<UserRecord | undefined> {
    return mapOpt(this.one('SELECT * FROM users WHERE name = ?', name), user);
  }
  async addUser(u: UserRecord): Promise<void> {
    this.unique(`a user named ${u.name} exists`, () =>
      this.run(
        'INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)',
        u.name,
        u.role,
        u.passwordHash,
        u.createdAt,
      ),
    );
  }
  async updateUser(name: string, change: { role?: Role; passwordHash?: string | null }): Promise<void> {
    this.db.transaction(() => {
      if (change.role !== undefined) this.run('UPDATE users SET role = ? WHERE name = ?', change.role, name);
      if (change.passwordHash !== undefined)
        this.run('UPDATE users SET password_hash = ? WHERE name = ?', change.passwordHash, name);
    })();
  }
  async removeUser(name: string): Promise<void> {
    this.run('DELETE FROM users WHERE name = ?', name);
  }

  async addToken(t: TokenRecord): Promise<void> {
    this.run(
      `INSERT INTO api_tokens (id, user, name, token_hash, created_at, expires_at, last_used_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      t.id,
      t.user,
      t.name,
      t.tokenHash,
      t.createdAt,
      t.expiresAt,
      t.lastUsedAt,
    );
  }
  async findToken(tokenHash: string): Promise<{ token: TokenRecord; user: UserRecord } | undefined> {
    const t = this.one('SELECT * FROM api_tokens WHERE token_hash = ?', tokenHash);
    if (!t) return undefined;
    const u = this.one('SELECT * FROM users WHERE name = ?', t.user);
    return u ? { token: token(t), user: user(u) } : undefined;
  }
  async listTokens(userName?: string): Promise<TokenRecord[]> {
    return this.all(
      'SELECT * FROM api_tokens WHERE (@user IS NULL OR user = @user) ORDER BY created_at, id',
      { user: userName ?? null },
    ).map(token);
  }
  async getToken(id: string): Promise<TokenRecord | undefined> {
    return mapOpt(this.one('SELECT * FROM api_tokens WHERE id = ?', id), token);
  }
  async removeToken(id: string): Promise<void> {
    this.run('DELETE FROM api_tokens WHERE id = ?', id);
  }
  async touchToken(id: string, at: string): Promise<void> {
    this.run('UPDATE api_tokens SET last_used_at = ? WHERE id = ?', at, id);
  }

  // ---- logs ----

  async appendAudit(e: Omit<AuditEntry, 'id'>): Promise<void> {
    this.run(
      'INSERT INTO audit_log (at, actor, role, method, path, status, ip) VALUES (?, ?, ?, ?, ?, ?, ?)',
      e.at,
      e.actor,
      e.role,
      e.method,
      e.path,
      e.status,
      e.ip,
    );
  }
  async listAudit(q: PageQuery): Promise<Page<AuditEntry>> {
    const rows = this.all(
      'SELECT * FROM audit_log WHERE (@before IS NULL OR id < @before) ORDER BY id DESC LIMIT @limit',
      { before: q.before ?? null, limit: q.limit + 1 },
    );
    return page(rows, q.limit, (r) => ({
      id: r.id as number,
      at: r.at as string,
      actor: (r.actor as string | null) ?? null,
      role: (r.role as Role | null) ?? null,
      method: r.method as string,
      path: r.path as string,
      status: r.status as number,
      ip: (r.ip as string | null) ?? null,
    }));
  }
  async appendEvent(e: Omit<EventEntry, 'id'>): Promise<EventEntry> {
    const info = this.run(
      'INSERT INTO event_log (at, level, kind, subject, message, detail_json) VALUES (?, ?, ?, ?, ?, ?)',
      e.at,
      e.level,
      e.kind,
      e.subject,
      e.message,
      e.detail ? JSON.stringify(e.detail) : null,
    );
    return { id: Number(info.lastInsertRowid), ...e };
  }
  async listEvents(q: PageQuery & { kind?: string }): Promise<Page<EventEntry>> {
    const rows = this.all(
      `SELECT * FROM event_log WHERE (@before IS NULL OR id < @before) AND (@kind IS NULL OR kind = @kind)
       ORDER BY id DESC LIMIT @limit`,
      { before: q.before ?? null, kind: q.kind ?? null, limit: q.limit + 1 },
    );
    return page(rows, q.limit, (r) => ({
      id: r.id as number,
      at: r.at as string,
      level: r.level as EventEntry['level'],
      kind: r.kind as string,
      subject: (r.subject as string | null) ?? null,
      message: r.message as string,
      detail: r.detail_json ? (JSON.parse(r.detail_json as string) as Record<string, unknown>) : null,
    }));
  }

  // ---- backup settings ----

  async listBackupSettings(): Promise<BackupSettingRecord[]> {
    return this.all('SELECT * FROM backup_settings ORDER BY name').map(setting);
  }
  async getBackupSetting(idOrName: string): Promise<BackupSettingRecord | undefined> {
    return mapOpt(
      this.one('SELECT * FROM backup_settings WHERE id = ? OR name = ?', idOrName, idOrName),
      setting,
    );
  }
  async addBackupSetting(b: BackupSettingRecord): Promise<void> {
    this.unique(`a backup setting named ${b.name} exists`, () =>
      this.run(
        `INSERT INTO backup_settings (id, name, volume, store, method, schedule_json, retention_json, enabled, runs,
           next_run_at, last_run_at, last_job, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        b.id,
        b.name,
        b.volume,
        b.store,
        b.method,
        JSON.stringify(b.schedule),
        b.retention ? JSON.stringify(b.retention) : null,
        b.enabled ? 1 : 0,
        b.runs,
        b.nextRunAt,
        b.lastRunAt,
        b.lastJob,
        b.createdAt,
      ),
    );
  }
  async updateBackupSetting(id: string, change: BackupSettingChange): Promise<void> {
    this.updateSetting(id, change);
  }
  async removeBackupSetting(id: string): Promise<void> {
    this.run('DELETE FROM backup_settings WHERE id = ?', id);
  }

  // ---- jobs ----

  async addJob(
    j: JobRecord,
    claim?: { setting: string; expectNextRunAt: string | null; change: BackupSettingChange },
  ): Promise<boolean> {
    return this.db.transaction(() => {
      if (claim) {
        const row = this.one('SELECT next_run_at FROM backup_settings WHERE id = ?', claim.setting);
        if (!row || (row.next_run_at ?? null) !== claim.expectNextRunAt) return false;
        this.updateSetting(claim.setting, claim.change);
      }
      try {
        this.run(
          `INSERT INTO jobs (id, kind, title, state, lock_key, params_json, data_json, step, progress_json, result_json,
             error_json, paused_reason, waiting_node, setting, late, created_by, created_at, started_at, ended_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          j.id,
          j.kind,
          j.title,
          j.state,
          j.lockKey,
          JSON.stringify(j.params),
          JSON.stringify(j.data),
          j.step,
          json(j.progress),
          json(j.result),
          json(j.error),
          j.pausedReason,
          j.waitingNode,
          j.setting,
          j.late ? 1 : 0,
          j.createdBy,
          j.createdAt,
          j.startedAt,
          j.endedAt,
          j.updatedAt,
        );
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        if (code === 'SQLITE_CONSTRAINT_UNIQUE' && j.lockKey !== null) {
          const holder = this.one(
            `SELECT id, title FROM jobs WHERE lock_key = ? AND state IN ('queued', 'running', 'paused', 'cancelling')`,
            j.lockKey,
          );
          throw new ReboundError(
            'BUSY',
            `job ${holder?.id ?? '?'} (${holder?.title ?? j.lockKey}) is still active on the same ${j.lockKey.split(':')[0]}: wait for it or cancel it (rebound job cancel ${holder?.id ?? ''})`,
            { cause: err, detail: { job: holder?.id ?? null, lockKey: j.lockKey } },
          );
        }
        throw err;
      }
      return true;
    })();
  }
  async getJob(id: string): Promise<JobRecord | undefined> {
    return mapOpt(this.one('SELECT * FROM jobs WHERE id = ?', id), job);
  }
  async listJobs(f: {
    state?: JobState[];
    kind?: string;
    setting?: string;
    limit: number;
  }): Promise<JobRecord[]> {
    const states = f.state && f.state.length > 0 ? f.state : null;
    return this.all(
      `SELECT * FROM jobs WHERE (@states IS NULL OR state IN (SELECT value FROM json_each(@states)))
         AND (@kind IS NULL OR kind = @kind) AND (@setting IS NULL OR setting = @setting)
       ORDER BY created_at DESC, rowid DESC LIMIT @limit`,
      {
        states: states ? JSON.stringify(states) : null,
        kind: f.kind ?? null,
        setting: f.setting ?? null,
        limit: f.limit,
      },
    ).map(job);
  }
  async updateJob(id: string, c: JobChange, log?: Omit<JobLogEntry, 'id'>): Promise<void> {
    if (log) {
      // One commit, not two: a step's state and its log line land together.
      this.db.transaction(() => {
        this.changeJob(id, c);
        this.insertJobLog(log);
      })();
      return;
    }
    this.changeJob(id, c);
  }
  private changeJob(id: string, c: JobChange): void {
    const cols: Record<string, unknown> = { updated_at: c.updatedAt };
    if (c.state !== undefined) cols.state = c.state;
    if (c.data !== undefined) cols.data_json = JSON.stringify(c.data);
    if (c.step !== undefined) cols.step = c.step;
    if (c.progress !== undefined) cols.progress_json = json(c.progress);
    if (c.result !== undefined) cols.result_json = json(c.result);
    if (c.error !== undefined) cols.error_json = json(c.error);
    if (c.pausedReason !== undefined) cols.paused_reason = c.pausedReason;
    if (c.waitingNode !== undefined) cols.waiting_node = c.waitingNode;
    if (c.startedAt !== undefined) cols.started_at = c.startedAt;
    if (c.endedAt !== undefined) cols.ended_at = c.endedAt;
    const names = Object.keys(cols);
    this.run(`UPDATE jobs SET ${names.map((n) => `${n} = @${n}`).join(', ')} WHERE id = @id`, {
      ...cols,
      id,
    });
  }
  async appendJobLog(e: Omit<JobLogEntry, 'id'>): Promise<JobLogEntry> {
    return this.insertJobLog(e);
  }
  private insertJobLog(e: Omit<JobLogEntry, 'id'>): JobLogEntry {
    const info = this.run(
      'INSERT INTO job_log (job, at, step, spec, status, message) VALUES (?, ?, ?, ?, ?, ?)',
      e.job,
      e.at,
      e.step,
      e.spec,
      e.status,
      e.message,
    );
    return { id: Number(info.lastInsertRowid), ...e };
  }
  async listJobLog(jobId: string): Promise<JobLogEntry[]> {
    return this.all('SELECT * FROM job_log WHERE job = ? ORDER BY id', jobId).map((r) => ({
      id: r.id as number,
      job: r.job as string,
      at: r.at as string,
      step: r.step as string,
      spec: (r.spec as string | null) ?? null,
      status: r.status as JobLogEntry['status'],
      message: r.message as string,
    }));
  }

  // ---- disaster recovery ----

  async getSiteProvider(site: string): Promise<SiteProviderRecord | undefined> {
    return mapOpt(this.one('SELECT * FROM site_providers WHERE site = ?', site), (r) => ({
      site: r.site as string,
      sealedConfig: r.sealed_config as string,
      hooks: parsed(r.hooks_json),
      createdAt: r.created_at as string,
    }));
  }
  async putSiteProvider(p: SiteProviderRecord): Promise<void> {
    this.unique('no such site', () =>
      this.run(
        `INSERT INTO site_providers (site, sealed_config, hooks_json, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (site) DO UPDATE SET sealed_config = excluded.sealed_config, hooks_json = excluded.hooks_json`,
        p.site,
        p.sealedConfig,
        json(p.hooks),
        p.createdAt,
      ),
    );
  }
  async listDrVolumes(): Promise<DrVolumeRecord[]> {
    return this.all('SELECT * FROM dr_volumes ORDER BY primary_volume').map(drVolume);
  }
  async getDrVolume(lineage: string): Promise<DrVolumeRecord | undefined> {
    return mapOpt(this.one('SELECT * FROM dr_volumes WHERE lineage = ?', lineage), drVolume);
  }
  async putDrVolume(d: DrVolumeRecord): Promise<void> {
    const cols = {
      lineage: d.lineage,
      primary_node: d.primaryNode,
      primary_volume: d.primaryVolume,
      active: d.active,
      state: d.state,
      store: d.store,
      base_generation: d.baseGeneration,
      secondary_site: d.secondarySite,
      secondary_node: d.secondaryNode,
      secondary_volume: d.secondaryVolume,
      consistency: d.consistency,
      consistency_detail: d.consistencyDetail,
      failover_job: d.failoverJob,
      failback_job: d.failbackJob,
      failed_over_at: d.failedOverAt,
      failed_back_at: d.failedBackAt,
      updated_at: d.updatedAt,
    };
    const names = Object.keys(cols);
    this.run(
      `INSERT INTO dr_volumes (${names.join(', ')}) VALUES (${names.map((n) => `@${n}`).join(', ')})
       ON CONFLICT (lineage) DO UPDATE SET ${names
         .filter((n) => n !== 'lineage')
         .map((n) => `${n} = excluded.${n}`)
         .join(', ')}`,
      cols,
    );
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private updateSetting(id: string, c: BackupSettingChange): void {
    const cols: Record<string, unknown> = {};
    if (c.enabled !== undefined) cols.enabled = c.enabled ? 1 : 0;
    if (c.runs !== undefined) cols.runs = c.runs;
    if (c.nextRunAt !== undefined) cols.next_run_at = c.nextRunAt;
    if (c.lastRunAt !== undefined) cols.last_run_at = c.lastRunAt;
    if (c.lastJob !== undefined) cols.last_job = c.lastJob;
    if (c.schedule !== undefined) cols.schedule_json = JSON.stringify(c.schedule);
    if (c.method !== undefined) cols.method = c.method;
    if (c.retention !== undefined) cols.retention_json = json(c.retention);
    if (c.store !== undefined) cols.store = c.store;
    const names = Object.keys(cols);
    if (names.length === 0) return;
    this.run(`UPDATE backup_settings SET ${names.map((n) => `${n} = @${n}`).join(', ')} WHERE id = @id`, {
      ...cols,
      id,
    });
  }

  // ---- helpers ----

  private all(sql: string, ...args: unknown[]): Row[] {
    return this.statement(sql).all(...args) as Row[];
  }
  private one(sql: string, ...args: unknown[]): Row | undefined {
    return this.statement(sql).get(...args) as Row | undefined;
  }
  private run(sql: string, ...args: unknown[]): Database.RunResult {
    return this.statement(sql).run(...args);
  }

  /**
   * Statements are prepared once and kept: preparing parses and plans the SQL each time
   * (a job step writes its record and log several times). The SQL texts are a fixed few
   * (plus updates naming the columns they change); past STATEMENT_CACHE of them the
   * cache starts over rather than grow.
   */
  private statement(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (st === undefined) {
      if (this.statements.size >= STATEMENT_CACHE) this.statements.clear();
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }
  /** Map SQLite's uniqueness and reference failures to ReboundError codes. */
  private unique(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new ReboundError('ALREADY_EXISTS', what, { cause: err });
      }
      if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
        throw new ReboundError('NOT_FOUND', 'a record it refers to does not exist', { cause: err });
      }
      throw err;
    }
  }
}

function json(v: unknown): string | null {
  return v === null || v === undefined ? null : JSON.stringify(v);
}

function parsed<T>(v: unknown): T | null {
  return v === null || v === undefined ? null : (JSON.parse(v as string) as T);
}

const drVolume = (r: Row): DrVolumeRecord => ({
  lineage: r.lineage as string,
  primaryNode: r.primary_node as string,
  primaryVolume: r.primary_volume as string,
  active: r.active as DrVolumeRecord['active'],
  state: r.state as string,
  store: (r.store as string | null) ?? null,
  baseGeneration: (r.base_generation as string | null) ?? null,
  secondarySite: (r.secondary_site as string | null) ?? null,
  secondaryNode: (r.secondary_node as string | null) ?? null,
  secondaryVolume: (r.secondary_volume as string | null) ?? null,
  consistency: (r.consistency as DrVolumeRecord['consistency']) ?? null,
  consistencyDetail: (r.consistency_detail as string | null) ?? null,
  failoverJob: (r.failover_job as string | null) ?? null,
  failbackJob: (r.failback_job as string | null) ?? null,
  failedOverAt: (r.failed_over_at as string | null) ?? null,
  failedBackAt: (r.failed_back_at as string | null) ?? null,
  updatedAt: r.updated_at as string,
});

const setting = (r: Row): BackupSettingRecord => ({
  id: r.id as string,
  name: r.name as string,
  volume: r.volume as string,
  store: r.store as string,
  method: r.method as BackupSettingRecord['method'],
  schedule: JSON.parse(r.schedule_json as string) as BackupSettingRecord['schedule'],
  retention: parsed(r.retention_json),
  enabled: r.enabled === 1,
  runs: r.runs as number,
  nextRunAt: (r.next_run_at as string | null) ?? null,
  lastRunAt: (r.last_run_at as string | null) ?? null,
  lastJob: (r.last_job as string | null) ?? null,
  createdAt: r.created_at as string,
});

const job = (r: Row): JobRecord => ({
  id: r.id as string,
  kind: r.kind as string,
  title: r.title as string,
  state: r.state as JobState,
  lockKey: (r.lock_key as string | null) ?? null,
  params: JSON.parse(r.params_json as string) as Record<string, unknown>,
  data: JSON.parse(r.data_json as string) as Record<string, unknown>,
  step: (r.step as string | null) ?? null,
  progress: parsed(r.progress_json),
  result: parsed(r.result_json),
  error: parsed(r.error_json),
  pausedReason: (r.paused_reason as string | null) ?? null,
  waitingNode: (r.waiting_node as string | null) ?? null,
  setting: (r.setting as string | null) ?? null,
  late: r.late === 1,
  createdBy: (r.created_by as string | null) ?? null,
  createdAt: r.created_at as string,
  startedAt: (r.started_at as string | null) ?? null,
  endedAt: (r.ended_at as string | null) ?? null,
  updatedAt: r.updated_at as string,
});

function mapOpt<T>(row: Row | undefined, f: (r: Row) => T): T | undefined {
  return row ? f(row) : undefined;
}

function page<T extends { id: number }>(rows: Row[], limit: number, f: (r: Row) => T): Page<T> {
  const items = rows.slice(0, limit).map(f);
  return { items, nextBefore: rows.length > limit ? items[items.length - 1].id : null };
}

const site = (r: Row): SiteRecord => ({
  name: r.name as string,
  role: r.role as SiteRecord['role'],
  createdAt: r.created_at as string,
});

const node = (r: Row): NodeRecord => ({
  name: r.name as string,
  site: r.site as string,
  apiUrl: r.api_url as string,
  sealedToken: r.sealed_token as string,
  serial: r.serial as string,
  health: r.health as NodeHealth,
  healthReason: (r.health_reason as string | null) ?? null,
  healthChangedAt: r.health_changed_at as string,
  lastSeenAt: (r.last_seen_at as string | null) ?? null,
  createdAt: r.created_at as string,
});

const volume = (r: Row): VolumeRecord => ({
  uniqueId: r.unique_id as string,
  node: r.node as string,
  name: r.name as string,
  serial: r.serial as string,
  number: r.number as number,
  sizeBytes: r.size_bytes as number,
  usedBytes: r.used_bytes as number,
  pool: r.pool as string,
  inheritedUniqueId: (r.inherited_unique_id as string | null) ?? null,
  backedUp: r.backed_up === 1,
  lastBackupAt: (r.last_backup_at as string | null) ?? null,
  createdAt: r.created_at as string,
  syncedAt: r.synced_at as string,
});

const store = (r: Row): StoreRecord => ({
  name: r.name as string,
  provider: r.provider as StoreRecord['provider'],
  path: (r.path as string | null) ?? null,
  endpoint: (r.endpoint as string | null) ?? null,
  region: (r.region as string | null) ?? null,
  bucket: (r.bucket as string | null) ?? null,
  accessKeyId: (r.access_key_id as string | null) ?? null,
  sealedSecretKey: (r.sealed_secret_key as string | null) ?? null,
  encryption: r.encryption as StoreRecord['encryption'],
  sealedEncryptionKey: (r.sealed_encryption_key as string | null) ?? null,
  tags: JSON.parse(r.tags_json as string) as Record<string, string>,
  createdAt: r.created_at as string,
});

const user = (r: Row): UserRecord => ({
  name: r.name as string,
  role: r.role as Role,
  passwordHash: (r.password_hash as string | null) ?? null,
  createdAt: r.created_at as string,
});

const token = (r: Row): TokenRecord => ({
  id: r.id as string,
  user: r.user as string,
  name: r.name as string,
  tokenHash: r.token_hash as string,
  createdAt: r.created_at as string,
  expiresAt: (r.expires_at as string | null) ?? null,
  lastUsedAt: (r.last_used_at as string | null) ?? null,
});
