/**
 * One copy pair: a volume of this node (the source, on the secondary) copied to another
 * node's export over NBD (the destination, on the primary): SPEC "Failback, method 1",
 * S403 (Fig. 22) and S406 (Fig. 23).
 *
 *   start: pair bitmap ─► journal opened and attached to the volume (S502) ─► NBD connect
 *   initial-copy: ship what the journal already holds ─► copy the set (S504: the frozen
 *                 bitmap's blocks; S505: every block) from the volume to the target ─►
 *                 flush the target (S506, S507)
 *   streaming:    read entries in seq order ─► apply them to the target ─► flush ─► ack
 *                 (the journal trims) ─► again (S406); marked blocks (the journal was
 *                 full) are copied again once the journal is drained
 *   releasing:    the volume is fenced; drain to lag 0, flush, detach, close, destroy
 *   released      (or failed, with the error; the journal's files are kept until delete)
 *
 * Ordering. The target must end byte-identical to the volume. A copy reads the volume's
 * current data, so applying a journal entry AFTER a copy of its block is right only if no
 * write to that block escaped the journal after the entry. Hence: a copy starts only
 * once every entry appended before its set was fixed has been shipped (the journal is
 * drained first), and from the moment a set is fixed every write is journaled again
 * (the sink hands over its marks and journals, synchronously). Entries appended during
 * the copy are then shipped after it, in order, and the last write to each byte wins.
 *
 * Crashes. The journal is appended after the volume write (under the block locks), so
 * a crash can leave a write in the volume that never reached the journal (it was not
 * acknowledged, but the volume holds it), and the overflow marks live in memory. The
 * pair therefore keeps its own active bitmap on the volume from its start (marked
 * durably before any data lands): a node that finds the pair not stopped cleanly copies
 * that bitmap's blocks again (after shipping what the journal holds) before streaming.
 * A clean stop needs none of this: streaming resumes after the acknowledged seq, and an
 * initial copy that had not finished starts again (copying is idempotent).
 *
 * Errors: retryable ones (the target unreachable, NBD_DISCONNECTED once the client's own
 * reconnects gave up) drop the connection and try again with a doubling delay, the copy
 * from its start and the journal from the acknowledged seq; the others, or too many
 * attempts in a row, fail the pair. Host writes never fail because of the pair.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type BlockDevice, BlockSet, copyBlocks, regrid, SCATTERED_FLUSH_BYTES } from '../block/index.js';
import { isReboundError, isRetryable, ReboundError, toReboundError } from '../errors.js';
import { applyEntries, Journal, type JournalOptions } from '../journal/index.js';
import { type Logger, silentLogger } from '../logger.js';
import type { NbdClientOptions } from '../nbd/client/index.js';
import { writeFileAtomic } from '../pool/index.js';
import type { Storage } from '../volume/index.js';
import {
  BLOCKS_FILE,
  JOURNAL_DIR,
  type PairRecord,
  type PairRetry,
  type PairState,
  type PairView,
  readRecord,
  writeRecord,
} from './record.js';
import { PairSink } from './sink.js';
import { COPY_BATCHES, dialOptions, type Secrets, targetLabel } from './target.js';

/** A connected target: a BlockDevice that can be closed (an NbdClientDevice). */
export type TargetDevice = BlockDevice & { close(): Promise<void> };

export interface RetryPolicy {
  /** Failed attempts in a row (no progress between them) before the pair fails. */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 20, initialDelayMs: 500, maxDelayMs: 30_000 };

/** What a pair needs from the node. */
export interface PairContext {
  storage: Storage;
  /** Seals and opens secrets at rest (the node's SecretBox). */
  secrets: Secrets;
  connect(options: NbdClientOptions): Promise<TargetDevice>;
  logger: Logger;
  journal: JournalOptions;
  retry: RetryPolicy;
  /**
   * Copy engine chunks in flight (default COPY_CONCURRENCY). A delta is scattered blocks,
   * one request each: latency-bound, so it needs many in flight.
   */
  copyConcurrency: number;
}

