/**
 * The client's scheduler across connections: queues requests, keeps at most
 * `maxInFlight` requests and `maxInFlightBytes` of payload on the wire, and survives a
 * dropped connection.
 *
 *   open ──drop──► reconnecting ──handshake ok──► replaying ──all re-sent──► open
 *                       │ attempts or time used up
 *                       ▼
 *                    failed: every waiting and new request rejects with NBD_DISCONNECTED
 *
 * While reconnecting, requests in flight and new ones wait. After the handshake the
 * client re-sends, before anything else: the writes and zeroes acknowledged since the
 * last successful flush (unflushed.ts: the server may have lost them with its cache),
 * then the caller's data-changing requests that were in flight, each waiting for any
 * earlier overlapping one so they land in their original order. Only then do reads,
 * block status and flushes go out again (a re-sent flush therefore covers every write
 * since the last successful flush). Reads and writes are idempotent at a given offset,
 * so sending one twice is harmless.
 *
 * If a write acknowledged before the drop cannot be re-sent (the server refuses it), the
 * data may be gone: every later flush rejects with that error, since "durable" can no
 * longer be promised. An outage ends at the first reply after a reconnect; a request
 * sent `maxAttempts` times without a reply (a server that crashes on it, say) rejects.
 */
import { ReboundError } from '../../errors.js';
import {
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_FLAG_SEND_FLUSH,
} from '../constants.js';
import type { BlockStatusDescriptor } from '../transmission-codec.js';
import { ClientConnection } from './connection.js';
import { serverError } from './errno.js';
import type { HandshakeResult, NegotiatedExport } from './handshake.js';
import { describeEndpoint, type ResolvedClientOptions, reconnectDelayMs } from './options.js';
import { ClientRequest } from './request.js';
import type { UnflushedEntry } from './unflushed.js';
import { UnflushedWrites } from './unflushed.js';

interface Job {
  req: ClientRequest;
  resolve(): void;
  reject(err: ReboundError): void;
  settled: boolean;
  /** The unflushed entry this write stands for (first send, or a replay). */
  entry?: UnflushedEntry;
  /** A replay of an acknowledged write: nobody waits for it. */
  internal?: boolean;
  /** For a FLUSH: the entries it covers, fixed when it is sent. */
  covered?: UnflushedEntry[];
}

type Phase = 'open' | 'reconnecting' | 'failed' | 'closed';

/**
 * What a write's data is to the replay store: 'copy' (the caller may change it: kept as a
 * copy), 'take' (handed over: nobody changes it any more, kept as it is), 'shared' (never
 * changes and is shared, like a zero buffer: kept as it is and not counted as memory held).
 */
export type KeepData = 'copy' | 'take' | 'shared';

export class ClientSession {
  private conn: ClientConnection | undefined;
  private current: NegotiatedExport;
  private phase: Phase = 'open';
  private closing: Promise<void> | undefined;
  private failure: ReboundError | undefined;
  /** Not yet sent, in issue order. */
  private queue: Job[] = [];
  /** The caller's data-changing requests to re-send after a reconnect, in issue order. */
  private replayQueue: Job[] = [];
  private replaying = false;
  private readonly sent = new Map<ClientRequest, Job>();
  private inFlightBytes = 0;
  private readonly unflushed = new UnflushedWrites();
  /** Set once an acknowledged write could not be re-sent; every flush rejects with it. */
  private lost: ReboundError | undefined;
  private internalFlush: Promise<void> | undefined;
  /** The current outage: from the first drop to the first reply after a reconnect. */
  private outage: { startedMs: number; attempts: number } | undefined;
  private waiters: (() => void)[] = [];
  private readonly where: string;

  constructor(
    private readonly options: ResolvedClientOptions,
    private readonly reopen: () => Promise<HandshakeResult>,
    first: HandshakeResult,
  ) {
    this.where = describeEndpoint(options.endpoint);
    this.current = first.negotiated;
    this.install(first);
    this.replaying = false;
  }

  get negotiated(): NegotiatedExport {
    return this.current;
  }

  /** Unflushed writes kept for replay, in bytes (for tests and stats). */
  get unflushedBytes(): number {
    return this.unflushed.bytes;
  }

  /** Whether acknowledged writes are kept for replay: only when a flush is what makes them durable. */
  private get retains(): boolean {
    return this.options.reconnect !== false && (this.current.transmissionFlags & NBD_FLAG_SEND_FLUSH) !== 0;
  }

