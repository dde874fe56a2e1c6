/**
 * Long node operations (backup, restore, verify) run as tasks: the API answers at once
 * with a task ID and the caller watches progress (bytes, rate, ETA) or cancels. Tasks
 * live in memory: a node restarted mid-task reports nothing for it, and the manager's
 * jobs (which record their state) are what resume work after a restart.
 */
import { randomUUID } from 'node:crypto';
import { toReboundError } from '../errors.js';
import type { Logger } from '../logger.js';

export type TaskState = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface TaskProgress {
  bytesDone: number;
  bytesTotal: number;
  rateBytesPerSec: number;
  /** Seconds left at the current rate, or null before there is a rate. */
  etaSeconds: number | null;
}

export interface TaskView {
  id: string;
  kind: string;
  title: string;
  state: TaskState;
  progress: TaskProgress | null;
  result: unknown;
  error: { code: string; message: string; detail?: Record<string, unknown> } | null;
  /** What an operator should know while it runs (the store it writes to stopped answering), oldest first. */
  notes: { at: string; message: string }[];
  startedAt: string;
  endedAt: string | null;
}

export interface TaskContext {
  signal: AbortSignal;
  progress(bytesDone: number, bytesTotal: number, rateBytesPerSec: number): void;
  /** A line for the task's notes (and the node's log). */
  note(message: string): void;
}

/** Finished tasks kept for inspection; the oldest are forgotten first. */
const KEEP_FINISHED = 200;
/** Notes a task keeps; later ones go to the node's log only (a watcher counts them by index). */
const MAX_NOTES = 100;

export class TaskRunner {
  private readonly tasks = new Map<string, { view: TaskView; abort: AbortController; done: Promise<void> }>();

  constructor(private readonly logger: Logger) {}

  /**
   * Start a task. With `id`, starting is idempotent: a task with that ID that this node
   * still knows is returned as it is (running or ended) and nothing new starts.
   */
  start(kind: string, title: string, run: (ctx: TaskContext) => Promise<unknown>, id?: string): TaskView {
    const known = id === undefined ? undefined : this.tasks.get(id);
    if (known) return known.view;
    const abort = new AbortController();
    const view: TaskView = {
      id: id ?? randomUUID(),
      kind,
      title,
      state: 'running',
      progress: null,
      result: null,
      error: null,
      notes: [],
      startedAt: new Date().toISOString(),
      endedAt: null,
    };
    const ctx: TaskContext = {
      signal: abort.signal,
      progress(bytesDone, bytesTotal, rate) {
        const left = bytesTotal - bytesDone;
        view.progress = {
          bytesDone,
          bytesTotal,
          rateBytesPerSec: rate,
          etaSeconds: rate > 0 ? Math.ceil(left / rate) : null,
        };
      },
      note: (message) => {
        this.logger.warn({ task: view.id, kind }, message);
        if (view.notes.length < MAX_NOTES) view.notes.push({ at: new Date().toISOString(), message });
      },
    };
    this.logger.info({ task: view.id, kind, title }, 'task started');
    const done = run(ctx).then(
      (result) => {
        view.state = 'succeeded';
        view.result = result ?? null;
      },
      (err) => {
        const e = toReboundError(err);
        view.state = abort.signal.aborted ? 'cancelled' : 'failed';
        view.error = { code: e.code, message: e.message, ...(e.detail && { detail: e.detail }) };
        this.logger.warn({ task: view.id, kind, code: e.code, err: e.message }, 'task did not succeed');
      },
    );
    this.tasks.set(view.id, {
      view,
      abort,
      done: done.finally(() => {
        view.endedAt = new Date().toISOString();
        this.logger.info({ task: view.id, kind, state: view.state }, 'task ended');
        this.forgetOld();
      }),
    });
    return view;
  }

  get(id: string): TaskView | undefined {
    return this.tasks.get(id)?.view;
  }

  /**
   * Resolves once the task has ended, or after `waitMs` if it still runs: a long poll, so
   * a watcher sees the end the moment it comes instead of a poll interval later.
   */
  async settled(id: string, waitMs: number): Promise<void> {
    const t = this.tasks.get(id);
    if (t === undefined || t.view.state !== 'running' || waitMs <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([t.done, new Promise<void>((r) => (timer = setTimeout(r, waitMs).unref()))]);
    clearTimeout(timer);
  }

  list(): TaskView[] {
    return [...this.tasks.values()].map((t) => t.view);
  }

  cancel(id: string): TaskView | undefined {
    const t = this.tasks.get(id);
    if (t?.view.state === 'running') t.abort.abort();
    return t?.view;
  }

  /** Cancel what runs and wait for it to stop (node shutdown). */
  async close(): Promise<void> {
    for (const t of this.tasks.values()) if (t.view.state === 'running') t.abort.abort();
    await Promise.all([...this.tasks.values()].map((t) => t.done));
  }

  private forgetOld(): void {
    const finished = [...this.tasks.values()].filter((t) => t.view.state !== 'running');
    for (const t of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED)))
      this.tasks.delete(t.view.id);
  }
}
