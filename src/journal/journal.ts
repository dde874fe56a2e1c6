/**
 * The ordered write journal of one pair (SPEC S502, S406; docs/formats/journal.md).
 *
 *   append ──► pending (in memory, seq assigned in call order)
 *                 │  one round at a time: writev the batch at the end of the newest
 *                 ▼  segment, then (if anyone asked) one fdatasync for all of them
 *   seg-…01.rbj  seg-…57.rbj  seg-…93.rbj (newest: appended to)
 *      ▲ trimmed once every entry in it is acknowledged (state file: acked seq)
 *
 * Acknowledgements (STYLE.md point 11): `append` resolves when the entry is written
 * (in the file; read() sees it; it survives a kill -9 of the process but not a power
 * loss); with `{durable: true}`, or after `sync()`, once it is fdatasync'ed. Concurrent
 * appenders share rounds (group commit, like the pool's metadata log): N durable
 * appends waiting together cost one fdatasync.
 *
 * The caller (the volume's write path, later) appends, writes the volume, and answers
 * the host when both are done; for FUA or a flush it also waits for `sync()`. So an
 * entry whose host write was acknowledged durable is in the journal after a crash.
 *
 * Shipping: `read(ackedSeq + 1)` gives the entries in order; once the peer has applied
 * them durably, `ack(seq)` records that (state file, replaced atomically) and deletes
 * segments whose entries are all acknowledged. An ack lost in a crash only means the
 * entries after the persisted one are sent again, which is harmless: applying them in
 * order is idempotent, each being a write (or zero, or trim) of a range (apply.ts).
 *
 * Sequence numbers are never reused: the newest segment's header and the state file
 * carry a floor for the next one, and at least one segment always exists.
 *
 * Failures: a write or fdatasync error fails the journal for good (every pending and
 * later append and sync rejects with it): after a failed fsync the kernel may have
 * dropped the dirty pages, so retrying could report durable what is not (the
 * PostgreSQL "fsyncgate" lesson). Reopen to go on.
 */
import { type FileHandle, mkdir, open, readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ReboundError, toReboundError } from '../errors.js';
import { fsyncDir, writeFully } from '../pool/index.js';
import { readEntries } from './reader.js';
import { encodeRecord, type JournalEntry, type JournalRecord, recordBytes, validateEntry } from './record.js';
import { recoverJournal } from './recover.js';
import {
  encodeSegmentHeader,
  type LiveSegment,
  lastSeqOf,
  parseSegmentName,
  SEGMENT_HEADER_BYTES,
  segmentName,
} from './segment.js';
import { STATE_FILE, writeState } from './state.js';

const MiB = 1024 * 1024;
export const DEFAULT_SEGMENT_BYTES = 64 * MiB;
export const DEFAULT_MAX_BYTES = 1024 * MiB;
const DEFAULT_READ_BYTES = 4 * MiB;
const DEFAULT_READ_ENTRIES = 1024;
/** Buffers per writev (IOV_MAX is 1024 on Linux). */
const MAX_IOV = 512;

export interface JournalOptions {
  /** A new segment is started once the next record would take the current one past this. */
  segmentBytes?: number;
  /**
   * Limit on the bytes of all segment files (at least two segments). An append that
   * could pass it is refused with JOURNAL_FULL.
   */
  maxBytes?: number;
  /** Create the directory and an empty journal when there is none (default true). */
  create?: boolean;
}

export interface AppendOptions {
  /** Resolve only once the entry (and every one before it) is fdatasync'ed. */
  durable?: boolean;
}

export interface ReadOptions {
  /** Stop before the entries pass this many bytes on disk; one entry is always returned. */
  maxBytes?: number;
  maxEntries?: number;
  /**
   * Also return entries written but not yet durable, without syncing them. By default
   * read() first syncs when the entries it would return are not all durable, so the
   * peer never applies an entry that a crash of this node could still take back.
   */
  includeNotDurable?: boolean;
}

export interface JournalStats {
  /** Oldest entry still held (lastSeq + 1 when none is). */
  firstSeq: number;
  /** Newest seq handed out (written or not yet). */
  lastSeq: number;
  /** Every entry up to here is in the file (read() returns up to it). */
  writtenSeq: number;
  /** Every entry up to here is fdatasync'ed. */
  durableSeq: number;
  /** The peer applied every entry up to here (persisted). */
  ackedSeq: number;
  /** The journal lag: entries after ackedSeq, and their bytes on disk (or pending). */
  unackedEntries: number;
  unackedBytes: number;
  segments: number;
  /** Bytes of all segment files, plus appends not yet written. */
  usedBytes: number;
  maxBytes: number;
  /** fdatasync rounds so far (group commit shows as fewer rounds than durable appends). */
  syncRounds: number;
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a round nobody waits on must not be an unhandled rejection
  return { promise, resolve, reject };
}