  read(offset: number, target: Buffer): Promise<void> {
    return this.submit(new ClientRequest(NBD_CMD_READ, 0, offset, target.length, undefined, target));
  }

  /** How a write's data is kept for replay (`KeepData`): copied unless nobody changes it. */
  write(offset: number, data: Buffer, flags: number, keep: KeepData = 'copy'): Promise<void> {
    let entry: UnflushedEntry | undefined;
    let payload = data;
    if (this.retains && !(flags & NBD_CMD_FLAG_FUA)) {
      // Not async: most writes have room and go out without a turn of their own.
      if (this.overBudget(data.length))
        return this.admit(data.length).then(() => this.write(offset, data, flags, keep));
      if (keep === 'copy') payload = Buffer.from(data);
      entry = this.unflushed.add(offset, data.length, payload, 0, keep !== 'shared');
    }
    return this.submit(new ClientRequest(NBD_CMD_WRITE, flags, offset, data.length, payload), entry);
  }

  async writeZeroes(offset: number, length: number, flags: number): Promise<void> {
    let entry: UnflushedEntry | undefined;
    if (this.retains && !(flags & NBD_CMD_FLAG_FUA)) {
      await this.admit(0);
      entry = this.unflushed.add(offset, length, undefined, flags & NBD_CMD_FLAG_NO_HOLE, false);
    }
    return this.submit(new ClientRequest(NBD_CMD_WRITE_ZEROES, flags, offset, length), entry);
  }

  trim(offset: number, length: number, flags: number): Promise<void> {
    return this.submit(new ClientRequest(NBD_CMD_TRIM, flags, offset, length));
  }

  async blockStatus(offset: number, length: number): Promise<ReadonlyMap<number, BlockStatusDescriptor[]>> {
    const req = new ClientRequest(NBD_CMD_BLOCK_STATUS, 0, offset, length);
    await this.submit(req);
    return req.blockStatus;
  }

  /** FLUSH when the server has a write cache; rejects if acknowledged writes were lost. */
  async flush(): Promise<void> {
    if (this.current.transmissionFlags & NBD_FLAG_SEND_FLUSH) {
      await this.submit(new ClientRequest(NBD_CMD_FLUSH, 0, 0, 0));
    } else if (this.failure) throw this.failure;
    if (this.lost) throw this.lost;
  }

  /** Wait for everything queued or in flight, then NBD_CMD_DISC and close. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      while (
        this.phase === 'reconnecting' ||
        (this.phase === 'open' &&
          (this.queue.length > 0 || this.replayQueue.length > 0 || this.sent.size > 0 || this.replaying))
      ) {
        await this.progress();
      }
      const conn = this.conn;
      if (this.phase === 'open' && conn !== undefined) await conn.disconnect();
      this.conn = undefined;
      if (this.phase !== 'failed') this.phase = 'closed';
    })();
    return this.closing;
  }

  // ---- scheduling ----

  private submit(req: ClientRequest, entry?: UnflushedEntry): Promise<void> {
    if (this.closing !== undefined) {
      if (entry) this.unflushed.remove(entry);
      return Promise.reject(
        new ReboundError('NBD_DISCONNECTED', `the NBD client for ${this.where} is closed`),
      );
    }
    if (this.phase === 'failed') {
      if (entry) this.unflushed.remove(entry);
      return Promise.reject(this.failure!);
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ req, resolve, reject, settled: false, entry });
      this.pump();
    });
  }

  /** Whether `bytes` more would pass the unflushed budget while a flush can free some. */
  private overBudget(bytes: number): boolean {
    return (
      this.unflushed.bytes + bytes > this.options.maxUnflushedBytes &&
      this.unflushed.completedBytes > 0 &&
      this.closing === undefined
    );
  }

  /** Keep unflushed memory bounded: flush (once, shared) before admitting more. */
  private async admit(bytes: number): Promise<void> {
    while (this.overBudget(bytes)) {
      this.internalFlush ??= this.flush().finally(() => {
        this.internalFlush = undefined;
      });
      try {
        await this.internalFlush;
      } catch (err) {
        // A lost write makes every flush reject, yet this one still let the memory go;
        // the caller learns of the loss from its own flush.
        if (err !== this.lost) throw err;
      }
    }
  }

  private pump(): void {
    const conn = this.conn;
    if (this.phase !== 'open' || conn === undefined || this.replaying) return;
    while (this.queue.length > 0 && this.hasRoom(conn, this.queue[0].req)) {
      this.send(conn, this.queue.shift()!);
    }
  }

