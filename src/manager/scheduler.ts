/**
 * The backup scheduler (SPEC Fig. 10): starts each setting's backup job when it falls
 * due, on the manager's Clock (tests drive it with a ManualClock).
 *
 * - A run is claimed and its job inserted in one transaction, guarded by the setting's
 *   next run time (compare and set): a run happens once, even across a crash.
 * - Never twice at once: while the setting's previous job is still active, a due run is
 *   skipped and said so in the event log.
 * - A run missed while the manager was down runs once at start-up, marked late; the
 *   runs missed in between are not made up one by one.
 */
import { isReboundError } from '../errors.js';
import type { Logger } from '../logger.js';
import { type Clock, isoTime, type TimerHandle } from './clock.js';
import { ACTIVE_JOB_STATES, type BackupSettingRecord, type ManagerDb } from './db/types.js';
import type { EventLog } from './events.js';
import { backupParams, type JobRunner } from './jobs/index.js';
import { nextRun } from './schedule.js';

/** A run that starts this long after its time counts as late. */
const LATE_AFTER_MS = 60_000;
/** Wake at least this often (system timers cannot wait longer than ~24 days anyway). */
const MAX_SLEEP_MS = 3_600_000;

export class Scheduler {
  private timer: TimerHandle | undefined;
  private startedAt = 0;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly o: { db: ManagerDb; runner: JobRunner; clock: Clock; events: EventLog; logger: Logger },
  ) {}

  /** Run what fell due while the manager was down, then wait for the next. */
  start(): Promise<void> {
    this.startedAt = this.o.clock.now();
    return this.poke();
  }

  /** Look again now (after a setting changed). */
  poke(): Promise<void> {
    this.ticking = this.ticking
      .then(() => this.tick())
      .catch((err) => this.o.logger.error({ err }, 'scheduler tick failed'));
    return this.ticking;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.ticking;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    this.timer?.cancel();
    const now = this.o.clock.now();
    const settings = await this.o.db.listBackupSettings();
    for (const s of settings)
      if (s.enabled && s.nextRunAt !== null && Date.parse(s.nextRunAt) <= now) await this.fire(s, now);
    const next = (await this.o.db.listBackupSettings())
      .filter((s) => s.enabled && s.nextRunAt !== null)
      .map((s) => Date.parse(s.nextRunAt!));
    if (next.length === 0 || this.stopped) return;
    const delay = Math.min(MAX_SLEEP_MS, Math.max(0, Math.min(...next) - this.o.clock.now()));
    this.timer = this.o.clock.setTimeout(() => void this.poke(), delay);
  }

  private async fire(s: BackupSettingRecord, now: number): Promise<void> {
    const due = s.nextRunAt!;
    const after = nextRun(s.schedule, s.runs + 1, now);
    const advance = { nextRunAt: after === null ? null : new Date(after).toISOString() };
    const previous = s.lastJob ? await this.o.db.getJob(s.lastJob) : undefined;
    if (previous && ACTIVE_JOB_STATES.includes(previous.state)) {
      const skipTo = nextRun(s.schedule, s.runs, now);
      await this.o.db.updateBackupSetting(s.id, {
        nextRunAt: skipTo === null ? null : new Date(skipTo).toISOString(),
      });
      await this.o.events.record(
        'warning',
        'backup.skipped',
        s.name,
        `backup setting ${s.name}: the run due at ${due} is skipped, job ${previous.id} is still ${previous.state}`,
        { setting: s.id, job: previous.id },
      );
      return;
    }
    const volume = await this.o.db.getVolume(s.volume);
    if (!volume) {
      await this.o.db.updateBackupSetting(s.id, advance);
      await this.o.events.record(
        'error',
        'backup.missed',
        s.name,
        `backup setting ${s.name}: volume ${s.volume} is not in the registry; the run due at ${due} did not happen`,
        { setting: s.id },
      );
      return;
    }
    const late = Date.parse(due) < this.startedAt || now - Date.parse(due) > LATE_AFTER_MS;
    const params = backupParams(volume, s.store, s.method, s.retention);
    try {
      const job = await this.o.runner.submit('backup', params as unknown as Record<string, unknown>, {
        createdBy: null,
        late,
        claim: {
          setting: s.id,
          expectNextRunAt: due,
          change: { ...advance, runs: s.runs + 1, lastRunAt: isoTime(this.o.clock) },
        },
      });
      if (job && late)
        await this.o.events.record(
          'warning',
          'backup.late',
          s.name,
          `backup setting ${s.name}: the run due at ${due} starts late (job ${job.id})`,
          { setting: s.id, job: job.id, due },
        );
    } catch (err) {
      if (!isReboundError(err, 'BUSY')) throw err;
      // Another job holds the volume (a backup started by hand): skip this run.
      await this.o.db.updateBackupSetting(s.id, advance);
      await this.o.events.record(
        'warning',
        'backup.skipped',
        s.name,
        `backup setting ${s.name}: the run due at ${due} is skipped: ${err.message}`,
        { setting: s.id },
      );
    }
  }
}
