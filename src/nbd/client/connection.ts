/**
 * One transmission-phase connection: sends requests with fresh 64-bit cookies, matches
 * replies (in any order) to them by cookie, and reports each finished request and, once,
 * the end of the connection with the requests it leaves unanswered. Scheduling, retries
 * and reconnecting are the session's; this file only owns the socket.
 *
 * A reply that breaks the protocol (bad magic, unknown cookie, a malformed chunk) or a
 * request without a reply within the timeout ends the connection: after either nothing
 * on the stream can be trusted. Requests written in one event-loop turn leave in one
 * writev (cork until setImmediate), as on the server side.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { ReboundError } from '../../errors.js';
import { MAX_EXTENTS_PER_CHUNK, NBD_CMD_DISC, NBD_CMD_READ } from '../constants.js';
import { FrameReader } from '../frame-reader.js';
import type { NbdLogger } from '../logger.js';
import { NbdProtocolError } from '../protocol-error.js';
import { encodeRequestHeader } from '../transmission-codec.js';
import { ReplyReader } from './reply-reader.js';
import type { ClientRequest } from './request.js';

export interface ConnectionEvents {
  /** A request got its whole reply (success or the server's error). */
  onReply(req: ClientRequest): void;
  /** The connection ended; `unanswered` are the requests still waiting, in issue order. */
  onClose(reason: Error, unanswered: ClientRequest[]): void;
}

export interface ConnectionSettings {
  /** Largest read we ask for: bounds an OFFSET_DATA chunk. */
  maxRequestBytes: number;
  /** 0: no timeout. */
  requestTimeoutMs: number;
  logger: NbdLogger;
  logContext: Record<string, unknown>;
}

/** After DISC, how long the server gets to close its end before we cut it. */
const DISC_LINGER_MS = 2000;
/**
 * The request timeout is checked this many times per timeout, on the oldest request: one
 * timer per connection, not one per request (a timer set and cleared for each of a
 * failback's 20,000 writes showed in a new secondary's CPU profile). A request times out
 * between 1 and 1 + 1/TIMEOUT_CHECKS timeouts after it was sent.
 */
const TIMEOUT_CHECKS = 4;

export class ClientConnection {
  private readonly reader = new FrameReader();
  private readonly replies: ReplyReader;
  /** In send order (cookies only grow), so the first is the oldest: what the timeout checks. */
  private readonly waiting = new Map<bigint, { req: ClientRequest; sentAt: number }>();
  private timeoutCheck: NodeJS.Timeout | undefined;
  private nextCookie = 1n;
  private corked = false;
  private closed = false;
  private disconnecting = false;

  constructor(
    private readonly stream: net.Socket | tls.TLSSocket,
    leftover: Buffer,
    private readonly settings: ConnectionSettings,
    private readonly events: ConnectionEvents,
  ) {
    // Chunks are at most a whole read plus its header, or a block status chunk of the
    // spec's maximum extents; anything bigger is a broken server, not a reason to buffer.
    const maxChunk = Math.max(settings.maxRequestBytes, 4 + 8 * MAX_EXTENTS_PER_CHUNK) + 64;
    this.replies = new ReplyReader((cookie) => {
      const w = this.waiting.get(cookie);
      return w !== undefined && w.req.type === NBD_CMD_READ ? w.req.length : undefined;
    }, maxChunk);
    this.reader.push(leftover);
    stream.on('data', this.onData);
    stream.on('error', (err) => this.end(err));
    stream.on('close', () => this.end(new Error('the connection closed')));
    stream.resume();
    if (leftover.length > 0) this.pump();
  }

  get inFlight(): number {
    return this.waiting.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(req: ClientRequest): void {
    if (this.closed || this.disconnecting)
      throw new ReboundError('INTERNAL', 'send on a closed NBD connection');
    req.cookie = this.nextCookie++;
    req.reset();
    req.sends++;
    const timeoutMs = this.settings.requestTimeoutMs;
    if (timeoutMs > 0 && this.timeoutCheck === undefined) {
      this.timeoutCheck = setInterval(this.checkTimeout, Math.max(1, Math.ceil(timeoutMs / TIMEOUT_CHECKS)));
      this.timeoutCheck.unref();
    }
    this.waiting.set(req.cookie, { req, sentAt: performance.now() });
    this.write(encodeRequestHeader(req), req.data);
  }

  /** Graceful end: NBD_CMD_DISC (only once nothing is in flight), then close our side. */
  async disconnect(): Promise<void> {
    if (this.closed) return;
    this.disconnecting = true;
    const closed = new Promise<void>((resolve) => this.stream.once('close', () => resolve()));
    this.write(
      encodeRequestHeader({ flags: 0, type: NBD_CMD_DISC, cookie: this.nextCookie++, offset: 0, length: 0 }),
    );
    this.stream.end();
    const linger = setTimeout(() => this.stream.destroy(), DISC_LINGER_MS);
    linger.unref();
    await closed;
    clearTimeout(linger);
  }

  /** Hard end (timeout, protocol error, shutdown). */
  destroy(reason: Error): void {
    this.end(reason);
  }

  private readonly checkTimeout = (): void => {
    const oldest = this.waiting.values().next();
    if (oldest.done || performance.now() - oldest.value.sentAt < this.settings.requestTimeoutMs) return;
    this.timedOut(oldest.value.req);
  };

  private timedOut(req: ClientRequest): void {
    this.end(
      new ReboundError(
        'NBD_DISCONNECTED',
        `no reply to ${req.name} [${req.offset}, +${req.length}) within ${this.settings.requestTimeoutMs} ms`,
      ),
    );
  }

  private readonly onData = (chunk: Buffer): void => {
    this.reader.push(chunk);
    this.pump();
  };

  private pump(): void {
    try {
      for (;;) {
        const reply = this.replies.next(this.reader);
        if (reply === undefined) return;
        const w = this.waiting.get(reply.cookie);
        if (w === undefined) throw new NbdProtocolError(`reply for unknown cookie ${reply.cookie}`);
        let done = true;
        if (reply.kind === 'simple') w.req.onSimple(reply.error, reply.data);
        else done = w.req.onChunk(reply);
        if (!done) continue;
        this.waiting.delete(reply.cookie);
        this.events.onReply(w.req);
        if (this.closed) return;
      }
    } catch (err) {
      this.end(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private write(header: Buffer, data?: Buffer): void {
    const s = this.stream;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      setImmediate(this.uncork);
    }
    s.write(header);
    if (data !== undefined && data.length > 0) s.write(data);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    if (!this.stream.destroyed) this.stream.uncork();
  };

  private end(reason: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.removeListener('data', this.onData);
    this.stream.destroy();
    clearInterval(this.timeoutCheck);
    const unanswered = [...this.waiting.values()].map((w) => w.req);
    this.waiting.clear();
    unanswered.sort((a, b) => a.seq - b.seq);
    if (!this.disconnecting || unanswered.length > 0) {
      this.settings.logger.debug(
        { ...this.settings.logContext, reason: reason.message, unanswered: unanswered.length },
        'NBD client connection ended',
      );
    }
    this.events.onClose(reason, unanswered);
  }
}