interface Round {
  written: Deferred;
  synced: Deferred;
  /** Someone waits for durability: fdatasync after the write. */
  sync: boolean;
  /** ack() asks for the newest segment to be replaced (it is fully acknowledged). */
  roll: boolean;
  /** Highest seq in this round (set when it starts). */
  target: number;
}

interface Pending {
  seq: number;
  bufs: Buffer[];
  bytes: number;
}

function checkSize(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) {
    throw new ReboundError('INVALID_ARGUMENT', `journal option ${name} must be an integer >= ${min}`, {
      detail: { field: name },
    });
  }
}

async function createSegment(dir: string, firstSeq: number): Promise<{ seg: LiveSegment; fh: FileHandle }> {
  const path = join(dir, segmentName(firstSeq));
  const fh = await open(path, 'wx+');
  try {
    // The header is durable (file and directory entry) before any record goes in, so a
    // bad header with records behind it can only be damage (segment.ts).
    await writeFully(fh, encodeSegmentHeader(firstSeq, Date.now()), 0);
    await fh.sync();
    await fsyncDir(dir);
  } catch (err) {
    await fh.close().catch(() => {});
    throw err;
  }
  return { seg: { firstSeq, path, offsets: [], bytes: SEGMENT_HEADER_BYTES }, fh };
}

