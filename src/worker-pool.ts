/**
 * Worker threads that take jobs by message, shared by the backup codec pool
 * (backup/codec-pool.ts), the volume read workers (volume/read-workers.ts) and the
 * drive write workers (pool/drives.ts).
 *
 *   run(job) --{ id, job }--> the least busy worker (started while under `size`)
 *            <--{ id, result } or { id, error }--
 *
 * A job's own error rejects that job only, as `fromError` makes it. A worker that dies
 * (crash, exit) rejects every job it held with INTERNAL and is replaced on the next
 * job. Idle workers are unref'd, so the pool never keeps a process alive.
 */
import { Worker } from 'node:worker_threads';
import { ReboundError } from './errors.js';

export interface WorkerPoolOptions {
  /** The worker script: answers { id, job } with { id, result } or { id, error }. */
  url: URL;
  size: number;
  /** "a <name> exited with code 1": what a dead worker's jobs reject with. */
  name: string;
  /** The error a job's own failure rejects with. */
  fromError: (error: unknown) => Error;
  /** What jobs reject with once the pool is closed. */
  closedError: () => Error;
}

interface Pending {
  resolve: (r: unknown) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  dead: boolean;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;
  /** Workers that died (tests, diagnostics). */
  crashes = 0;

  constructor(private readonly options: WorkerPoolOptions) {}

  run(job: unknown, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.closed) return Promise.reject(this.options.closedError());
    const slot = this.pick();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, job }, transfer);
    });
  }

  /** Start every worker now instead of at the first jobs. */
  start(): void {
    while (!this.closed && this.slots.length < this.options.size) this.spawn();
  }

  /** Stop the workers; jobs still held reject with closedError. */
  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    for (const s of slots) this.fail(s, this.options.closedError());
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /** The live worker with the fewest jobs, starting one while under `size`. */
  private pick(): Slot {
    let best: Slot | undefined;
    for (const s of this.slots) if (!best || s.pending.size < best.pending.size) best = s;
    if (best && (best.pending.size === 0 || this.slots.length >= this.options.size)) return best;
    return this.spawn();
  }

  private spawn(): Slot {
    const worker = new Worker(this.options.url);
    const slot: Slot = { worker, pending: new Map(), dead: false };
    worker.unref();
    worker.on('message', (msg: { id: number; result?: unknown; error?: unknown }) => {
      const p = slot.pending.get(msg.id);
      if (!p) return;
      slot.pending.delete(msg.id);
      if (slot.pending.size === 0) worker.unref();
      if (msg.error !== undefined) p.reject(this.options.fromError(msg.error));
      else p.resolve(msg.result);
    });
    worker.on('error', (err) => this.died(slot, `failed: ${err.message}`));
    worker.on('exit', (code) => this.died(slot, `exited with code ${code}`));
    this.slots.push(slot);
    return slot;
  }

  private died(slot: Slot, why: string): void {
    if (slot.dead) return;
    const i = this.slots.indexOf(slot);
    if (i >= 0) {
      this.slots.splice(i, 1);
      this.crashes++;
    }
    this.fail(slot, new ReboundError('INTERNAL', `a ${this.options.name} ${why}`));
    slot.worker.terminate().catch(() => {});
  }

  private fail(slot: Slot, err: Error): void {
    slot.dead = true;
    for (const p of slot.pending.values()) p.reject(err);
    slot.pending.clear();
  }
}
