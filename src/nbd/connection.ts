/**
 * One client connection: the socket plumbing around the Negotiator (handshake) and the
 * TransmissionSession (commands). The codecs and those two classes never see a socket.
 *
 *   greeting -> flags -> options ... [STARTTLS -> TLS handshake -> options ...] -> GO
 *            -> requests (concurrent, replies in completion order) -> DISC or EOF
 *
 * Safety rules:
 * - A framing error (bad magic, absurd length, unknown client flag) drops this
 *   connection only, with the reason logged. Nothing here throws into the event loop.
 * - Replies to a closed socket are dropped silently.
 * - Backpressure: reading stops while too many requests are in flight or too many reply
 *   bytes are queued, and resumes as they drain. Memory per connection stays bounded.
 * - The export is released once, after the socket closed and every request finished.
 */
import type net from 'node:net';
import tls from 'node:tls';
import { toReboundError } from '../errors.js';
import {
  MAX_PAYLOAD_BYTES,
  NBD_CMD_DISC,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  OPTION_NAMES,
} from './constants.js';
import type { ExportProvider, NbdExport } from './export.js';
import { FrameReader } from './frame-reader.js';
import { decodeClientFlags, decodeOption, encodeGreeting } from './handshake-codec.js';
import type { NbdLogger } from './logger.js';
import { KNOWN_CLIENT_FLAGS, Negotiator, release, type TlsMode } from './negotiator.js';
import { NbdProtocolError } from './protocol-error.js';
import type { ReplyBuffers } from './reply-buffers.js';
import { TransmissionSession } from './transmission.js';
import { decodeRequest } from './transmission-codec.js';

export interface ConnectionOptions {
  id: number;
  provider: ExportProvider;
  tlsMode: TlsMode;
  tlsOptions: tls.TlsOptions | undefined;
  /** The key of a PSK identity, or null; read at each TLS handshake (keys come and go). */
  pskLookup?: (identity: string) => Buffer | null;
  logger: NbdLogger;
  /** The whole handshake must finish within this time. */
  handshakeTimeoutMs: number;
  /** Stop reading requests at this many in flight. */
  maxInFlight: number;
  /** Stop reading requests while this many reply bytes wait to be sent. */
  maxQueuedReplyBytes: number;
  /** Where READ replies take their data buffers (the server's, shared by its connections). */
  replyBuffers?: ReplyBuffers;
  onClose(conn: NbdConnection): void;
  /** Told when the connection enters transmission (its export and TLS identity known). */
  onTransmission?(info: NbdSessionInfo): void;
}

/** One connection as the server reports it. */
export interface NbdSessionInfo {
  id: number;
  /** address:port of the client */
  peer: string;
  /** The export in transmission; null during the handshake. */
  export: string | null;
  tls: boolean;
  pskIdentity: string | null;
}

/** Option data limit: the largest legitimate option is a meta context query list. */
const MAX_OPTION_BYTES = 64 * 1024;
/** Options per connection: a client looping on options is misbehaving. */
const MAX_OPTIONS = 1024;
/** After DISC or ABORT, how long the peer gets to close its end. */
const LINGER_MS = 5000;

type Phase = 'flags' | 'options' | 'tls' | 'transmission' | 'closing' | 'closed';

export class NbdConnection {
  private stream: net.Socket | tls.TLSSocket;
  private readonly reader = new FrameReader();
  private phase: Phase = 'flags';
  private readonly negotiator: Negotiator;
  private session: TransmissionSession | undefined;
  private export: NbdExport | undefined;
  private inFlight = 0;
  private readingPaused = false;
  private options = 0;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private released = false;
  private corked = false;
  private readonly log: Record<string, unknown>;
  /** The PSK identity this connection's TLS handshake authenticated. */
  private pskIdentity: string | null = null;

  constructor(
    private readonly raw: net.Socket,
    private readonly opts: ConnectionOptions,
  ) {
    this.stream = raw;
    this.negotiator = new Negotiator(opts.provider, opts.tlsMode);
    this.log = { conn: opts.id, peer: `${raw.remoteAddress}:${raw.remotePort}` };
  }

  get closed(): boolean {
    return this.phase === 'closed';
  }

