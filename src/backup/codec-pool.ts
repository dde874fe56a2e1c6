/**
 * A small pool of worker threads for the backup codec: hashing, compression,
 * encryption and their inverses (codec-jobs.ts). The main thread, which also serves NBD
 * hosts, only moves bytes: each job is a whole chunk of blocks, its buffers transferred
 * both ways, so both cores of a small node work and the event loop stays free.
 *
 *   main thread                              workers (default min(2, cores))
 *   encode(chunk) / decode(fetch) --job-->   runEncode / runDecode
 *                 <--result or error------   (checksums checked in the worker)
 *
 * The workers are a WorkerPool (../worker-pool.ts). Failure: a job's own error (a
 * corrupt block) rejects that job only, as the ReboundError it was. A worker that dies
 * (crash, exit) rejects every job it held with INTERNAL and is replaced on the next
 * job; the pool stays usable. Idle workers are unref'd, so the pool never keeps a
 * process alive. With `workers: 0` jobs run inline.
 */
import { availableParallelism } from 'node:os';
import { ReboundError } from '../errors.js';
import { WorkerPool } from '../worker-pool.js';
import {
  type DecodeJob,
  type DecodeResult,
  type EncodeJob,
  type EncodeResult,
  fromJobError,
  type Job,
  type JobError,
  runJob,
  toJobError,
  toJobKeys,
} from './codec-jobs.js';
import type { BackupKeys } from './crypto.js';
import type { Compression } from './format.js';

export interface CodecPoolOptions {
  /** Worker threads; 0 runs jobs inline on the calling thread. Default min(2, cores). */
  workers?: number;
  /** The worker script (tests). Default codec-worker.js next to this file. */
  workerUrl?: URL;
}

/** A copy of `b` in an ArrayBuffer of its own, safe to transfer (b may be pooled). */
function ownedCopy(b: Uint8Array): ArrayBuffer {
  const ab = new ArrayBuffer(b.byteLength);
  new Uint8Array(ab).set(b);
  return ab;
}

/** True when `b` is all of a (non-shared) ArrayBuffer: moving that memory moves nothing else. */
function ownsMemory(b: Buffer): boolean {
  return b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength;
}

/** A zero-filled Buffer in shared memory: jobs read and write it without any copy. */
export function sharedBuffer(length: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(length));
}

/** What a job carries of `b`: itself when in shared memory or inline, else a copy to transfer. */
function carry(b: Buffer, inline: boolean): { data: ArrayBuffer | Uint8Array; transfer: ArrayBuffer[] } {
  if (inline || b.buffer instanceof SharedArrayBuffer) return { data: b, transfer: [] };
  const ab = ownedCopy(b);
  return { data: ab, transfer: [ab] };
}

export class CodecPool {
  readonly size: number;
  private readonly workers: WorkerPool;
  private closed = false;

  constructor(options: CodecPoolOptions = {}) {
    this.size = Math.max(0, options.workers ?? Math.min(2, availableParallelism()));
    this.workers = new WorkerPool({
      url: options.workerUrl ?? new URL('./codec-worker.js', import.meta.url),
      size: this.size,
      name: 'backup codec worker',
      fromError: (e) => fromJobError(e as JobError),
      closedError: () => new ReboundError('INTERNAL', 'backup codec pool is closed'),
    });
  }

  /** Workers that died (tests, diagnostics). */
  get crashes(): number {
    return this.workers.crashes;
  }