export class Journal {
  private pending: Pending[] = [];
  /** Bytes appended and not yet in a file (pending or being written). */
  private unwrittenBytes = 0;
  private nextSeq: number;
  private writtenSeq: number;
  private durableSeq: number;
  private diskBytes: number;
  private syncRounds = 0;
  private current: Round | null = null;
  private next: Round | null = null;
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private failed: ReboundError | null = null;
  private closing = false;
  private closed = false;
  private ackChain: Promise<void> = Promise.resolve();
  private trimChain: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly segmentBytes: number,
    private readonly maxBytes: number,
    /** Sorted by seq; the last one is the newest, written through `fh`. */
    private readonly segments: LiveSegment[],
    private fh: FileHandle,
    private ackedSeq: number,
    nextSeq: number,
    /** What recovery repaired at open (a torn tail cut, a torn new segment removed). */
    readonly repairs: readonly string[],
  ) {
    this.nextSeq = nextSeq;
    this.writtenSeq = nextSeq - 1;
    // Recovery fdatasync'ed the newest segment; older ones were sealed.
    this.durableSeq = nextSeq - 1;
    this.diskBytes = segments.reduce((n, s) => n + s.bytes, 0);
  }

  /**
   * Open (or create) the journal in `dir` and recover it after a crash: a torn tail of
   * the newest segment is cut off; any other damage is JOURNAL_CORRUPT (recover.ts).
   */
  static async open(dir: string, options: JournalOptions = {}): Promise<Journal> {
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    checkSize('segmentBytes', segmentBytes, 4096);
    checkSize('maxBytes', maxBytes, 2 * segmentBytes);
    try {
      return await Journal.openChecked(dir, segmentBytes, maxBytes, options.create ?? true);
    } catch (err) {
      throw toReboundError(err); // file system errors as IO_ERROR (or POOL_NO_SPACE)
    }
  }

  private static async openChecked(
    dir: string,
    segmentBytes: number,
    maxBytes: number,
    create: boolean,
  ): Promise<Journal> {
    if (create) await mkdir(dir, { recursive: true });
    const r = await recoverJournal(dir);
    if (!create && !r.stateExists && r.segments.length === 0) {
      throw new ReboundError('NOT_FOUND', `no journal at ${dir}`);
    }
    const segments = r.segments;
    const newest = segments[segments.length - 1];
    let fh: FileHandle;
    if (newest && lastSeqOf(newest) + 1 === r.nextSeq) {
      fh = await open(newest.path, 'r+');
    } else {
      // No segment, or a gap (an ack beyond what survived, a removed torn segment):
      // start one at the next seq, so seqs in a segment stay consecutive.
      const created = await createSegment(dir, r.nextSeq);
      segments.push(created.seg);
      fh = created.fh;
    }
    const journal = new Journal(dir, segmentBytes, maxBytes, segments, fh, r.ackedSeq, r.nextSeq, r.repairs);
    try {
      if (!r.stateExists) await writeState(dir, { ackedSeq: r.ackedSeq, nextSeqFloor: r.nextSeq });
      await journal.trim();
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    return journal;
  }

  /**
   * Append an entry; resolves with its seq once written, or with `durable` once
   * fdatasync'ed. Seqs follow call order. A write entry's data buffer must not change
   * until the promise resolves (it is written as is, not copied).
   *
   * Rejects with JOURNAL_FULL when the journal would pass maxBytes. The pair code (not
   * built yet) will then stop journaling that pair, keep marking the update bitmap, and
   * copy the marked blocks again instead of shipping the journal.
   */
  append(entry: JournalEntry, options: AppendOptions = {}): Promise<number> {
    try {
      this.checkWritable();
      validateEntry(entry);
      const bytes = recordBytes(entry);
      const used = this.diskBytes + this.unwrittenBytes + SEGMENT_HEADER_BYTES;
      if (used + bytes > this.maxBytes) {
        throw new ReboundError(
          'JOURNAL_FULL',
          `journal ${this.dir} is full: ${used} of ${this.maxBytes} bytes used, this entry needs ${bytes}; ` +
            `${this.nextSeq - 1 - this.ackedSeq} entries wait for the peer's acknowledgement`,
          { detail: { usedBytes: used, maxBytes: this.maxBytes, entryBytes: bytes } },
        );
      }
      const seq = this.nextSeq++;
      this.pending.push({ seq, bufs: encodeRecord(seq, entry), bytes });
      this.unwrittenBytes += bytes;
      const round = this.schedule(options.durable === true, false);
      return (options.durable ? round.synced : round.written).promise.then(() => seq);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Resolve once every entry appended before this call is durable. */
  sync(): Promise<void> {
    try {
      this.checkWritable();
    } catch (err) {
      return Promise.reject(err);
    }
    const last = this.nextSeq - 1;
    if (last <= this.durableSeq) return Promise.resolve();
    if (this.current?.sync && this.current.target >= last) return this.current.synced.promise;
    return this.schedule(true, false).synced.promise;
  }

  /**
   * Entries with seq >= fromSeq, in order, as many as the limits allow (at least one
   * when there is any), durable (see ReadOptions). Entries before fromSeq that were
   * trimmed (acknowledged) cannot be read: asking for them is OUT_OF_RANGE.
   *
   * Why durable: were a written entry shipped and then lost in a power loss, the peer
   * would hold a write this node does not, and the seq could be handed out again for
   * another entry. One fdatasync per read batch (megabytes) costs little, and it is
   * shared with the appenders' rounds.
   */
  async read(fromSeq: number, options: ReadOptions = {}): Promise<JournalRecord[]> {
    if (this.closed) throw new ReboundError('SHUTTING_DOWN', `journal ${this.dir} is closed`);
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 0) {
      throw new ReboundError('INVALID_ARGUMENT', `fromSeq must be a seq, got ${fromSeq}`, {
        detail: { field: 'fromSeq' },
      });
    }
    const from = Math.max(1, fromSeq);
    const first = this.firstSeq();
    if (from < first && from <= this.ackedSeq) {
      throw new ReboundError(
        'OUT_OF_RANGE',
        `journal entries ${from} to ${first - 1} were acknowledged and trimmed; read from ${first} or later`,
        { detail: { fromSeq: from, firstSeq: first } },
      );
    }
    if (!options.includeNotDurable && from <= this.writtenSeq && this.writtenSeq > this.durableSeq) {
      // A failed journal cannot sync; what is durable can still be read.
      if (!this.failed && !this.closing) await this.sync();
    }
    return readEntries(this.segments.slice(), from, {
      maxBytes: options.maxBytes ?? DEFAULT_READ_BYTES,
      maxEntries: options.maxEntries ?? DEFAULT_READ_ENTRIES,
      uptoSeq: options.includeNotDurable ? this.writtenSeq : this.durableSeq,
    });
  }

  /**
   * The peer applied (durably) every entry up to `uptoSeq`, which read() returned, so
   * at most the written seq. Resolves once that is persisted and the segments it fully
   * covers are deleted. An older ack is a no-op.
   */
  ack(uptoSeq: number): Promise<void> {
    if (this.closed)
      return Promise.reject(new ReboundError('SHUTTING_DOWN', `journal ${this.dir} is closed`));
    if (!Number.isSafeInteger(uptoSeq) || uptoSeq < 0 || uptoSeq > this.writtenSeq) {
      return Promise.reject(
        new ReboundError(
          'INVALID_ARGUMENT',
          `ack ${uptoSeq} is beyond the last written seq ${this.writtenSeq}`,
          {
            detail: { field: 'uptoSeq' },
          },
        ),
      );
    }
    const p = this.ackChain.then(() => this.doAck(uptoSeq));
    this.ackChain = p.catch(() => {});
    return p;
  }

  private async doAck(uptoSeq: number): Promise<void> {
    if (uptoSeq > this.ackedSeq) {
      // Persist first, trim after: a deleted segment is always covered by a durable ack.
      // The floor covers every seq a reader could have seen (written ones); seqs handed
      // out but never written were never exposed, so losing them in a crash is harmless.
      await writeState(this.dir, { ackedSeq: uptoSeq, nextSeqFloor: this.writtenSeq + 1 });
      this.ackedSeq = uptoSeq;
    }
    await this.trim();
    // The newest segment is never deleted (it carries the next seq). When all of it is
    // acknowledged and it holds a quarter segment or more, start a fresh one so its
    // space comes back; below that, leave it (a new file per ack would cost more).
    const newest = this.segments[this.segments.length - 1];
    if (
      !this.failed &&
      !this.closing &&
      this.pending.length === 0 &&
      lastSeqOf(newest) <= this.ackedSeq &&
      newest.offsets.length > 0 &&
      newest.bytes >= this.segmentBytes / 4
    ) {
      await this.schedule(false, true).written.promise;
      await this.trim();
    }
  }

  /** Delete the oldest segments while every entry in them is acknowledged (never the newest). */
  private trim(): Promise<void> {
    const p = this.trimChain.then(async () => {
      let removed = false;
      while (this.segments.length > 1 && lastSeqOf(this.segments[0]) <= this.ackedSeq) {
        const seg = this.segments[0];
        await unlink(seg.path);
        this.segments.shift();
        this.diskBytes -= seg.bytes;
        removed = true;
      }
      // Not needed for correctness (a resurrected segment is all acknowledged and is
      // trimmed again at open), but it makes the freed space certain.
      if (removed) await fsyncDir(this.dir);
    });
    this.trimChain = p.catch(() => {});
    return p;
  }

  stats(): JournalStats {
    // Appended but not yet written: consecutive seqs after writtenSeq, all unacknowledged.
    let unackedEntries = this.nextSeq - 1 - this.writtenSeq;
    let unackedBytes = this.unwrittenBytes;
    for (const seg of this.segments) {
      const i = Math.max(0, this.ackedSeq + 1 - seg.firstSeq);
      if (i >= seg.offsets.length) continue;
      unackedEntries += seg.offsets.length - i;
      unackedBytes += seg.bytes - seg.offsets[i];
    }
    return {
      firstSeq: this.firstSeq(),
      lastSeq: this.nextSeq - 1,
      writtenSeq: this.writtenSeq,
      durableSeq: this.durableSeq,
      ackedSeq: this.ackedSeq,
      unackedEntries,
      unackedBytes,
      segments: this.segments.length,
      usedBytes: this.diskBytes + this.unwrittenBytes,
      maxBytes: this.maxBytes,
      syncRounds: this.syncRounds,
    };
  }

  private firstSeq(): number {
    for (const seg of this.segments) if (seg.offsets.length > 0) return seg.firstSeq;
    return this.writtenSeq + 1; // nothing written is held: the first unwritten entry, if any
  }

  private checkWritable(): void {
    if (this.closing) throw new ReboundError('SHUTTING_DOWN', `journal ${this.dir} is closed`);
    if (this.failed) throw this.failed;
  }

  private schedule(sync: boolean, roll: boolean): Round {
    if (!this.next) {
      this.next = { written: deferred(), synced: deferred(), sync: false, roll: false, target: 0 };
    }
    const r = this.next;
    r.sync ||= sync;
    r.roll ||= roll;
    if (!this.running) {
      this.running = true;
      // Start on a microtask: every append of this tick joins the same round.
      this.loopDone = new Promise((done) => queueMicrotask(() => done(this.loop())));
    }
    return r;
  }

  private async loop(): Promise<void> {
    while (this.next) {
      const round = this.next;
      this.next = null;
      const batch = this.pending;
      this.pending = [];
      round.target = this.nextSeq - 1;
      this.current = round;
      try {
        if (this.failed) throw this.failed;
        if (round.roll) await this.rollIfAcknowledged(batch);
        await this.writeBatch(batch);
        round.written.resolve();
        if (round.sync && round.target > this.durableSeq) {
          await this.fh.datasync();
          this.syncRounds++;
          this.durableSeq = round.target;
        }
        round.synced.resolve();
      } catch (err) {
        const e = toReboundError(err);
        this.failed ??= e;
        round.written.reject(e);
        round.synced.reject(e);
      }
      this.current = null;
    }
    this.running = false;
  }

  /** Replace the newest segment by an empty one when nothing in it needs keeping. */
  private async rollIfAcknowledged(batch: Pending[]): Promise<void> {
    const newest = this.segments[this.segments.length - 1];
    if (newest.offsets.length === 0 || lastSeqOf(newest) > this.ackedSeq) return;
    await this.roll(batch.length > 0 ? batch[0].seq : this.nextSeq);
  }

  /**
   * Seal the newest segment (fdatasync: a torn record can then only be in the newest
   * one) and start the next at `firstSeq`.
   */
  private async roll(firstSeq: number): Promise<void> {
    await this.fh.datasync();
    const { seg, fh } = await createSegment(this.dir, firstSeq);
    await this.fh.close();
    this.fh = fh;
    this.segments.push(seg);
    this.diskBytes += seg.bytes;
    void this.trim().catch(() => {}); // the sealed one may be all acknowledged; retried on the next ack
  }

  /** Write the batch at the end of the newest segment, starting new segments as they fill. */
  private async writeBatch(batch: Pending[]): Promise<void> {
    let from = 0;
    while (from < batch.length) {
      const seg = this.segments[this.segments.length - 1];
      // Take records while they fit; a record bigger than a segment gets one of its own.
      let to = from;
      let bytes = 0;
      while (
        to < batch.length &&
        (seg.bytes + bytes + batch[to].bytes <= this.segmentBytes ||
          (seg.offsets.length === 0 && to === from))
      ) {
        bytes += batch[to].bytes;
        to++;
      }
      if (to === from) {
        await this.roll(batch[from].seq);
        continue;
      }
      await this.writePiece(seg, batch, from, to, bytes);
      from = to;
    }
  }

  private async writePiece(seg: LiveSegment, batch: Pending[], from: number, to: number, bytes: number) {
    const bufs: Buffer[] = [];
    for (let i = from; i < to; i++) bufs.push(...batch[i].bufs);
    let pos = seg.bytes;
    for (let i = 0; i < bufs.length; i += MAX_IOV) {
      const chunk = bufs.slice(i, i + MAX_IOV);
      const want = chunk.reduce((n, b) => n + b.length, 0);
      const { bytesWritten } = await this.fh.writev(chunk, pos);
      // A short writev (rare on files): write the rest plainly.
      if (bytesWritten < want)
        await writeFully(this.fh, Buffer.concat(chunk).subarray(bytesWritten), pos + bytesWritten);
      pos += want;
    }
    // Publish offsets and size together, after the bytes are in the file (reader.ts).
    let at = seg.bytes;
    for (let i = from; i < to; i++) {
      seg.offsets.push(at);
      at += batch[i].bytes;
    }
    seg.bytes = at;
    this.diskBytes += bytes;
    this.unwrittenBytes -= bytes;
    this.writtenSeq = batch[to - 1].seq;
  }

  /** Write out everything appended, make it durable, and close. Appends after this reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    let err: unknown = null;
    if (!this.failed) {
      try {
        if (this.pending.length > 0 || this.nextSeq - 1 > this.durableSeq) {
          await this.schedule(true, false).synced.promise;
        }
      } catch (e) {
        err = e;
      }
    }
    await this.ackChain;
    await this.loopDone;
    await this.trimChain;
    this.closed = true;
    await this.fh.close();
    if (err) throw err;
  }

  /** Close and delete every file of the journal (the pair is released), then the directory if empty. */
  async destroy(): Promise<void> {
    await this.close().catch(() => {});
    for (const name of await readdir(this.dir)) {
      if (parseSegmentName(name) !== null || name === STATE_FILE || name === `${STATE_FILE}.tmp`) {
        await unlink(join(this.dir, name));
      }
    }
    await rmdir(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw toReboundError(err);
    });
  }
}
