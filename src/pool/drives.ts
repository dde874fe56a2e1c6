/**
 * The drives: sparse files holding the pool's data blocks, nothing else (no headers, so
 * block N of a drive is at byte N * blockSize). Pool block numbers are 1-based and run
 * across the drives in order; 0 means "no block" in every mapping table.
 *
 *   pool block:  1 .. n0        n0+1 .. n0+n1     ...
 *   drive:       drive0.img     drive1.img
 */
import { constants, fstatSync, read as readCb, write as writeCb, writev as writevCb } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { ReboundError, toReboundError } from '../errors.js';
import { WorkerPool } from '../worker-pool.js';
import { isAligned } from './aligned-memory.js';
import type { DriveSpec } from './superblock.js';
import type { WriteJob, WriteResult } from './write-worker.js';

/** A write waiting for the end of the event-loop turn (Drives.write). */
interface GatheredWrite {
  drive: number;
  position: number;
  data: Uint8Array;
  done: () => void;
  fail: (err: unknown) => void;
}

/** Buffers in one pwritev (Linux takes up to IOV_MAX = 1024). */
const MAX_GATHER = 256;
/**
 * Runs up to this size, when a turn has several, go to a write worker together (one
 * message); bigger ones go to the thread pool as they are (no copy, one syscall each).
 */
const SMALL_RUN_BYTES = 128 * 1024;
/** Write workers per pool (writes to the page cache are short; two ride out a slow one). */
const WRITE_WORKERS = 2;

/** Adjacent writes (one or more) as one pwritev (a short write goes on from where it stopped). */
function writeRun(fd: number, run: GatheredWrite[]): void {
  const settle = (err: unknown) => {
    for (const w of run) {
      if (err) w.fail(toReboundError(err));
      else w.done();
    }
  };
  // A call that throws instead of calling back (a closed drive's descriptor) fails the run.
  const guard = (call: () => void) => {
    try {
      call();
    } catch (err) {
      settle(err);
    }
  };
  let buffers = run.map((w) => w.data);
  let position = run[0].position;
  const step = (): void =>
    guard(() =>
      writevCb(fd, buffers, position, (err, n) => {
        if (err) return settle(err);
        position += n;
        // Drop what was written; a buffer written in part continues from its rest.
        while (buffers.length > 0 && n >= buffers[0].length) n -= buffers.shift()!.length;
        if (buffers.length === 0) return settle(null);
        if (n > 0) buffers = [buffers[0].subarray(n), ...buffers.slice(1)];
        step();
      }),
    );
  step();
}

interface Drive {
  /** As the superblock names it (relative to the pool directory, or absolute). */
  specPath: string;
  /** Where it is opened. */
  path: string;
  sizeBytes: number;
  fh: FileHandle;
  /** First pool block on this drive. */
  firstBlock: number;
  blocks: number;
  /**
   * The same file opened O_DIRECT for writes that bypass the page cache (opened on first
   * use); null once the file system refused it (tmpfs), so those writes go buffered.
   */
  direct: Promise<FileHandle | null> | undefined;
  /** A direct write failed EINVAL (a file system wanting more than DIRECT_ALIGNMENT): buffered from then on. */
  directRefused: boolean;
}

/**
 * Direct I/O wants offsets, lengths and memory aligned to the disk's logical block (512
 * or 4096): 4096 covers both, and whole pool blocks (4 KiB at least) always are.
 */
const DIRECT_ALIGNMENT = 4096;

export class Drives {
  readonly totalBlocks: number;
  /** Bytes written in all, with direct I/O, and by the write workers (tests, diagnostics). */
  readonly stats = { writtenBytes: 0, directBytes: 0, workerBytes: 0 };
  private readonly writers = new WorkerPool({
    url: new URL('./write-worker.js', import.meta.url),
    size: WRITE_WORKERS,
    name: 'drive write worker',
    fromError: (e) => new ReboundError('IO_ERROR', `writing: ${(e as Error).message}`),
    closedError: () => new ReboundError('SHUTTING_DOWN', 'the pool is closed'),
  });

  private constructor(
    private readonly list: Drive[],
    readonly blockSizeBytes: number,
  ) {
    this.totalBlocks = list.reduce((n, d) => n + d.blocks, 0);
  }

  /** Start the write workers now instead of at the first turn of small writes (they do not keep the process alive). */
  startWriters(): void {
    this.writers.start();
  }