  private hasRoom(conn: ClientConnection, req: ClientRequest): boolean {
    if (conn.inFlight >= this.options.maxInFlight) return false;
    return conn.inFlight === 0 || this.inFlightBytes + req.payloadBytes <= this.options.maxInFlightBytes;
  }

  private send(conn: ClientConnection, job: Job): void {
    const maxSends = this.options.reconnect === false ? 1 : this.options.reconnect.maxAttempts;
    if (job.req.sends >= maxSends) {
      this.settle(
        job,
        new ReboundError(
          'NBD_DISCONNECTED',
          `${job.req.name} [${job.req.offset}, +${job.req.length}) was sent ${job.req.sends} times to ${this.where} and the connection dropped before each reply`,
        ),
      );
      return;
    }
    if (job.req.type === NBD_CMD_FLUSH) job.covered = this.unflushed.coveredByFlush();
    if (job.entry?.state === 'stale') job.entry.state = 'replaying';
    this.inFlightBytes += job.req.payloadBytes;
    this.sent.set(job.req, job);
    conn.send(job.req);
  }

  private settle(job: Job, err?: ReboundError): void {
    if (job.settled) return;
    job.settled = true;
    // A write that failed leaves nothing to guarantee (its caller has the error).
    if (err && job.entry && !job.internal) this.unflushed.remove(job.entry);
    if (err) job.reject(err);
    else job.resolve();
  }

  private readonly onReply = (req: ClientRequest): void => {
    const job = this.sent.get(req);
    if (job === undefined) return;
    this.sent.delete(req);
    this.inFlightBytes -= req.payloadBytes;
    this.outage = undefined;
    if (req.error !== undefined) {
      const err = serverError(req.error, {
        command: req.name,
        offset: req.offset,
        length: req.length,
        sizeBytes: this.current.sizeBytes,
      });
      if (job.entry) this.unflushed.remove(job.entry);
      if (job.internal) {
        this.lost ??= new ReboundError(
          err.code,
          `a write acknowledged before the connection to ${this.where} dropped could not be re-sent, so it may be lost: ${err.message}`,
          { cause: err, detail: { offset: req.offset, length: req.length } },
        );
        this.options.logger.error(
          { endpoint: this.where, err: this.lost.message },
          'NBD write replay failed',
        );
      }
      this.settle(job, err);
    } else {
      if (job.entry) this.unflushed.completed(job.entry);
      if (job.covered) this.unflushed.flushed(job.covered);
      this.settle(job, req.type === NBD_CMD_FLUSH ? this.lost : undefined);
    }
    this.wake();
    this.pump();
  };

  // ---- connections ----

  private install(t: HandshakeResult): void {
    this.current = t.negotiated;
    this.conn = new ClientConnection(
      t.stream,
      t.leftover,
      {
        maxRequestBytes: Math.min(t.negotiated.maxPayloadBytes, 64 * 1024 * 1024),
        requestTimeoutMs: this.options.requestTimeoutMs,
        logger: this.options.logger,
        logContext: { endpoint: this.where, export: t.negotiated.exportName },
      },
      { onReply: this.onReply, onClose: this.onClose },
    );
    this.phase = 'open';
    this.replaying = true;
  }

  private readonly onClose = (reason: Error, unanswered: ClientRequest[]): void => {
    this.conn = undefined;
    this.inFlightBytes = 0;
    const jobs = unanswered.map((r) => this.sent.get(r)!).filter((j) => j !== undefined);
    this.sent.clear();
    this.unflushed.connectionLost();
    this.wake();
    if (this.phase !== 'open') return;
    if (
      this.closing !== undefined &&
      jobs.length === 0 &&
      this.queue.length === 0 &&
      this.replayQueue.length === 0
    ) {
      return; // our own DISC: close() finishes
    }
    const cause = reason instanceof ReboundError ? reason : undefined;
    if (this.options.reconnect === false) {
      this.fail(
        new ReboundError(
          'NBD_DISCONNECTED',
          `the connection to the NBD server at ${this.where} dropped: ${reason.message}`,
          {
            cause,
          },
        ),
        jobs,
      );
      return;
    }
    for (const job of jobs) {
      if (job.internal)
        job.settled = true; // its entry is stale again and is replayed afresh
      else if (job.req.changesData) this.replayQueue.push(job);
      else this.queue.push(job);
    }
    const bySeq = (a: Job, b: Job) => a.req.seq - b.req.seq;
    this.replayQueue.sort(bySeq);
    this.queue.sort(bySeq);
    this.options.logger.warn(
      { endpoint: this.where, reason: reason.message, waiting: this.queue.length + this.replayQueue.length },
      'NBD connection dropped; reconnecting',
    );
    void this.reconnect(reason);
  };