/** Read batches when shipping. */
const SHIP_BATCH_BYTES = 8 * 1024 * 1024;
/** Counters are saved at most this often while streaming (state changes at once). */
const SAVE_INTERVAL_MS = 1000;
/** How long the shipping loop sleeps when nothing wakes it. */
const IDLE_MS = 250;
/** The first connection (at start, to report a bad address or key at once). */
const CONNECT_TIMEOUT_MS = 10_000;

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Pair {
  private journal: Journal | null = null;
  private sink: PairSink | null = null;
  private target: TargetDevice | null = null;
  private running: Promise<void> | null = null;
  /** A new pair's delta set, as just saved to BLOCKS_FILE: its first copy need not read it back. */
  private startSet: BlockSet | null = null;
  private stopping = false;
  private releasing: boolean;
  private deleted = false;
  private readonly abort = new AbortController();
  private wakeUp: (() => void) | null = null;
  private woken = false;
  /** finishRelease detached the journal (the volume was fenced). */
  private detached = false;
  private saveChain: Promise<void> = Promise.resolve();
  private saveTimer: NodeJS.Timeout | null = null;
  private releaseWaiters: Waiter[] = [];
  /** Callers of changed() waiting for the next state change. */
  private stateWaiters: (() => void)[] = [];
  private failures = 0;
  /** The view's `retrying`: set when an attempt fails and is to be repeated, cleared on connecting. */
  private retrying: PairRetry | null = null;
  private readonly logger: Logger;

  private constructor(
    readonly record: PairRecord,
    readonly dir: string,
    private readonly ctx: PairContext,
  ) {
    this.releasing = record.state === 'releasing';
    this.logger = (ctx.logger ?? silentLogger).child({ pair: record.name, volume: record.volume });
  }

  get name(): string {
    return this.record.name;
  }

  get volume(): string {
    return this.record.volume;
  }

  /** Still holding the volume (journal attached or about to be). */
  get live(): boolean {
    return this.record.state !== 'released' && this.record.state !== 'failed';
  }

  /**
   * Start a new pair (the record is new, state initial-copy). Journaling starts before
   * the set to copy is fixed and before anything is copied (S502). The target is
   * connected before this resolves, so a bad address, export or key is reported to the
   * caller, and nothing is left behind (but a freeze `baseSet` made stays made).
   */
  static async create(
    ctx: PairContext,
    dir: string,
    record: PairRecord,
    /**
     * Called once journaling runs (it may fix the bitmap then: S501 after S502 leaves no
     * gap): a delta's set, in units of `unitBytes` (a grain of the volume, or a block).
     */
    baseSet: () => Promise<{ set: BlockSet; unitBytes: number } | null>,
  ): Promise<Pair> {
    const pair = new Pair(record, dir, ctx);
    // The target is dialled while the pair's state is written: its TLS handshake and NBD
    // negotiation (tens of milliseconds, more while the primary premarks its bitmaps)
    // then overlap the fsyncs below instead of following them.
    const connecting = pair.connectTarget();
    connecting.catch(() => {}); // awaited below, or closed once a step failed
    try {
      await mkdir(dir, { recursive: true });
      // The journal's files are made while the pair bitmap is marked (each waits for its
      // fsyncs): the bitmap still comes before the journal is attached to the volume, the
      // order a crash needs (file comment). Both settle first, so discard() finds the
      // journal if either failed.
      const [opened, marked] = await Promise.allSettled([
        Journal.open(join(dir, JOURNAL_DIR), ctx.journal),
        pair.ensurePairBitmap(),
      ]);
      if (opened.status === 'fulfilled') pair.journal = opened.value;
      if (opened.status === 'rejected') throw opened.reason;
      if (marked.status === 'rejected') throw marked.reason;
      await pair.attach();
      const base = await baseSet();
      if (base) {
        await writeFileAtomic(join(dir, BLOCKS_FILE), base.set.encode());
        record.unitBytes = base.unitBytes;
        pair.startSet = base.set;
      }
      await writeRecord(dir, record);
      pair.target = await connecting;
    } catch (err) {
      connecting.then((d) => d.close()).catch(() => {});
      await pair.discard();
      throw err;
    }
    pair.logger.info({ mode: record.mode, target: pair.targetLabel() }, 'pair started');
    pair.running = pair.run();
    return pair;
  }

  /** A pair found on disk at node start: released and failed ones are only shown; others go on. */
  static async resume(ctx: PairContext, dir: string): Promise<Pair | null> {
    const record = await readRecord(dir);
    if (!record) return null;
    const pair = new Pair(record, dir, ctx);
    if (!pair.live) return pair;
    try {
      if (!record.cleanStop) {
        record.resync = true; // see "Crashes"
        pair.logger.warn(
          'the node did not stop cleanly: the pair copies the blocks written since its start again',
        );
      }
      record.cleanStop = false;
      await pair.save();
      await pair.attach();
    } catch (err) {
      pair.fail(toReboundError(err));
      await pair.teardown();
      return pair;
    }
    pair.logger.info({ state: record.state }, 'pair resumed');
    pair.running = pair.run();
    return pair;
  }

  view(): PairView {
    const r = this.record;
    const st = this.journal?.stats();
    return {
      name: r.name,
      volume: r.volume,
      mode: r.mode,
      state: r.state,
      target: { host: r.target.host, port: r.target.port, export: r.target.export },
      blocksToCopy: r.blocksToCopy,
      blocksCopied: r.blocksCopied,
      blockBytes: this.unitBytes(),
      bytesCopied: r.bytesCopied,
      journal: {
        entriesShipped: r.entriesShipped,
        bytesShipped: r.bytesShipped,
        lagEntries: st?.unackedEntries ?? 0,
        lagBytes: st?.unackedBytes ?? 0,
      },
      error: r.error,
      retrying: this.retrying,
      startedAt: r.startedAt,
      copiedAt: r.copiedAt,
      releasedAt: r.releasedAt,
    };
  }

  /**
   * Drain the journal to lag 0 and release (see the file comment). The volume must be
   * fenced (CONFLICT otherwise: hosts writing meanwhile would make "drained" meaningless)
   * and stay fenced until this resolves. Waits at most `timeoutMs`, then rejects BUSY
   * with the lag (the release goes on; call again). Idempotent.
   */
  async release(timeoutMs: number): Promise<PairView> {
    if (this.record.state === 'released') return this.view();
    if (this.record.state === 'failed') {
      throw new ReboundError(
        'CONFLICT',
        `pair ${this.name} failed (${this.record.error?.message}); delete it`,
      );
    }
    if (!this.ctx.storage.getVolume(this.volume).fenced) {
      throw new ReboundError(
        'CONFLICT',
        `volume ${this.volume} is not fenced: fence it (stop host I/O) before releasing pair ${this.name}`,
      );
    }
    const done = new Promise<void>((resolve, reject) => this.releaseWaiters.push({ resolve, reject }));
    if (!this.releasing) {
      this.releasing = true;
      this.setState('releasing');
      await this.save();
      this.logger.info('pair releasing');
    }
    this.wake();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const v = this.view();
        reject(
          new ReboundError(
            'BUSY',
            `pair ${this.name} is not drained yet (${v.state}: ${v.journal.lagEntries} entries, ${v.journal.lagBytes} bytes behind, ${v.blocksCopied} of ${v.blocksToCopy} blocks copied); call release again`,
            { detail: { state: v.state, lagEntries: v.journal.lagEntries, lagBytes: v.journal.lagBytes } },
          ),
        );
      }, timeoutMs);
    });
    try {
      await Promise.race([done, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return this.view();
  }

  /** Node shutdown: stop shipping, keep everything on disk to resume at the next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    this.wake();
    await this.running;
    if (!this.live) {
      await this.teardown();
    } else {
      const clean = this.sink !== null && !this.sink.hasOverflow();
      this.ctx.storage.detachJournal(this.volume);
      await this.closeTarget();
      let closed = true;
      if (this.journal) {
        await this.journal.close().catch((err) => {
          closed = false;
          this.logger.warn({ err: toReboundError(err).message }, 'journal close failed');
        });
      }
      this.journal = null;
      this.record.cleanStop = clean && closed;
      await this.save();
    }
    this.settleRelease(new ReboundError('SHUTTING_DOWN', 'the node is stopping'));
  }

  /** Stop and forget: the journal, the pair bitmap and the pair's directory go. */
  async delete(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    this.wake();
    await this.running;
    this.deleted = true;
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.ctx.storage.detachJournal(this.volume);
    await this.closeTarget();
    await this.journal?.close().catch(() => {});
    this.journal = null;
    await this.saveChain;
    await this.deletePairBitmap();
    await rm(this.dir, { recursive: true, force: true });
    this.settleRelease(new ReboundError('NOT_FOUND', `pair ${this.name} was deleted`));
    this.logger.info('pair deleted');
  }

  // ── the runner ────────────────────────────────────────────────────────────────

  private async run(): Promise<void> {
    try {
      while (!this.stopping) {
        try {
          if (!this.target) {
            this.target = await this.connectTarget();
            this.retrying = null;
          }
          if (this.record.copiedAt === null || this.record.resync) await this.copyPhase();
          await this.stream();
          return;
        } catch (err) {
          if (this.stopping) return;
          const e = toReboundError(err);
          this.failures++;
          if (!isRetryable(e) || this.failures > this.ctx.retry.maxAttempts) {
            this.retrying = null; // failed for good: the view's error says why
            this.fail(e);
            return;
          }
          const delay = Math.min(
            this.ctx.retry.maxDelayMs,
            this.ctx.retry.initialDelayMs * 2 ** Math.min(this.failures - 1, 20),
          );
          this.logger.warn(
            { code: e.code, err: e.message, attempt: this.failures, delayMs: delay },
            'pair retrying',
          );
          const now = Date.now();
          this.retrying = {
            attempt: this.failures,
            code: e.code,
            message: e.message,
            since: this.retrying?.since ?? new Date(now).toISOString(),
            nextAttemptAt: new Date(now + delay).toISOString(),
          };
          await this.closeTarget();
          await this.idle(delay, true);
        }
      }
    } finally {
      if (this.record.state === 'failed') await this.teardown();
    }
  }

  /** S403 (or a copy again after a crash): ship what the journal holds, then copy the set. */
  private async copyPhase(): Promise<void> {
    const journal = this.journal!;
    // Ordering: entries appended before the set is fixed reach the target first.
    await this.shipUntil(journal.stats().lastSeq);
    if (this.stopping) return;
    const initial = this.record.copiedAt === null;
    const unit = this.unitBytes();
    const sizeUnits = Math.ceil(this.device().sizeBytes / unit);
    const set = new BlockSet(sizeUnits);
    if (initial) {
      if (this.record.mode === 'full')
        set.addRange(0, sizeUnits); // S505
      else set.union(await this.baseSet()); // S504
    }
    if (this.record.resync) set.union(this.resyncSet(sizeUnits));
    if (initial) {
      this.record.blocksToCopy = set.count();
      this.record.blocksCopied = 0;
      this.record.bytesCopied = 0;
    } else {
      this.record.blocksToCopy += set.count();
    }
    // The record's fsync (tens of milliseconds on a busy node) goes on beside the first
    // blocks: until it lands, the record on disk still has copiedAt unset, and a crash
    // meanwhile resumes as it would from just before this copy (the set is on disk).
    const saved = this.save();
    saved.catch(() => {}); // awaited below, after the copy's own saves that follow it
    this.logger.info({ blocks: set.count(), initial, resync: this.record.resync }, 'copying blocks');
    await this.copy(set); // flushes the target: S506, S507
    await saved;
    this.record.copiedAt ??= new Date().toISOString();
    this.record.resync = false;
    if (this.record.state === 'initial-copy') this.setState('streaming');
    await this.save();
    this.logger.info({ blocks: this.record.blocksCopied, bytes: this.record.bytesCopied }, 'copy done');
  }

  /** S406: ship entries in order until released or stopped. */
  private async stream(): Promise<void> {
    const journal = this.journal!;
    const sink = this.sink!;
    for (;;) {
      if (this.stopping) return;
      if (this.record.resync) {
        await this.copyPhase();
        continue;
      }
      if (await this.shipBatch()) continue;
      const st = journal.stats();
      const drained = st.lastSeq === st.ackedSeq;
      if (drained && sink.hasOverflow()) {
        // The journal was full: copy the marked blocks again (see "Ordering").
        const dev = this.device();
        const set = regrid(sink.takeOverflow()!, dev.blockSizeBytes, this.unitBytes(), dev.sizeBytes);
        this.record.blocksToCopy += set.count();
        await this.save();
        this.logger.warn(
          { blocks: set.count() },
          'the journal was full: copying the blocks written meanwhile',
        );
        await this.copy(set);
        continue;
      }
      if (drained && this.releasing && (await this.finishRelease())) return;
      if (!drained || !this.releasing) await this.idle(IDLE_MS);
    }
  }

  /** Ship one batch; false when there was nothing durable to ship. */
  private async shipBatch(): Promise<boolean> {
    const journal = this.journal!;
    const entries = await journal.read(journal.stats().ackedSeq + 1, { maxBytes: SHIP_BATCH_BYTES });
    if (entries.length === 0) return false;
    const last = await applyEntries(entries, this.target!); // flushes the target
    await journal.ack(last);
    let bytes = 0;
    for (const e of entries) if (e.type === 'write') bytes += e.data.length;
    this.record.entriesShipped += entries.length;
    this.record.bytesShipped += bytes;
    this.failures = 0;
    this.saveSoon();
    return true;
  }

  private async shipUntil(seq: number): Promise<void> {
    while (!this.stopping && this.journal!.stats().ackedSeq < seq) {
      if (!(await this.shipBatch())) await this.idle(20);
    }
  }

  private async copy(set: BlockSet): Promise<void> {
    const base = { blocks: this.record.blocksCopied, bytes: this.record.bytesCopied };
    await copyBlocks({
      source: this.device(),
      dest: this.target!,
      blocks: set,
      blockSizeBytes: this.unitBytes(),
      zeroes: 'write',
      concurrency: this.ctx.copyConcurrency,
      maxBatchesInFlight: COPY_BATCHES,
      flushEveryBytes: SCATTERED_FLUSH_BYTES,
      // A delta's verify compares its grains: hashed here as they are read (hash-memo.ts).
      keepSourceHashes: this.record.mode !== 'full',
      signal: this.abort.signal,
      progressIntervalMs: 200,
      onProgress: (p) => {
        this.record.blocksCopied = base.blocks + p.blocksDone;
        this.record.bytesCopied = base.bytes + p.bytesDone;
        this.saveSoon();
      },
    });
    this.failures = 0;
  }

  /**
   * Lag 0 and nothing marked, with the volume fenced: detach (nothing more can reach the
   * journal), make sure nothing arrived meanwhile, flush, close and destroy.
   */
  private async finishRelease(): Promise<boolean> {
    if (!this.ctx.storage.getVolume(this.volume).fenced) {
      // Unfenced while releasing: writes go on, so go back to streaming. If the journal
      // was detached already, writes may have missed it: journal again and copy the
      // blocks written since the start again (the pair bitmap has them).
      this.releasing = false;
      this.setState('streaming');
      if (this.detached) {
        this.ctx.storage.attachJournal(this.volume, this.sink!);
        this.detached = false;
        this.record.resync = true;
      }
      await this.save();
      this.settleRelease(
        new ReboundError(
          'CONFLICT',
          `volume ${this.volume} was unfenced while pair ${this.name} was releasing`,
        ),
      );
      return false;
    }
    this.ctx.storage.detachJournal(this.volume);
    this.detached = true;
    const st = this.journal!.stats();
    if (st.lastSeq !== st.ackedSeq || this.sink!.hasOverflow()) return false;
    await this.target!.flush();
    await this.closeTarget();
    await this.journal!.destroy();
    this.journal = null;
    await rm(join(this.dir, BLOCKS_FILE), { force: true });
    await this.deletePairBitmap();
    this.setState('released');
    this.record.releasedAt = new Date().toISOString();
    await this.save();
    this.logger.info(
      {
        blocksCopied: this.record.blocksCopied,
        entriesShipped: this.record.entriesShipped,
        bytesShipped: this.record.bytesShipped,
      },
      'pair released',
    );
    this.settleRelease(null);
    return true;
  }

  // ── pieces ────────────────────────────────────────────────────────────────────

  private device(): BlockDevice {
    return this.ctx.storage.device(this.volume);
  }

  /** Open the journal (unless create() did) and attach it to the volume (S502). */
  private async attach(): Promise<void> {
    const vol = this.ctx.storage.getVolume(this.volume); // NOT_FOUND first
    const dev = this.device();
    this.journal ??= await Journal.open(join(this.dir, JOURNAL_DIR), this.ctx.journal);
    this.sink = new PairSink(this.journal, vol.uniqueId, dev.blockSizeBytes, () => dev.sizeBytes, {
      wake: () => this.wake(),
      failed: (err) => {
        this.logger.error({ code: err.code, err: err.message }, 'the journal failed');
        this.fail(err);
      },
    });
    this.ctx.storage.attachJournal(this.volume, this.sink);
  }

  private async ensurePairBitmap(): Promise<void> {
    const b = this.ctx.storage.listBitmaps(this.volume).find((x) => x.name === this.record.pairBitmap);
    if (b?.active) return;
    if (b) await this.ctx.storage.deleteBitmap(this.volume, b.name);
    await this.ctx.storage.createBitmap(this.volume, this.record.pairBitmap);
  }

  private async deletePairBitmap(): Promise<void> {
    await this.ctx.storage.deleteBitmap(this.volume, this.record.pairBitmap).catch((err) => {
      if (!isReboundError(err, 'NOT_FOUND')) throw err;
    });
  }

  /**
   * The unit of the copy's sets and counts: a grain of the volume (record.unitBytes), or
   * a block: the pool's, asked of the pool so a view works once the volume is gone.
   */
  private unitBytes(): number {
    return this.record.unitBytes ?? this.ctx.storage.blockSizeBytes;
  }

  /**
   * Delta: the frozen bitmap's blocks (at unitBytes) as saved at the start; from memory
   * the first time in the process that started the pair (a read of 256 KiB for 8 GiB of
   * 4 KiB grains, tens of milliseconds before the copy starts on a busy node).
   */
  private async baseSet(): Promise<BlockSet> {
    const kept = this.startSet;
    this.startSet = null;
    return kept ?? BlockSet.decode(await readFile(join(this.dir, BLOCKS_FILE)));
  }

  /** After a crash: the units written since the start (all of them if the pair bitmap is gone). */
  private resyncSet(sizeBlocks: number): BlockSet {
    try {
      const g = this.ctx.storage.getBitmapGrainSet(this.volume, this.record.pairBitmap);
      const b = regrid(g.set, g.unitBytes, this.unitBytes(), this.device().sizeBytes);
      if (b.sizeBlocks !== sizeBlocks) b.resize(sizeBlocks);
      return b;
    } catch (err) {
      if (!isReboundError(err, 'NOT_FOUND')) throw err;
      this.logger.warn('the pair bitmap is gone: copying every block again');
      const all = new BlockSet(sizeBlocks);
      all.addRange(0, sizeBlocks);
      return all;
    }
  }

  private targetLabel(): string {
    return targetLabel(this.record.target);
  }

  private async connectTarget(): Promise<TargetDevice> {
    const connecting = this.ctx.connect(
      await dialOptions(this.record.target, this.ctx.secrets, CONNECT_TIMEOUT_MS),
    );
    // A stop must not wait for a slow connect: leave it, and close what it brings.
    const aborted = new Promise<never>((_, reject) => {
      if (this.abort.signal.aborted) reject(new ReboundError('SHUTTING_DOWN', 'the pair is stopping'));
      this.abort.signal.addEventListener('abort', () =>
        reject(new ReboundError('SHUTTING_DOWN', 'the pair is stopping')),
      );
    });
    aborted.catch(() => {});
    let dev: TargetDevice;
    try {
      dev = await Promise.race([connecting, aborted]);
    } catch (err) {
      connecting.then((d) => d.close()).catch(() => {});
      throw err;
    }
    const sizeBytes = this.device().sizeBytes;
    if (dev.readOnly || dev.sizeBytes < sizeBytes) {
      await dev.close().catch(() => {});
      throw new ReboundError(
        'INVALID_ARGUMENT',
        dev.readOnly
          ? `the target export ${this.targetLabel()} is read-only`
          : `the target export ${this.targetLabel()} has ${dev.sizeBytes} bytes, less than volume ${this.volume} (${sizeBytes})`,
        { detail: { field: 'target' } },
      );
    }
    return dev;
  }

  private async closeTarget(): Promise<void> {
    const t = this.target;
    this.target = null;
    await t?.close().catch(() => {});
  }

  /** Mark the pair failed (once); the runner, or the caller when none runs, tears down. */
  private fail(err: ReboundError): void {
    if (!this.live) return;
    this.setState('failed');
    this.record.error = { code: err.code, message: err.message };
    this.logger.error({ code: err.code, err: err.message }, 'pair failed');
    this.stopping = true;
    this.abort.abort();
    this.wake();
    void this.save().catch(() => {});
    this.settleRelease(err);
  }

  /** A failed pair lets go of the volume and the target; the journal's files stay until delete. */
  private async teardown(): Promise<void> {
    this.ctx.storage.detachJournal(this.volume);
    await this.closeTarget();
    await this.journal?.close().catch(() => {});
    this.journal = null;
  }

  /** Undo a start that did not complete. */
  private async discard(): Promise<void> {
    this.deleted = true;
    if (this.sink) this.ctx.storage.detachJournal(this.volume);
    await this.closeTarget();
    await this.journal?.destroy().catch(() => {});
    this.journal = null;
    await this.deletePairBitmap().catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }

  private settleRelease(err: unknown): void {
    const waiters = this.releaseWaiters;
    this.releaseWaiters = [];
    for (const w of waiters) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    if (w) w();
    else this.woken = true; // the runner is busy: its next idle returns at once
  }

  /** Sleep until woken or `ms` pass (`sleepThroughWakes`: only a stop cuts it short). */
  private idle(ms: number, sleepThroughWakes = false): Promise<void> {
    if (this.stopping) return Promise.resolve();
    if (!sleepThroughWakes && this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      if (sleepThroughWakes) {
        this.abort.signal.addEventListener('abort', done, { once: true });
      } else {
        this.wakeUp = done;
      }
    });
  }

  private setState(state: PairState): void {
    this.record.state = state;
    const waiters = this.stateWaiters;
    this.stateWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Resolves once the pair's state is not `from` (at once if it is not now), or after
   * `waitMs`: the long poll of `GET .../pairs/:pair?waitMs=&whileState=`, so the manager
   * sees an initial copy end when it ends.
   */
  async changed(waitMs: number, from: PairState = this.record.state): Promise<void> {
    if (waitMs <= 0 || this.record.state !== from) return;
    let timer: NodeJS.Timeout | undefined;
    let waiter: (() => void) | undefined;
    await new Promise<void>((resolve) => {
      waiter = resolve;
      this.stateWaiters.push(resolve);
      timer = setTimeout(resolve, waitMs);
      timer.unref();
    });
    clearTimeout(timer);
    this.stateWaiters = this.stateWaiters.filter((w) => w !== waiter);
  }

  private save(): Promise<void> {
    if (this.deleted) return Promise.resolve();
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = null;
    }
    const snapshot = { ...this.record };
    const p = this.saveChain.then(() => writeRecord(this.dir, snapshot));
    this.saveChain = p.catch(() => {});
    return p;
  }

  /** Save the counters within SAVE_INTERVAL_MS. */
  private saveSoon(): void {
    if (this.saveTimer || this.deleted) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.save().catch((err) =>
        this.logger.warn({ err: toReboundError(err).message }, 'saving the pair failed'),
      );
    }, SAVE_INTERVAL_MS);
    this.saveTimer.unref();
  }
}
