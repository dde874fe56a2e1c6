/**
 * Reads of pool volumes off the main thread, in worker threads (read-worker.ts): block
 * hashes, the node's answer to `POST /v1/volumes/:v/hashes` (failback verify, `rebound
 * volume compare`), and the bytes of many scattered ranges at once (readDataRanges of a
 * volume: a failback copy's batch of 4 KiB blocks). The main thread plans where each
 * range's bytes are (read-plan.ts) and a worker preads them, so hashing never holds up
 * host I/O, and a scattered block costs a pread rather than a thread-pool round trip
 * (about 9 us of the main thread's time per fs.read here, most of it waking a pool thread).
 *
 * Several workers: each reads one plan at a time, one pread after another, so the
 * workers are the queue depth a cold disk sees (at depth 1 this machine's disk answers a
 * 4 KiB read in 75 us; at 4, four times as many per second). A job goes to the worker
 * with the fewest jobs.
 *
 * Freed blocks: the caller holds an allocator I/O epoch from the plan until the answer,
 * so a block freed meanwhile (copy on write, trim) is not handed out and overwritten
 * while the worker reads it; the answer is then of the data as it was when planned.
 */
import { Worker } from 'node:worker_threads';
import { ReboundError } from '../errors.js';
import type { ReadPlan } from './read-plan.js';
import type { ReadOp } from './read-worker.js';

/** Worker threads per node (see the file comment: the queue depth of scattered reads). */
export const READ_WORKERS = 4;

interface Pending {
  resolve: (out: Buffer) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

export class ReadWorkers {
  private slots: Slot[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly count = READ_WORKERS,
    private readonly url = new URL('./read-worker.js', import.meta.url),
  ) {}

  /** SHA-256 of each planned range, 32 bytes each, in order. */
  hash(plan: ReadPlan): Promise<Buffer> {
    return this.run('hash', plan);
  }

  /** The bytes of the planned ranges, back to back (unmapped blocks read as zeros). */
  read(plan: ReadPlan): Promise<Buffer> {
    return this.run('read', plan);
  }

  /** Start the workers now instead of at the first job (they do not keep the process alive). */
  start(): void {
    if (this.closed) return;
    while (this.slots.length < this.count) this.slots.push(this.spawn());
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots;
    this.slots = [];
    for (const s of slots) this.failAll(s, new ReboundError('SHUTTING_DOWN', 'the node is stopping'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private run(op: ReadOp, plan: ReadPlan): Promise<Buffer> {
    if (this.closed) return Promise.reject(new ReboundError('SHUTTING_DOWN', 'the node is stopping'));
    this.start();
    let slot = this.slots[0];
    for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    const id = this.nextId++;
    return new Promise<Buffer>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.ref();
      slot.worker.postMessage({ id, op, plan });
    });
  }

  private spawn(): Slot {
    const worker = new Worker(this.url);
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    worker.on(
      'message',
      (msg: { id: number; out?: Uint8Array; error?: { message: string; code?: string } }) => {
        const p = slot.pending.get(msg.id);
        if (!p) return;
        slot.pending.delete(msg.id);
        if (slot.pending.size === 0) worker.unref();
        if (msg.out) p.resolve(Buffer.from(msg.out.buffer, msg.out.byteOffset, msg.out.byteLength));
        else
          p.reject(
            new ReboundError('IO_ERROR', `reading: ${msg.error?.message} (${msg.error?.code ?? 'no code'})`),
          );
      },
    );
    const lost = (why: string) => {
      // Replaced at the next job; what it had fails.
      const at = this.slots.indexOf(slot);
      if (at >= 0) this.slots.splice(at, 1);
      this.failAll(slot, new ReboundError('INTERNAL', `a read worker ${why}`));
    };
    worker.on('error', (err) => lost(`failed: ${err.message}`));
    worker.on('exit', (code) => lost(`exited (${code})`));
    return slot;
  }

  private failAll(slot: Slot, err: Error): void {
    const all = [...slot.pending.values()];
    slot.pending.clear();
    for (const p of all) p.reject(err);
  }
}