  private async reconnect(reason: Error): Promise<void> {
    const policy = this.options.reconnect as Exclude<ResolvedClientOptions['reconnect'], false>;
    this.phase = 'reconnecting';
    this.outage ??= { startedMs: Date.now(), attempts: 0 };
    const outage = this.outage;
    let last: Error = reason;
    for (;;) {
      const elapsedMs = Date.now() - outage.startedMs;
      if (outage.attempts >= policy.maxAttempts || elapsedMs >= policy.maxElapsedMs) {
        this.fail(
          new ReboundError(
            'NBD_DISCONNECTED',
            `the connection to the NBD server at ${this.where} dropped (${reason.message}) and ${outage.attempts} reconnect attempts over ${elapsedMs} ms failed; last error: ${last.message}`,
            { cause: last },
          ),
          [],
        );
        return;
      }
      outage.attempts++;
      const waitMs = Math.min(reconnectDelayMs(policy, outage.attempts), policy.maxElapsedMs - elapsedMs);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      let t: HandshakeResult;
      try {
        t = await this.reopen();
      } catch (err) {
        last = err instanceof Error ? err : new Error(String(err));
        this.options.logger.debug(
          { endpoint: this.where, attempt: outage.attempts, err: last.message },
          'reconnect failed',
        );
        continue;
      }
      if (t.negotiated.sizeBytes !== this.current.sizeBytes) {
        t.stream.destroy();
        this.fail(
          new ReboundError(
            'NBD_DISCONNECTED',
            `after reconnecting, export ${JSON.stringify(this.current.exportName)} at ${this.where} is ${t.negotiated.sizeBytes} bytes, not ${this.current.sizeBytes}: not the same device`,
          ),
          [],
        );
        return;
      }
      this.install(t);
      this.options.logger.info({ endpoint: this.where, attempt: outage.attempts }, 'NBD client reconnected');
      this.wake();
      await this.replay(this.conn!);
      return;
    }
  }

  /** Re-send acknowledged-but-unflushed writes, then the caller's interrupted ones; overlaps in order. */
  private async replay(conn: ClientConnection): Promise<void> {
    const internal: Job[] = this.unflushed.stale().map((entry) => ({
      req: new ClientRequest(
        entry.data !== undefined ? NBD_CMD_WRITE : NBD_CMD_WRITE_ZEROES,
        entry.flags,
        entry.offset,
        entry.length,
        entry.data,
      ),
      resolve: () => {},
      reject: () => {},
      settled: false,
      entry,
      internal: true,
    }));
    const active: Job[] = [];
    try {
      for (;;) {
        if (this.conn !== conn) return;
        const next = internal[0] ?? this.replayQueue[0];
        if (next === undefined) break;
        for (let i = active.length - 1; i >= 0; i--) if (active[i].settled) active.splice(i, 1);
        if (!this.hasRoom(conn, next.req) || active.some((a) => overlaps(a.req, next.req))) {
          await this.progress();
          continue;
        }
        if (internal.length > 0) internal.shift();
        else this.replayQueue.shift();
        active.push(next);
        this.send(conn, next);
      }
      while (this.conn === conn && active.some((a) => !a.settled)) await this.progress();
    } finally {
      if (this.conn === conn) {
        this.replaying = false;
        this.wake();
        this.pump();
      }
    }
  }

  private fail(err: ReboundError, jobs: Job[]): void {
    this.phase = 'failed';
    this.failure = err;
    const all = [...jobs, ...this.replayQueue, ...this.queue, ...this.sent.values()];
    this.queue = [];
    this.replayQueue = [];
    this.sent.clear();
    const conn = this.conn;
    this.conn = undefined;
    conn?.destroy(err);
    for (const job of all) this.settle(job, err);
    this.options.logger.error({ endpoint: this.where, err: err.message }, 'NBD client gave up');
    this.wake();
  }

  private progress(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

function overlaps(a: ClientRequest, b: ClientRequest): boolean {
  return a.offset < b.offset + b.length && b.offset < a.offset + a.length;
}
