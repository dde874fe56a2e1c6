/**
 * What a caller may ask of an NBD client connection, and the defaults, resolved once so
 * the rest of the client reads plain numbers. Every limit has a bound (STYLE.md point 13):
 * requests in flight, bytes in flight, unflushed bytes kept for replay, reconnect attempts
 * and time, the handshake and each request.
 */
import { ReboundError } from '../../errors.js';
import { BASE_ALLOCATION, NBD_DEFAULT_PORT } from '../constants.js';
import { type NbdLogger, silentLogger } from '../logger.js';

export interface NbdPskCredentials {
  /** The PSK identity (psktool's `-u`, qemu's `username`). */
  identity: string;
  /** The key as hex text (what a keys.psk line holds after the colon) or as raw bytes. */
  key?: string | Buffer;
  /** Or a keys.psk file (`identity:hexkey` lines): the line for `identity` is used. */
  pskFile?: string;
}

export interface NbdX509Credentials {
  /** PEM text of the CA that signed the server's certificate. */
  ca: string;
  /** PEM client certificate and key, for servers that verify clients. */
  cert?: string;
  key?: string;
  /** The name the server's certificate must carry (default: `host`; IPs match IP SANs). */
  serverName?: string;
}

export type NbdClientTlsOptions = { psk: NbdPskCredentials } | { x509: NbdX509Credentials };

export interface NbdReconnectPolicy {
  /** Connection attempts per outage before giving up (default 8). */
  maxAttempts: number;
  /** Wait before the first attempt; doubled each attempt (default 100 ms). */
  initialDelayMs: number;
  /** Cap of the wait between attempts (default 2 s). */
  maxDelayMs: number;
  /** Give up once an outage has lasted this long (default 30 s). */
  maxElapsedMs: number;
}

export interface NbdClientOptions {
  /** TCP host (default 127.0.0.1 unless `path` is given). */
  host?: string;
  /** TCP port (default 10809). */
  port?: number;
  /** A unix socket path instead of TCP. */
  path?: string;
  /** The export to open ('' = the server's default export). */
  exportName: string;
  /** STARTTLS with a PSK or x509 credentials; absent = plaintext. */
  tls?: NbdClientTlsOptions;
  /**
   * Refuse to go on in plaintext when the server does not offer STARTTLS. Default: true
   * whenever `tls` is given (between sites NBD runs over TLS, DESIGN.md "Promises").
   */
  tlsRequired?: boolean;
  /** Metadata contexts to select (default `base:allocation`; add `qemu:dirty-bitmap:NAME`). */
  metaContexts?: string[];
  /** Requests on the wire at once (default 16). */
  maxInFlight?: number;
  /** Request payload bytes (written or read) on the wire at once (default 64 MiB). */
  maxInFlightBytes?: number;
  /**
   * A request without a reply for this long counts as a dropped connection (default 60 s;
   * 0 = never). Checked a few times per timeout: it fires up to a quarter of it late.
   */
  requestTimeoutMs?: number;
  /** Connect plus handshake must finish within this (default 30 s). */
  connectTimeoutMs?: number;
  /** Reconnect after a dropped connection (default on); false: requests fail at the drop. */
  reconnect?: Partial<NbdReconnectPolicy> | false;
  /**
   * Written-but-unflushed data kept to re-send after a reconnect (default 128 MiB). Past
   * it, the client flushes by itself before admitting more writes.
   */
  maxUnflushedBytes?: number;
  logger?: NbdLogger;
}

/** Options with every default filled in. */
export interface ResolvedClientOptions {
  endpoint: { host: string; port: number } | { path: string };
  exportName: string;
  tls: NbdClientTlsOptions | undefined;
  tlsRequired: boolean;
  metaContexts: string[];
  maxInFlight: number;
  maxInFlightBytes: number;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  reconnect: NbdReconnectPolicy | false;
  maxUnflushedBytes: number;
  logger: NbdLogger;
}

export const DEFAULT_RECONNECT: Readonly<NbdReconnectPolicy> = {
  maxAttempts: 8,
  initialDelayMs: 100,
  maxDelayMs: 2000,
  maxElapsedMs: 30_000,
};

export function resolveClientOptions(o: NbdClientOptions): ResolvedClientOptions {
  if (o.path !== undefined && (o.host !== undefined || o.port !== undefined)) {
    throw new ReboundError('INVALID_ARGUMENT', 'give either a unix socket path or host/port, not both', {
      detail: { field: 'path' },
    });
  }
  if (o.tlsRequired && o.tls === undefined) {
    throw new ReboundError('INVALID_ARGUMENT', 'tlsRequired needs tls credentials (psk or x509)', {
      detail: { field: 'tls' },
    });
  }
  const positive = (name: string, value: number | undefined, fallback: number, zeroOk = false): number => {
    const v = value ?? fallback;
    if (!Number.isSafeInteger(v) || v < 0 || (v === 0 && !zeroOk)) {
      throw new ReboundError('INVALID_ARGUMENT', `${name} must be a positive integer, not ${v}`, {
        detail: { field: name },
      });
    }
    return v;
  };
  const reconnect =
    o.reconnect === false
      ? false
      : {
          maxAttempts: positive(
            'reconnect.maxAttempts',
            o.reconnect?.maxAttempts,
            DEFAULT_RECONNECT.maxAttempts,
          ),
          initialDelayMs: positive(
            'reconnect.initialDelayMs',
            o.reconnect?.initialDelayMs,
            DEFAULT_RECONNECT.initialDelayMs,
            true,
          ),
          maxDelayMs: positive(
            'reconnect.maxDelayMs',
            o.reconnect?.maxDelayMs,
            DEFAULT_RECONNECT.maxDelayMs,
            true,
          ),
          maxElapsedMs: positive(
            'reconnect.maxElapsedMs',
            o.reconnect?.maxElapsedMs,
            DEFAULT_RECONNECT.maxElapsedMs,
          ),
        };
  return {
    endpoint:
      o.path !== undefined
        ? { path: o.path }
        : { host: o.host ?? '127.0.0.1', port: positive('port', o.port, NBD_DEFAULT_PORT) },
    exportName: o.exportName,
    tls: o.tls,
    tlsRequired: o.tlsRequired ?? o.tls !== undefined,
    metaContexts: o.metaContexts ?? [BASE_ALLOCATION],
    maxInFlight: positive('maxInFlight', o.maxInFlight, 16),
    maxInFlightBytes: positive('maxInFlightBytes', o.maxInFlightBytes, 64 * 1024 * 1024),
    requestTimeoutMs: positive('requestTimeoutMs', o.requestTimeoutMs, 60_000, true),
    connectTimeoutMs: positive('connectTimeoutMs', o.connectTimeoutMs, 30_000),
    reconnect,
    maxUnflushedBytes: positive('maxUnflushedBytes', o.maxUnflushedBytes, 128 * 1024 * 1024),
    logger: o.logger ?? silentLogger,
  };
}

/** host:port or the socket path, for messages. */
export function describeEndpoint(endpoint: ResolvedClientOptions['endpoint']): string {
  return 'path' in endpoint ? endpoint.path : `${endpoint.host}:${endpoint.port}`;
}

/** The wait before reconnect attempt `attempt` (1-based): doubling from the initial delay, capped. */
export function reconnectDelayMs(policy: NbdReconnectPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt - 1, 30));
}