  /**
   * Encode `data` (one buffer or several, each of whole blocks; a short last block is
   * zero-padded), blocks at addresses `blocks` (or consecutive from `firstBlock`). Data in
   * shared memory (sharedBuffer) is read in place; other data is copied, unless
   * `transfer` is set: then a buffer that is alone in its memory is moved to the worker
   * without a copy, and reads as empty afterwards. With `out` (shared memory, at least
   * blocks * maxStoredBytes), the payloads are written there and the result's `stored`
   * is empty. `sizes` (with `blocks`): plaintext bytes per block where blocks are not
   * whole (partial entries); the data then holds exactly those, back to back, unpadded.
   */
  encode(
    data: Buffer | Buffer[],
    p: {
      blockSizeBytes: number;
      blocks?: Float64Array;
      sizes?: Uint32Array;
      firstBlock?: number;
      compression: Compression;
      keys?: BackupKeys;
      uniqueId: string;
      transfer?: boolean;
      out?: Buffer;
    },
  ): Promise<EncodeResult> {
    const bs = p.blockSizeBytes;
    const pieces = Array.isArray(data) ? data : [data];
    const transfer: ArrayBuffer[] = [];
    const carried = pieces.map((piece) => {
      if (piece.length % bs !== 0 && !p.sizes) {
        const padded = new Uint8Array(Math.ceil(piece.length / bs) * bs);
        padded.set(piece);
        if (this.size === 0) return padded;
        transfer.push(padded.buffer);
        return padded.buffer;
      }
      if (p.transfer && this.size > 0 && ownsMemory(piece)) {
        transfer.push(piece.buffer as ArrayBuffer);
        return piece.buffer as ArrayBuffer;
      }
      const c = carry(piece, this.size === 0);
      transfer.push(...c.transfer);
      return c.data;
    });
    const whole = pieces.reduce((n, b) => n + Math.floor(b.length / bs), 0);
    const job: EncodeJob = {
      op: 'encode',
      data: carried,
      blockSizeBytes: bs,
      blocks: p.blocks ?? Float64Array.from({ length: whole }, (_, i) => (p.firstBlock ?? 0) + i),
      ...(p.sizes ? { sizes: p.sizes } : {}),
      compression: p.compression,
      keys: toJobKeys(p.keys),
      uniqueId: p.uniqueId,
      out: p.out && new Uint8Array(p.out.buffer, p.out.byteOffset, p.out.length),
    };
    if (p.out && this.size > 0 && !(p.out.buffer instanceof SharedArrayBuffer)) {
      throw new ReboundError('INTERNAL', 'codec pool: encode output must be in shared memory');
    }
    return this.run(job, transfer) as Promise<EncodeResult>;
  }

  /**
   * Decode and check blocks fetched together into `data` (shared or copied, as for
   * encode); into `out` (shared memory) when given, else into the result's `plain`.
   */
  decode(
    data: Buffer,
    p: Omit<DecodeJob, 'op' | 'data' | 'keys'> & { keys?: BackupKeys },
  ): Promise<DecodeResult> {
    const { data: carried, transfer } = carry(data, this.size === 0);
    const job: DecodeJob = { ...p, op: 'decode', data: carried, keys: toJobKeys(p.keys) };
    return this.run(job, transfer) as Promise<DecodeResult>;
  }

  /** Run a job (tests use it for 'fail' jobs). */
  run(job: Job, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.closed) return Promise.reject(new ReboundError('INTERNAL', 'backup codec pool is closed'));
    if (this.size === 0) {
      return new Promise((resolve, reject) => {
        try {
          resolve(runJob(job));
        } catch (err) {
          reject(fromJobError(toJobError(err)));
        }
      });
    }
    return this.workers.run(job, transfer);
  }

  /** Stop the workers; jobs still held reject. */
  async close(): Promise<void> {
    this.closed = true;
    await this.workers.close();
  }
}

let shared: CodecPool | undefined;

/**
 * The process's codec pool. REBOUND_BACKUP_WORKERS overrides its size (0: inline).
 */
export function codecPool(): CodecPool {
  if (!shared) {
    const env = process.env.REBOUND_BACKUP_WORKERS;
    const n = env === undefined || env === '' ? undefined : Number(env);
    shared = new CodecPool({ workers: n !== undefined && Number.isSafeInteger(n) && n >= 0 ? n : undefined });
  }
  return shared;
}
