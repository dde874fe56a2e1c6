/**
 * The job runner: drives each active job through its plan, recording state before every
 * effect and the result after it, so that a manager restarted at any point resumes every
 * job from its last recorded step (DESIGN.md, "Promises").
 *
 *   submit ─► queued ─► running ─┬─► succeeded
 *                  ▲             ├─► failed       (an effect failed; event + notification)
 *                  │             ├─► paused ──────► resume (by hand, or when the node answers again)
 *                  │             └─► cancelling ─► cancelled
 *   manager restart: running / queued / cancelling jobs are driven again from the step recorded.
 *
 * A node that does not answer pauses the job (with the reason and the node); any other
 * error fails it. A job holds its plan's lock key while active, so two backups of one
 * volume (or later two failovers) never run at once.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isReboundError, ReboundError, toReboundError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { type Clock, isoTime } from '../clock.js';
import type {
  BackupSettingChange,
  JobChange,
  JobLogStatus,
  JobProgress,
  JobRecord,
  ManagerDb,
} from '../db/types.js';
import type { EventLog } from '../events.js';
import type { Registry } from '../registry.js';
import { effectNode, runEffect } from './effects.js';
import type { JobData, JobPlan, Step } from './plan.js';

export interface SubmitOptions {
  createdBy: string | null;
  setting?: string;
  late?: boolean;
  /** Claim a scheduled run of a setting in the same transaction (scheduler.ts). */
  claim?: { setting: string; expectNextRunAt: string | null; change: BackupSettingChange };
}

export interface JobRunnerOptions {
  db: ManagerDb;
  registry: Registry;
  events: EventLog;
  clock: Clock;
  logger: Logger;
  plans: JobPlan<never>[];
  /** The manager's data directory (site providers keep their nodes under it). */
  dataDir: string;
  /** How often a node task is polled; progress is written at most this often too. */
  pollMs?: number;
}

/** Errors that mean "the node is not there now", which pause a job rather than fail it. */
function pauses(err: unknown): boolean {
  return isReboundError(err, 'NODE_UNREACHABLE') || isReboundError(err, 'SHUTTING_DOWN');
}

export class JobRunner {
  /** Emits 'job' with a JobRecord whenever one changes (the console's live view). */
  readonly updates = new EventEmitter();
  private readonly plans = new Map<string, JobPlan<Record<string, unknown>>>();
  private readonly active = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly pollMs: number;
  private closed = false;

  constructor(private readonly o: JobRunnerOptions) {
    for (const p of o.plans) this.plans.set(p.kind, p as unknown as JobPlan<Record<string, unknown>>);
    this.pollMs = o.pollMs ?? 500;
    this.updates.setMaxListeners(0);
  }

  /** Record a new job and start driving it. Null when a scheduler claim was lost. */
  async submit(
    kind: string,
    params: Record<string, unknown>,
    opts: SubmitOptions,
  ): Promise<JobRecord | null> {
    const plan = this.plan(kind);
    const now = isoTime(this.o.clock);
    const job: JobRecord = {
      id: `j-${now.slice(0, 10).replaceAll('-', '')}-${randomBytes(4).toString('hex')}`,
      kind,
      title: plan.title(params),
      state: 'queued',
      lockKey: plan.lockKey(params),
      params,
      data: {},
      step: null,
      progress: null,
      result: null,
      error: null,
      pausedReason: null,
      waitingNode: null,
      setting: opts.setting ?? opts.claim?.setting ?? null,
      late: opts.late ?? false,
      createdBy: opts.createdBy,
      createdAt: now,
      startedAt: null,
      endedAt: null,
      updatedAt: now,
    };
    if (opts.claim) opts.claim.change.lastJob = job.id;
    if (!(await this.o.db.addJob(job, opts.claim))) return null;
    await this.log(
      job,
      'job',
      null,
      'info',
      `${job.title}: submitted${opts.createdBy ? ` by ${opts.createdBy}` : ''}${job.late ? ' (late: a run missed while the manager was down)' : ''}`,
    );
    this.emit(job);
    this.drive(job.id);
    return job;
  }

  /** At start-up: drive again every job a previous manager left running. */
  async recover(): Promise<JobRecord[]> {
    const jobs = await this.o.db.listJobs({ state: ['queued', 'running', 'cancelling'], limit: 10_000 });
    for (const job of jobs) {
      await this.log(job, job.step ?? 'job', null, 'info', 'resumed after a manager restart');
      this.drive(job.id);
    }
    return jobs;
  }

  async get(id: string): Promise<JobRecord> {
    const job = await this.o.db.getJob(id);
    if (!job) throw new ReboundError('NOT_FOUND', `no job ${id} (rebound job list shows them)`);
    return job;
  }