  static async open(
    dir: string,
    specs: DriveSpec[],
    blockSizeBytes: number,
    create: boolean,
  ): Promise<Drives> {
    const list: Drive[] = [];
    let first = 1;
    try {
      for (const spec of specs) {
        const path = isAbsolute(spec.path) ? spec.path : join(dir, spec.path);
        const fh = await open(path, create ? 'w+' : 'r+');
        if (create) await fh.truncate(spec.sizeBytes);
        const blocks = Math.floor(spec.sizeBytes / blockSizeBytes);
        list.push({
          specPath: spec.path,
          path,
          sizeBytes: spec.sizeBytes,
          fh,
          firstBlock: first,
          blocks,
          direct: undefined,
          directRefused: false,
        });
        first += blocks;
      }
    } catch (err) {
      await Promise.all(list.map((d) => d.fh.close()));
      throw toReboundError(err);
    }
    return new Drives(list, blockSizeBytes);
  }

  get specs(): DriveSpec[] {
    return this.list.map((d) => ({ path: d.specPath, sizeBytes: d.sizeBytes }));
  }

  /**
   * What the drive files take on their file systems: a sparse file holds only the blocks
   * the pool has written (allocator.ts keeps that near the most the pool has held).
   */
  get diskBytes(): number {
    let n = 0;
    for (const d of this.list) n += fstatSync(d.fh.fd).blocks * 512;
    return n;
  }

  /** Each drive's file descriptor, by drive index (for readers in worker threads). */
  get fds(): number[] {
    return this.list.map((d) => d.fh.fd);
  }

  /** The drive and byte position of pool block `pbn` (1-based). */
  locate(pbn: number): { fh: FileHandle; position: number; driveIndex: number } {
    const i = this.driveOf(pbn);
    return { fh: this.list[i].fh, position: this.positionOf(pbn, i), driveIndex: i };
  }

  /** locate without the object, for loops over many blocks: the drive index of `pbn`... */
  driveIndexOf(pbn: number): number {
    return this.driveOf(pbn);
  }

  /** ...and the byte position of `pbn` on that drive. */
  positionOf(pbn: number, driveIndex: number): number {
    return (pbn - this.list[driveIndex].firstBlock) * this.blockSizeBytes;
  }

  private driveOf(pbn: number): number {
    for (let i = 0; i < this.list.length; i++) {
      if (pbn < this.list[i].firstBlock + this.list[i].blocks) return i;
    }
    throw new RangeError(`pool block ${pbn} beyond ${this.totalBlocks}`);
  }

  /** True when pbn and pbn+1 are adjacent on the same drive (so one I/O covers both). */
  adjacent(pbn: number, next: number): boolean {
    if (next !== pbn + 1) return false;
    for (const d of this.list) if (next === d.firstBlock) return false;
    return true;
  }

  // The data path uses the callback fs API on the raw descriptor: it is the hot path of
  // every host request, and FileHandle's promise wrapper costs a measurable share of the
  // CPU per 4 KiB request (bench/run.ts).
  //
  // Writes are gathered for the rest of the event-loop turn and written with one pwritev
  // per run of adjacent ones: blocks allocated together (a restore's, a volume's first
  // fill: consecutive new blocks, allocator.ts) then cost one thread-pool round trip
  // instead of one each. The small runs of a turn that has several (4 KiB
  // writes into blocks of their own: a failback's copy into a 64 KiB-block pool, whose
  // writes land at their grain in new blocks) go to a write worker in one message
  // (write-worker.ts). Each write still resolves only once its bytes are written. Writes
  // in flight never overlap (the volume layer locks their blocks).

  /**
   * Write `data` at byte `inBlock` of pool block `pbn` (and on, for adjacent blocks).
   * `direct`: bypass the page cache (O_DIRECT) when the memory, position and length allow
   * it (memory from alignedBuffer), else write buffered. For bulk writes nobody reads
   * back soon (a restore): the bytes go to the disk once instead of being copied into the
   * page cache and written back later, and the cache of the node is not flooded. Either
   * way the write is durable only after datasync (fdatasync of the file covers both
   * descriptors: it is per file, and it flushes the disk's cache).
   */
  write(pbn: number, inBlock: number, data: Uint8Array, direct = false): Promise<void> {
    const drive = this.driveOf(pbn);
    const d = this.list[drive];
    const position = (pbn - d.firstBlock) * this.blockSizeBytes + inBlock;
    this.stats.writtenBytes += data.length;
    const buffered = () => this.gather(drive, position, data);
    if (
      !direct ||
      d.directRefused ||
      position % DIRECT_ALIGNMENT !== 0 ||
      data.length % DIRECT_ALIGNMENT !== 0 ||
      !isAligned(data, DIRECT_ALIGNMENT)
    ) {
      return buffered();
    }
    return this.directHandle(d).then((fh) => {
      if (!fh) return buffered();
      return writeAll(fh.fd, data, position, (err) => err).then(
        () => {
          this.stats.directBytes += data.length;
        },
        (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EINVAL') throw toReboundError(err);
          // A file system wanting more than DIRECT_ALIGNMENT: this drive writes buffered from now on.
          d.directRefused = true;
          return buffered();
        },
      );
    });
  }

