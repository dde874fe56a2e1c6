/**
 * The pool's crash-safe metadata: a checkpoint plus an append-only log of CRC-checked
 * records, written with group commit. Byte layout: docs/formats/pool.md.
 *
 *   meta/checkpoint   epoch E: the whole state, as records       (replaced atomically)
 *   meta/log          epoch E: records appended since checkpoint E (replaced at E+1)
 *
 * Writers append records in memory (`append`, synchronous, in the same tick as the
 * in-memory change, so the log order is the order of the changes) and ask for
 * durability with `commit(seq)` or `flush()`. One commit round is in flight at a time;
 * everybody who asks while it runs shares the next round, so N concurrent writers pay
 * one fsync, not N. A round:
 *   1. fdatasync the drives, when the round carries records that point at data blocks
 *      (a mapping must never be durable before the data it points to) or a flush asked;
 *   2. write the batch at the end of the log and fdatasync the log.
 * When the log passes `checkpointLogBytes`, a round instead writes a checkpoint of the
 * full state (taken synchronously at the start of the round) and starts a fresh log.
 *
 * Open: read the checkpoint, then replay the log when its epoch matches (a log of an
 * older epoch is what a crash between the two renames leaves: its records are all in the
 * checkpoint). A torn or bad-CRC tail is what a crash in the middle of a log write
 * leaves and is ignored; a bad record followed by a good one is POOL_CORRUPT.
 */
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ReboundError, toReboundError } from '../errors.js';
import { crc32c } from './crc32c.js';
import { writeFileAtomic, writeFully } from './files.js';

export const RECORD_MAGIC = 0x524c; // "RL"
export const RECORD_HEADER_BYTES = 12;
export const LOG_MAGIC = 0x52424c47; // "RBLG"
export const CHECKPOINT_MAGIC = 0x5242434b; // "RBCK"
export const META_VERSION = 1;
export const FILE_HEADER_BYTES = 32;
/** A record payload is never larger than this (a full bitmap of a 64 TiB volume at 4 KiB fits). */
const MAX_RECORD_BYTES = 2 ** 31 - 1;

/** Frame a record: crc32c(bytes 4..end) u32 | magic u16 | type u8 | flags u8 | length u32 | payload. */
export function frameRecord(type: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  out.writeUInt16BE(RECORD_MAGIC, 4);
  out[6] = type;
  out[7] = 0;
  out.writeUInt32BE(payload.length, 8);
  out.set(payload, RECORD_HEADER_BYTES);
  out.writeUInt32BE(crc32c(out, 4), 0);
  return out;
}

/** Length of the valid record at `at`, or -1. */
function validRecordAt(buf: Buffer, at: number): number {
  if (at + RECORD_HEADER_BYTES > buf.length) return -1;
  if (buf.readUInt16BE(at + 4) !== RECORD_MAGIC) return -1;
  const len = buf.readUInt32BE(at + 8);
  const end = at + RECORD_HEADER_BYTES + len;
  if (len > MAX_RECORD_BYTES || end > buf.length) return -1;
  if (crc32c(buf, at + 4, end) !== buf.readUInt32BE(at)) return -1;
  return RECORD_HEADER_BYTES + len;
}

export type ApplyRecord = (type: number, payload: Buffer) => void;

/**
 * Parse framed records from `buf[start..]`, calling `apply` for each. Returns the end of
 * the last good record. `tornTailOk`: a bad record with nothing valid after it is a torn
 * tail (the log); otherwise any bad byte is corruption (the checkpoint).
 */
export function parseRecords(
  buf: Buffer,
  start: number,
  apply: ApplyRecord,
  tornTailOk: boolean,
  what: string,
) {
  let at = start;
  while (at < buf.length) {
    const n = validRecordAt(buf, at);
    if (n < 0) {
      if (!tornTailOk) throw new ReboundError('POOL_CORRUPT', `${what}: bad record at byte ${at}`);
      for (let p = at + 1; p + RECORD_HEADER_BYTES <= buf.length; p++) {
        if (validRecordAt(buf, p) > 0) {
          throw new ReboundError(
            'POOL_CORRUPT',
            `${what}: bad record at byte ${at} before a good one at ${p}`,
            {
              detail: { offset: at },
            },
          );
        }
      }
      return at; // torn tail
    }
    try {
      apply(buf[at + 6], buf.subarray(at + RECORD_HEADER_BYTES, at + n));
    } catch (err) {
      if (err instanceof ReboundError && err.code === 'POOL_CORRUPT') throw err;
      throw new ReboundError(
        'POOL_CORRUPT',
        `${what}: record at byte ${at} (type ${buf[at + 6]}) does not apply`,
        {
          cause: err,
        },
      );
    }
    at += n;
  }
  return at;
}