  async cancel(id: string, by: string | null): Promise<JobRecord> {
    const job = await this.get(id);
    if (!['queued', 'running', 'paused', 'cancelling'].includes(job.state))
      throw new ReboundError('CONFLICT', `job ${id} has already ended (${job.state})`, {
        detail: { state: job.state },
      });
    await this.log(job, job.step ?? 'job', null, 'info', `cancel requested${by ? ` by ${by}` : ''}`);
    const running = this.active.get(id);
    if (running) {
      await this.update(job, { state: 'cancelling' });
      running.abort.abort('cancel');
    } else {
      // Paused or not yet picked up: nothing is in flight on the manager's side, but a
      // node task may still run (a paused job's node came back): drive() cancels it.
      await this.update(job, { state: 'cancelling' });
      this.drive(id);
    }
    return this.get(id);
  }

  async resume(id: string, by: string | null): Promise<JobRecord> {
    const job = await this.get(id);
    if (job.state !== 'paused')
      throw new ReboundError('CONFLICT', `job ${id} is ${job.state}, not paused: only a paused job resumes`, {
        detail: { state: job.state },
      });
    await this.log(job, job.step ?? 'job', null, 'info', `resumed${by ? ` by ${by}` : ''}`);
    await this.update(job, { state: 'running', pausedReason: null, waitingNode: null });
    this.drive(id);
    return this.get(id);
  }

  /** A node answers (every health check it passes): resume the jobs paused waiting for it. */
  async nodeBack(node: string): Promise<void> {
    for (const job of await this.o.db.listJobs({ state: ['paused'], limit: 10_000 }))
      if (job.waitingNode === node) await this.resume(job.id, null).catch(() => undefined);
  }

  /** Wait for a job to end (tests, and the CLI's --wait through the API). */
  async settled(id: string): Promise<JobRecord> {
    await this.active.get(id)?.done;
    return this.get(id);
  }

  /**
   * Stop driving jobs without changing their recorded state: the next manager resumes
   * them. Node tasks keep running meanwhile; the next manager follows them by ID.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const a of this.active.values()) a.abort.abort('shutdown');
    await Promise.all([...this.active.values()].map((a) => a.done));
  }

  private plan(kind: string): JobPlan<Record<string, unknown>> {
    const p = this.plans.get(kind);
    if (!p) throw new ReboundError('INVALID_ARGUMENT', `no job kind ${kind}`, { detail: { field: 'kind' } });
    return p;
  }

  private drive(id: string): void {
    if (this.closed || this.active.has(id)) return;
    const abort = new AbortController();
    const done = this.loop(id, abort.signal)
      .catch((err) => this.o.logger.error({ err, job: id }, 'job runner failed'))
      .finally(() => {
        this.active.delete(id);
        this.lastProgressWrite.delete(id);
        this.unsavedProgress.delete(id);
      });
    this.active.set(id, { abort, done });
  }

  private async loop(id: string, signal: AbortSignal): Promise<void> {
    let job = await this.get(id);
    const plan = this.plan(job.kind);
    if (job.state === 'queued')
      job = await this.update(job, { state: 'running', startedAt: isoTime(this.o.clock) });
    for (;;) {
      if (signal.reason === 'shutdown') return;
      if (job.state === 'cancelling' || signal.reason === 'cancel') return this.cancelled(job, plan);
      let step: Step;
      try {
        const decision = plan.next(job.params, job.data, job.id);
        if ('done' in decision) {
          job = await this.update(job, {
            state: 'succeeded',
            step: null,
            result: decision.done,
            endedAt: isoTime(this.o.clock),
          });
          await this.log(job, 'job', null, 'done', decision.message);
          await this.o.events.record('info', `job.succeeded`, job.id, `${job.title}: ${decision.message}`, {
            kind: job.kind,
          });
          return;
        }
        step = decision.step;
      } catch (err) {
        return this.failed(job, job.step ?? 'job', err);
      }
      // Record the step before its effect: a restart runs it again (effects are idempotent).
      job = await this.update(job, job.step !== step.name ? { step: step.name } : {}, {
        step: step.name,
        spec: step.spec,
        status: 'started',
        message: step.title,
      });
      let result: unknown;
      try {
        result = await runEffect(step.effect, {
          registry: this.o.registry,
          dataDir: this.o.dataDir,
          logger: this.o.logger,
          signal,
          pollMs: this.pollMs,
          progress: (p) => void this.progress(job, p),
          note: (message) =>
            void this.log(job, step.name, step.spec, 'info', message).catch((err) =>
              this.o.logger.warn({ err, job: job.id }, 'a job log line was not recorded'),
            ),
          notedBefore: async () =>
            (await this.o.db.listJobLog(job.id))
              .filter((e) => e.step === step.name && e.status === 'info')
              .map((e) => e.message),
        });
      } catch (err) {
        if (signal.reason === 'shutdown') return;
        if (signal.reason === 'cancel' || isReboundError(err, 'CANCELLED'))
          return this.cancelled(await this.get(id), plan);
        if (pauses(err)) return this.paused(job, step, err);
        return this.failed(job, step.name, err, step.spec);
      }
      const data: JobData = plan.apply(job.data, step, result);
      job = await this.update(
        job,
        { data },
        {
          step: step.name,
          spec: step.spec,
          status: 'done',
          message: plan.describe?.(step, result) ?? `${step.title}: done`,
        },
      );
    }
  }

  private lastProgressWrite = new Map<string, number>();
  /**
   * The newest progress of a job that the write throttle skipped: written with the job's
   * next change (its step done, its end), so that a step's last report is what `job show`
   * reads afterwards, not one from up to pollMs before it (a short copy's "0 of 0").
   */
  private unsavedProgress = new Map<string, JobProgress>();

