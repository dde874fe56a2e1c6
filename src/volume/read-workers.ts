/**
 * Reads of pool volumes off the main thread, in worker threads (read-worker.ts): block
 * hashes, the node's answer to `POST /v1/volumes/:v/hashes` (failback verify, `rebound
 * volume compare`), and the bytes of many scattered ranges at once (readDataRanges of a
 * volume: a failback copy's batch of 4 KiB blocks). The main thread plans where each
 * range's bytes are (read-plan.ts) and a worker preads them, so hashing never holds up
 * host I/O, and a scattered block costs a pread rather than a thread-pool round trip
 * (about 9 us of the main thread's time per fs.read here, most of it waking a pool thread).
 *
 * Several workers (a WorkerPool, ../worker-pool.ts): each reads one plan at a time, one
 * pread after another, so the workers are the queue depth a cold disk sees (at depth 1
 * this machine's disk answers a 4 KiB read in 75 us; at 4, four times as many per
 * second). A job goes to the worker with the fewest jobs.
 *
 * Freed blocks: the caller holds an allocator I/O epoch from the plan until the answer,
 * so a block freed meanwhile (copy on write, trim) is not handed out and overwritten
 * while the worker reads it; the answer is then of the data as it was when planned.
 */
import { ReboundError } from '../errors.js';
import { WorkerPool } from '../worker-pool.js';
import type { ReadPlan } from './read-plan.js';
import type { ReadJob, ReadOp } from './read-worker.js';

/** Worker threads per node (see the file comment: the queue depth of scattered reads). */
export const READ_WORKERS = 4;

export class ReadWorkers {
  private readonly pool = new WorkerPool({
    url: new URL('./read-worker.js', import.meta.url),
    size: READ_WORKERS,
    name: 'read worker',
    fromError: (e) => {
      const err = e as { message: string; code?: string };
      return new ReboundError('IO_ERROR', `reading: ${err.message} (${err.code ?? 'no code'})`);
    },
    closedError: () => new ReboundError('SHUTTING_DOWN', 'the node is stopping'),
  });

  /** SHA-256 of each planned range, 32 bytes each, in order. */
  hash(plan: ReadPlan): Promise<Buffer> {
    return this.run('hash', plan);
  }

  /**
   * The bytes of the planned ranges, back to back (unmapped blocks read as zeros): a new
   * buffer, or `into` (a Buffer on a SharedArrayBuffer: the worker writes it in place).
   */
  async read(plan: ReadPlan, into?: Buffer): Promise<Buffer> {
    if (!into) return this.run('read', plan);
    await this.pool.run({ op: 'read', plan, into: shared(into) } satisfies ReadJob);
    return into.subarray(0, planBytes(plan));
  }

  /**
   * read, and the SHA-256 of the `hashBytes` bytes at each of `hashAt` in the answer
   * (a delta copy's batch, hashed for its verify: hash-memo.ts).
   */
  async readHashing(
    plan: ReadPlan,
    hashAt: Float64Array,
    hashBytes: number,
    into?: Buffer,
  ): Promise<{ data: Buffer; hashes: Buffer }> {
    const out = (await this.pool.run({
      op: 'read',
      plan,
      hashAt,
      hashBytes,
      ...(into ? { into: shared(into) } : {}),
    } satisfies ReadJob)) as Uint8Array;
    const all = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    if (into) return { data: into.subarray(0, planBytes(plan)), hashes: all };
    const total = all.length - hashAt.length * 32;
    return { data: all.subarray(0, total), hashes: all.subarray(total) };
  }

  /** Start the workers now instead of at the first job (they do not keep the process alive). */
  start(): void {
    this.pool.start();
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async run(op: ReadOp, plan: ReadPlan): Promise<Buffer> {
    const out = (await this.pool.run({ op, plan } satisfies ReadJob)) as Uint8Array;
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  }
}

/** The bytes a plan reads. */
function planBytes(plan: ReadPlan): number {
  let total = 0;
  for (let i = 0; i < plan.lengths.length; i++) total += plan.lengths[i];
  return total;
}

/**
 * `into` as the worker may write it: memory of a SharedArrayBuffer only (an ArrayBuffer
 * would be copied into the message, and the bytes read into the copy lost).
 */
function shared(into: Buffer): Uint8Array {
  if (!(into.buffer instanceof SharedArrayBuffer))
    throw new ReboundError('INTERNAL', 'a read into memory needs a SharedArrayBuffer');
  return into;
}