  /** What this connection is: for logs and for dropping a reserved export's other users. */
  get info(): NbdSessionInfo {
    return {
      id: this.opts.id,
      peer: this.log.peer as string,
      export: this.export?.name ?? null,
      tls: this.stream !== this.raw,
      pskIdentity: this.pskIdentity,
    };
  }

  start(): void {
    const raw = this.raw;
    raw.setNoDelay(true);
    raw.on('error', (err) => this.opts.logger.debug({ ...this.log, err: err.message }, 'socket error'));
    raw.on('close', () => this.onClosed());
    this.attach(raw);
    this.handshakeTimer = setTimeout(() => this.abort('handshake timed out'), this.opts.handshakeTimeoutMs);
    this.handshakeTimer.unref();
    this.opts.logger.debug(this.log, 'connection opened');
    this.write([encodeGreeting(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES)]);
  }

  /** Hard close (server shutdown, protocol error). */
  abort(reason: string): void {
    if (this.phase === 'closed') return;
    this.opts.logger.warn({ ...this.log, reason }, 'closing NBD connection');
    this.phase = 'closing';
    this.stream.destroy();
    this.raw.destroy();
  }

  private attach(stream: net.Socket | tls.TLSSocket): void {
    this.stream = stream;
    stream.on('data', this.onData);
    stream.on('drain', () => this.maybeResume());
  }

  private readonly onData = (chunk: Buffer): void => {
    this.reader.push(chunk);
    this.pump();
  };

  /** Parse and act on whatever complete frames are queued. */
  private pump(): void {
    try {
      for (;;) {
        if (this.phase === 'flags') {
          const flags = decodeClientFlags(this.reader);
          if (flags === undefined) return;
          if (flags & ~KNOWN_CLIENT_FLAGS)
            throw new NbdProtocolError(`unknown client flags 0x${flags.toString(16)}`);
          this.negotiator.setClientFlags(flags);
          this.phase = 'options';
        } else if (this.phase === 'options') {
          const opt = decodeOption(this.reader, MAX_OPTION_BYTES);
          if (opt === undefined) return;
          if (++this.options > MAX_OPTIONS) throw new NbdProtocolError(`more than ${MAX_OPTIONS} options`);
          this.handleOption(opt.option, opt.data);
        } else if (this.phase === 'transmission') {
          if (this.readingPaused) return;
          const req = decodeRequest(this.reader, MAX_PAYLOAD_BYTES);
          if (req === undefined) return;
          if (req.type === NBD_CMD_DISC) {
            this.opts.logger.debug(this.log, 'client sent DISC');
            this.phase = 'closing';
            this.stream.pause();
            this.maybeFinish();
            return;
          }
          this.dispatch(req);
        } else {
          return;
        }
      }
    } catch (err) {
      if (err instanceof NbdProtocolError) this.abort(err.message);
      else {
        this.opts.logger.error({ ...this.log, err: toReboundError(err) }, 'NBD connection failed');
        this.abort(`internal error: ${toReboundError(err).message}`);
      }
    }
  }

  private handleOption(option: number, data: Buffer): void {
    const { replies, outcome } = this.negotiator.handle({ option, data });
    this.opts.logger.debug(
      { ...this.log, option: OPTION_NAMES[option] ?? option, next: outcome.next },
      'option',
    );
    switch (outcome.next) {
      case 'continue':
        this.write(replies);
        return;
      case 'abort':
        this.write(replies);
        this.phase = 'closing';
        this.finish();
        return;
      case 'disconnect':
        this.abort(outcome.reason);
        return;
      case 'starttls':
        this.write(replies);
        this.startTls();
        return;
      case 'transmission': {
        this.write(replies);
        const { negotiated } = outcome;
        this.export = negotiated.export;
        this.session = new TransmissionSession(
          negotiated.export,
          negotiated.structuredReplies,
          negotiated.contexts,
          (buffers, written) => this.write(buffers, written),
          this.opts.logger,
          this.log,
          this.opts.replyBuffers,
        );
        clearTimeout(this.handshakeTimer);
        this.phase = 'transmission';
        this.opts.logger.info(
          {
            ...this.log,
            export: negotiated.export.name,
            structured: negotiated.structuredReplies,
            contexts: negotiated.contexts.map((c) => c.name),
            tls: this.stream !== this.raw,
            ...(this.pskIdentity !== null && { pskIdentity: this.pskIdentity }),
          },
          'NBD transmission started',
        );
        this.opts.onTransmission?.(this.info);
        return;
      }
    }
  }