  private async progress(job: JobRecord, p: JobProgress): Promise<void> {
    // A step with nothing to do ("0 of 0") leaves the job's progress as an earlier step
    // made it: a failover whose consistency assurance rewrites nothing ends showing its
    // restore, not "-".
    if (p.bytesTotal <= 0 && (job.progress?.bytesTotal ?? 0) > 0) return;
    job.progress = p;
    this.emit(job);
    const now = this.o.clock.now();
    if (now - (this.lastProgressWrite.get(job.id) ?? 0) < this.pollMs) {
      this.unsavedProgress.set(job.id, p);
      return;
    }
    this.lastProgressWrite.set(job.id, now);
    this.unsavedProgress.delete(job.id);
    await this.o.db.updateJob(job.id, { progress: p, updatedAt: isoTime(this.o.clock) });
  }

  private async cancelled(job: JobRecord, plan: JobPlan<Record<string, unknown>>): Promise<void> {
    // A node task that may still run (the job was paused, or the manager restarted while
    // cancelling): ask the node to stop it. Best effort: a node that is gone runs nothing.
    const step = job.step ? plan.next(job.params, job.data, job.id) : null;
    if (step && 'step' in step && step.step.effect.type === 'wait-task') {
      const e = step.step.effect;
      await this.o.registry
        .node(e.node)
        .then((n) => this.o.registry.client(n).cancelTask(e.taskId))
        .catch(() => undefined);
    }
    job = await this.update(job, { state: 'cancelled', endedAt: isoTime(this.o.clock) });
    await this.log(job, job.step ?? 'job', null, 'info', 'cancelled');
    await this.o.events.record('warning', 'job.cancelled', job.id, `${job.title}: cancelled`, {
      kind: job.kind,
    });
  }

  private async paused(job: JobRecord, step: Step, err: unknown): Promise<void> {
    const e = toReboundError(err);
    const node = effectNode(step.effect);
    const reason = `${e.message}${node ? `; resumes when node ${node} answers again (or rebound job resume ${job.id})` : ''}`;
    job = await this.update(job, { state: 'paused', pausedReason: reason, waitingNode: node });
    await this.log(job, step.name, step.spec, 'paused', reason);
    await this.o.events.record('warning', 'job.paused', job.id, `${job.title}: paused: ${e.message}`, {
      kind: job.kind,
      node,
    });
  }

  private async failed(
    job: JobRecord,
    stepName: string,
    err: unknown,
    spec: string | null = null,
  ): Promise<void> {
    const e = toReboundError(err);
    if (e.code === 'INTERNAL') this.o.logger.error({ err, job: job.id }, 'job failed on a bug');
    job = await this.update(job, {
      state: 'failed',
      error: { code: e.code, message: e.message, ...(e.detail ? { detail: e.detail } : {}) },
      endedAt: isoTime(this.o.clock),
    });
    await this.log(job, stepName, spec, 'failed', `${e.code}: ${e.message}`);
    await this.o.events.record('error', 'job.failed', job.id, `${job.title}: failed: ${e.message}`, {
      kind: job.kind,
      code: e.code,
    });
  }

  /** Record a change of the job; with `line`, its log line in the same commit. */
  private async update(
    job: JobRecord,
    change: Omit<JobChange, 'updatedAt'>,
    line?: { step: string; spec: string | null; status: JobLogStatus; message: string },
  ): Promise<JobRecord> {
    const at = isoTime(this.o.clock);
    const unsaved = change.progress === undefined ? this.unsavedProgress.get(job.id) : undefined;
    this.unsavedProgress.delete(job.id);
    const c: JobChange = { ...(unsaved ? { progress: unsaved } : {}), ...change, updatedAt: at };
    await this.o.db.updateJob(job.id, c, line && { job: job.id, at, ...line });
    if (line)
      this.o.logger.info(
        { job: job.id, step: line.step, spec: line.spec, status: line.status },
        line.message,
      );
    const next = { ...job, ...c } as JobRecord;
    this.emit(next);
    return next;
  }

  private async log(
    job: JobRecord,
    step: string,
    spec: string | null,
    status: JobLogStatus,
    message: string,
  ): Promise<void> {
    await this.o.db.appendJobLog({ job: job.id, at: isoTime(this.o.clock), step, spec, status, message });
    this.o.logger.info({ job: job.id, step, spec, status }, message);
  }

  private emit(job: JobRecord): void {
    this.updates.emit('job', job);
  }
}
