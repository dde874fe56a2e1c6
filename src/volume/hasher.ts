/**
 * Block hashes of pool volumes, computed off the main thread: the node's answer to
 * `POST /v1/volumes/:v/hashes` (failback verify, `rebound volume compare`). The main
 * thread plans where each hash block's bytes are (hash-plan.ts) and one worker thread
 * reads and hashes them (hash-worker.ts), so hashing never holds up host I/O, and a
 * scattered set costs a pread per block rather than a thread-pool round trip.
 *
 * Freed blocks: the caller holds an allocator I/O epoch from the plan until the answer,
 * so a block freed meanwhile (copy on write, trim) is not handed out and overwritten
 * while the worker reads it; the hash is then of the data as it was when planned.
 */
import { Worker } from 'node:worker_threads';
import { ReboundError } from '../errors.js';
import type { HashJob } from './hash-plan.js';

interface Pending {
  resolve: (hashes: Buffer) => void;
  reject: (err: Error) => void;
}

export class VolumeHasher {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly url = new URL('./hash-worker.js', import.meta.url)) {}

  /** SHA-256 of each planned hash block, 32 bytes each, in order. */
  hash(job: HashJob): Promise<Buffer> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, job });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.failAll(new ReboundError('SHUTTING_DOWN', 'the node is stopping'));
    await w?.terminate();
  }

  /** The worker, started if it is not running (unreferenced while idle). */
  start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.url);
    worker.unref();
    worker.on(
      'message',
      (msg: { id: number; hashes?: Uint8Array; error?: { message: string; code?: string } }) => {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (this.pending.size === 0) worker.unref();
        if (msg.hashes)
          p.resolve(Buffer.from(msg.hashes.buffer, msg.hashes.byteOffset, msg.hashes.byteLength));
        else
          p.reject(
            new ReboundError('IO_ERROR', `hashing: ${msg.error?.message} (${msg.error?.code ?? 'no code'})`),
          );
      },
    );
    const lost = (why: string) => {
      if (this.worker === worker) this.worker = null;
      this.failAll(new ReboundError('INTERNAL', `the hash worker ${why}`));
    };
    worker.on('error', (err) => lost(`failed: ${err.message}`));
    worker.on('exit', (code) => lost(`exited (${code})`));
    this.worker = worker;
    return worker;
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }
}