  private startTls(): void {
    if (this.reader.length > 0) {
      throw new NbdProtocolError('client sent data before the STARTTLS reply');
    }
    this.phase = 'tls';
    const raw = this.raw;
    raw.removeListener('data', this.onData);
    raw.pause();
    const lookup = this.opts.pskLookup;
    const server = tls.createServer({
      ...this.opts.tlsOptions,
      // Per connection, so the identity the handshake authenticated is known to this connection.
      ...(lookup && {
        pskCallback: (_socket: tls.TLSSocket, identity: string) => {
          const key = lookup(identity);
          if (key) this.pskIdentity = identity;
          return key;
        },
      }),
    });
    server.once('secureConnection', (secure: tls.TLSSocket) => {
      if (this.phase !== 'tls') {
        secure.destroy();
        return;
      }
      secure.on('error', (err) =>
        this.opts.logger.debug({ ...this.log, err: err.message }, 'TLS socket error'),
      );
      secure.on('close', () => this.onClosed());
      this.negotiator.tlsStarted(this.pskIdentity);
      this.opts.logger.debug(
        { ...this.log, protocol: secure.getProtocol(), cipher: secure.getCipher().name },
        'TLS up',
      );
      this.attach(secure);
      this.phase = 'options';
      this.pump();
    });
    server.once('tlsClientError', (err) => this.abort(`TLS handshake failed: ${err.message}`));
    server.emit('connection', raw);
  }

  private dispatch(req: Parameters<TransmissionSession['handle']>[0]): void {
    this.inFlight++;
    this.session!.handle(req).finally(() => {
      this.inFlight--;
      if (this.phase === 'closing') this.maybeFinish();
      else if (this.phase === 'closed') this.maybeRelease();
      else this.maybeResume();
    });
    if (
      this.inFlight >= this.opts.maxInFlight ||
      this.stream.writableLength > this.opts.maxQueuedReplyBytes
    ) {
      this.readingPaused = true;
      this.stream.pause();
    }
  }

  private maybeResume(): void {
    if (!this.readingPaused || this.phase !== 'transmission') return;
    if (this.inFlight >= this.opts.maxInFlight / 2) return;
    if (this.stream.writableLength > this.opts.maxQueuedReplyBytes / 2) return;
    this.readingPaused = false;
    this.stream.resume();
    this.pump();
  }

  /** After DISC: reply to everything still running, then close our end. */
  private maybeFinish(): void {
    if (this.inFlight === 0) this.finish();
  }

  private finish(): void {
    this.stream.end();
    setTimeout(() => this.raw.destroy(), LINGER_MS).unref();
  }

  /**
   * Write one reply's buffers back to back. Replies finishing in the same turn of the
   * event loop (at queue depth 32 the drive completions arrive in batches) leave in one
   * writev: the socket is corked at the first and uncorked once the turn's I/O callbacks
   * are done. Dropped once the socket is gone.
   */
  private write(buffers: Buffer[], written?: () => void): void {
    const s = this.stream;
    if (this.phase === 'closed' || s.destroyed || !s.writable) {
      written?.();
      return;
    }
    if (!this.corked) {
      this.corked = true;
      s.cork();
      setImmediate(this.uncork);
    }
    const last = buffers.length - 1;
    for (let i = 0; i < last; i++) s.write(buffers[i]);
    // Called once the socket is done with the bytes, written or failed.
    if (written) s.write(buffers[last], () => written());
    else s.write(buffers[last]);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    if (!this.stream.destroyed) this.stream.uncork();
  };

  private onClosed(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    clearTimeout(this.handshakeTimer);
    this.stream.destroy();
    this.raw.destroy();
    this.opts.logger.debug(this.log, 'connection closed');
    this.maybeRelease();
    this.opts.onClose(this);
  }

  private maybeRelease(): void {
    if (this.released || this.inFlight > 0 || this.export === undefined) return;
    this.released = true;
    release(this.export);
  }
}