function fileHeader(magic: number, epoch: number, bodyBytes: number, bodyCrc: number): Buffer {
  const h = Buffer.alloc(FILE_HEADER_BYTES);
  h.writeUInt32BE(magic, 0);
  h.writeUInt16BE(META_VERSION, 4);
  h.writeUInt32BE(Math.floor(epoch / 0x1_0000_0000), 8);
  h.writeUInt32BE(epoch >>> 0, 12);
  h.writeUInt32BE(Math.floor(bodyBytes / 0x1_0000_0000), 16);
  h.writeUInt32BE(bodyBytes >>> 0, 20);
  h.writeUInt32BE(bodyCrc, 24);
  h.writeUInt32BE(crc32c(h, 0, 28), 28);
  return h;
}

function readFileHeader(buf: Buffer, magic: number, what: string) {
  if (buf.length < FILE_HEADER_BYTES || buf.readUInt32BE(0) !== magic) {
    throw new ReboundError('POOL_CORRUPT', `${what}: bad magic`);
  }
  if (crc32c(buf, 0, 28) !== buf.readUInt32BE(28))
    throw new ReboundError('POOL_CORRUPT', `${what}: bad header CRC`);
  const version = buf.readUInt16BE(4);
  if (version !== META_VERSION) throw new ReboundError('POOL_CORRUPT', `${what}: version ${version} unknown`);
  return {
    epoch: buf.readUInt32BE(8) * 0x1_0000_0000 + buf.readUInt32BE(12),
    bodyBytes: buf.readUInt32BE(16) * 0x1_0000_0000 + buf.readUInt32BE(20),
    bodyCrc: buf.readUInt32BE(24),
  };
}

interface Round {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  /** Highest sequence number this round makes durable (set when it starts). */
  target: number;
  dataSync: boolean;
  checkpoint: boolean;
}

function newRound(): Round {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A round nobody waits on (a background flush of a full buffer) must not crash the process.
  promise.catch(() => {});
  return { promise, resolve, reject, target: 0, dataSync: false, checkpoint: false };
}

export interface MetaLogOptions {
  /** fdatasync the data drives (step 1 of a round). */
  dataSync: () => Promise<void>;
  /** Called after each round with the highest durable sequence number. */
  onDurable?: (seq: number) => void;
  /** Start a checkpoint once the log is this big. */
  checkpointLogBytes?: number;
}

export class MetaLog {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pendingDataRecords = false;
  private appendSeq = 0;
  private durable = 0;
  private current: Round | null = null;
  private next: Round | null = null;
  private running = false;
  private snapshotter: (() => Buffer[]) | null = null;
  private closed = false;
  /** A checkpoint failed half way: the next round must write one (the old log may be stale). */
  private forceCheckpoint = false;
  private readonly checkpointLogBytes: number;

  private constructor(
    private readonly dir: string,
    private fh: FileHandle,
    private epoch: number,
    private logBytes: number,
    private readonly options: MetaLogOptions,
  ) {
    this.checkpointLogBytes = options.checkpointLogBytes ?? 64 * 1024 * 1024;
  }

  /** Create an empty checkpoint and log (epoch 1) in `dir/meta`. */
  static async create(dir: string, records: Buffer[]): Promise<void> {
    const meta = join(dir, 'meta');
    await mkdir(meta, { recursive: true });
    const body = Buffer.concat(records);
    await writeFileAtomic(
      join(meta, 'checkpoint'),
      Buffer.concat([fileHeader(CHECKPOINT_MAGIC, 1, body.length, crc32c(body)), body]),
    );
    await writeFileAtomic(join(meta, 'log'), fileHeader(LOG_MAGIC, 1, 0, 0));
  }