  /** The drive's O_DIRECT handle, or null when its file system has no direct I/O. */
  private directHandle(d: Drive): Promise<FileHandle | null> {
    d.direct ??= open(d.path, constants.O_WRONLY | constants.O_DIRECT).catch(() => null);
    return d.direct;
  }

  /** A buffered write, gathered with the others of this event-loop turn. */
  private gather(drive: number, position: number, data: Uint8Array): Promise<void> {
    return new Promise((done, fail) => {
      this.gathered.push({ drive, position, data, done, fail });
      if (!this.writeScheduled) {
        this.writeScheduled = true;
        setImmediate(this.writeGathered);
      }
    });
  }

  private gathered: GatheredWrite[] = [];
  private writeScheduled = false;

  private readonly writeGathered = (): void => {
    const all = this.gathered;
    this.gathered = [];
    this.writeScheduled = false;
    all.sort((a, b) => a.drive - b.drive || a.position - b.position);
    const small: GatheredWrite[][] = [];
    for (let i = 0; i < all.length; ) {
      let j = i + 1;
      let end = all[i].position + all[i].data.length;
      while (
        j < all.length &&
        all[j].drive === all[i].drive &&
        all[j].position === end &&
        j - i < MAX_GATHER
      ) {
        end += all[j].data.length;
        j++;
      }
      const run = all.slice(i, j);
      if (end - all[i].position <= SMALL_RUN_BYTES) small.push(run);
      else writeRun(this.list[all[i].drive].fh.fd, run);
      i = j;
    }
    if (small.length === 1) writeRun(this.list[small[0][0].drive].fh.fd, small[0]);
    else if (small.length > 1) this.writeSmall(small);
  };

  /** Small runs, copied into one buffer, written by a write worker (write-worker.ts). */
  private writeSmall(small: GatheredWrite[][]): void {
    let total = 0;
    for (const run of small) for (const w of run) total += w.data.length;
    const data = new Uint8Array(total);
    const runs = new Float64Array(small.length * 4);
    let at = 0;
    small.forEach((run, k) => {
      runs[k * 4] = this.list[run[0].drive].fh.fd;
      runs[k * 4 + 1] = run[0].position;
      runs[k * 4 + 2] = at;
      for (const w of run) {
        data.set(w.data, at);
        at += w.data.length;
      }
      runs[k * 4 + 3] = at - runs[k * 4 + 2];
    });
    this.stats.workerBytes += total;
    const job: WriteJob = { data: data.buffer, runs };
    this.writers.run(job, [data.buffer]).then(
      (result) => {
        (result as WriteResult).forEach((err, k) => {
          for (const w of small[k]) {
            if (err) w.fail(toReboundError(Object.assign(new Error(err.message), { code: err.code })));
            else w.done();
          }
        });
      },
      (err) => {
        for (const run of small) for (const w of run) w.fail(err);
      },
    );
  }

  /** Read exactly `length` bytes into `out` at `at`; bytes past the end of the file read as zeros. */
  read(pbn: number, inBlock: number, out: Uint8Array, at: number, length: number): Promise<void> {
    const { fh, position } = this.locate(pbn);
    return new Promise((done, fail) => {
      const step = (got: number) =>
        readCb(fh.fd, out, at + got, length - got, position + inBlock + got, (err, n) => {
          if (err) fail(toReboundError(err));
          else if (n === 0) {
            out.fill(0, at + got, at + length);
            done();
          } else if (got + n < length) step(got + n);
          else done();
        });
      step(0);
    });
  }

  /** fdatasync every drive: every write that completed before this call is on stable storage. */
  async datasync(): Promise<void> {
    try {
      await Promise.all(this.list.map((d) => d.fh.datasync()));
    } catch (err) {
      throw toReboundError(err);
    }
  }

  async close(): Promise<void> {
    await this.writers.close();
    await Promise.all(
      this.list.map(async (d) => {
        const direct = await d.direct;
        d.direct = undefined;
        await Promise.all([d.fh.close(), direct?.close()]);
      }),
    );
  }
}

/** Positional write of all of `data` on descriptor `fd`, looping over short writes; rejects with `wrap(error)`. */
function writeAll(
  fd: number,
  data: Uint8Array,
  position: number,
  wrap: (err: NodeJS.ErrnoException) => unknown,
): Promise<void> {
  return new Promise((done, fail) => {
    const step = (at: number) =>
      writeCb(fd, data, at, data.length - at, position + at, (err, n) => {
        if (err) fail(wrap(err));
        else if (at + n < data.length) step(at + n);
        else done();
      });
    step(0);
  });
}