  /** Replay checkpoint then log into `apply`. Call `checkpoint()` afterwards to start a clean epoch. */
  static async open(dir: string, apply: ApplyRecord, options: MetaLogOptions): Promise<MetaLog> {
    const meta = join(dir, 'meta');
    let ckpt: Buffer;
    try {
      ckpt = await readFile(join(meta, 'checkpoint'));
    } catch (err) {
      throw new ReboundError('POOL_CORRUPT', 'pool metadata checkpoint missing', { cause: err });
    }
    const h = readFileHeader(ckpt, CHECKPOINT_MAGIC, 'checkpoint');
    const body = ckpt.subarray(FILE_HEADER_BYTES);
    if (body.length !== h.bodyBytes || crc32c(body) !== h.bodyCrc) {
      throw new ReboundError('POOL_CORRUPT', 'checkpoint: body length or CRC mismatch');
    }
    parseRecords(body, 0, apply, false, 'checkpoint');

    const logPath = join(meta, 'log');
    let log: Buffer | null = null;
    try {
      log = await readFile(logPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw toReboundError(err);
    }
    let logEpoch = h.epoch;
    let end = FILE_HEADER_BYTES;
    if (log === null || log.length < FILE_HEADER_BYTES) {
      // No log, or a log whose header never reached the disk: nothing after the checkpoint.
      await writeFileAtomic(logPath, fileHeader(LOG_MAGIC, h.epoch, 0, 0));
    } else {
      logEpoch = readFileHeader(log, LOG_MAGIC, 'log').epoch;
      if (logEpoch === h.epoch) {
        end = parseRecords(log, FILE_HEADER_BYTES, apply, true, 'log');
      } else if (logEpoch < h.epoch) {
        // Crash between writing checkpoint E and starting log E: the checkpoint has it all.
        await writeFileAtomic(logPath, fileHeader(LOG_MAGIC, h.epoch, 0, 0));
      } else {
        throw new ReboundError(
          'POOL_CORRUPT',
          `log epoch ${logEpoch} is newer than checkpoint epoch ${h.epoch}`,
        );
      }
    }
    const fh = await open(logPath, 'r+');
    if (log && end < log.length && logEpoch === h.epoch) {
      await fh.truncate(end); // drop the torn tail before appending after it
      await fh.datasync();
    }
    return new MetaLog(dir, fh, h.epoch, end, options);
  }

  /** Where the full state comes from when a checkpoint is written. */
  setSnapshotter(fn: () => Buffer[]): void {
    this.snapshotter = fn;
  }

  get durableSeq(): number {
    return this.durable;
  }

  get lastSeq(): number {
    return this.appendSeq;
  }

  get sizeBytes(): number {
    return this.logBytes;
  }

  /**
   * Append a framed record; returns its sequence number. `pointsAtData`: the record maps a
   * data block, so the drives are synced before the record is written.
   */
  append(record: Buffer, pointsAtData = false): number {
    if (this.closed) throw new ReboundError('SHUTTING_DOWN', 'the pool is closed');
    this.pending.push(record);
    this.pendingBytes += record.length;
    if (pointsAtData) this.pendingDataRecords = true;
    this.appendSeq++;
    if (this.pendingBytes >= 1024 * 1024 && !this.next) this.schedule();
    return this.appendSeq;
  }

  /** Resolve once record `seq` (and all before it) is durable. */
  commit(seq = this.appendSeq): Promise<void> {
    if (seq <= this.durable) return Promise.resolve();
    if (this.current && seq <= this.current.target) return this.current.promise;
    return this.schedule().promise;
  }

  /** Resolve once every drive write completed before this call, and every record so far, is durable. */
  flush(): Promise<void> {
    const r = this.schedule();
    r.dataSync = true;
    return r.promise;
  }

  /** Write a checkpoint now (and start a new epoch of the log). */
  checkpoint(): Promise<void> {
    const r = this.schedule();
    r.checkpoint = true;
    return r.promise;
  }

  private schedule(): Round {
    if (!this.next) this.next = newRound();
    const r = this.next;
    if (!this.running) {
      this.running = true;
      // Start on the next microtask so that callers in this tick join the same round.
      queueMicrotask(() => void this.loop());
    }
    return r;
  }

  private async loop(): Promise<void> {
    while (this.next) {
      const round = this.next;
      this.next = null;
      const bufs = this.pending;
      const bytes = this.pendingBytes;
      const dataRecords = this.pendingDataRecords;
      this.pending = [];
      this.pendingBytes = 0;
      this.pendingDataRecords = false;
      round.target = this.appendSeq;
      this.current = round;
      const wantCheckpoint =
        this.snapshotter !== null &&
        (round.checkpoint || this.forceCheckpoint || this.logBytes + bytes > this.checkpointLogBytes);
      // The state is taken in the same tick as the pending records: it includes exactly them.
      const state = wantCheckpoint ? this.snapshotter!() : null;
      try {
        if (round.dataSync || dataRecords || state) await this.options.dataSync();
        if (state) {
          await this.writeCheckpoint(state);
          this.forceCheckpoint = false;
        } else if (bytes > 0) {
          await writeFully(this.fh, Buffer.concat(bufs, bytes), this.logBytes);
          await this.fh.datasync();
          this.logBytes += bytes;
        }
        this.durable = round.target;
        this.current = null;
        this.options.onDurable?.(round.target);
        round.resolve();
      } catch (err) {
        // Keep the batch, in order, for the next round: memory already has these changes.
        this.pending = bufs.concat(this.pending);
        this.pendingBytes += bytes;
        this.pendingDataRecords ||= dataRecords;
        if (state) this.forceCheckpoint = true;
        this.current = null;
        round.reject(toReboundError(err));
      }
    }
    this.running = false;
  }

  private async writeCheckpoint(records: Buffer[]): Promise<void> {
    const epoch = this.epoch + 1;
    const body = Buffer.concat(records);
    const meta = join(this.dir, 'meta');
    await writeFileAtomic(
      join(meta, 'checkpoint'),
      Buffer.concat([fileHeader(CHECKPOINT_MAGIC, epoch, body.length, crc32c(body)), body]),
    );
    await writeFileAtomic(join(meta, 'log'), fileHeader(LOG_MAGIC, epoch, 0, 0));
    const fh = await open(join(meta, 'log'), 'r+');
    await this.fh.close();
    this.fh = fh;
    this.epoch = epoch;
    this.logBytes = FILE_HEADER_BYTES;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    await this.fh.close();
  }
}
