/**
 * Typed errors with stable codes (STYLE.md point 8).
 *
 * Callers branch on `err.code` or on a predicate such as `isRetryable`, never on message
 * text. Every code lives in the table below with the NBD errno and HTTP status it maps
 * to at the edges; `docs/errors.md` is checked against this table by a unit test.
 */

/** NBD transmission error numbers (NetworkBlockDevice/nbd doc/proto.md, "Error values"). */
export type NbdErrno =
  | 'EPERM'
  | 'EIO'
  | 'ENOMEM'
  | 'EINVAL'
  | 'ENOSPC'
  | 'EOVERFLOW'
  | 'ENOTSUP'
  | 'ESHUTDOWN';

interface CodeInfo {
  /** HTTP status the control API answers with. */
  http: number;
  /** NBD error a host sees when this reaches the data path. */
  nbd: NbdErrno;
  /** Can the same request succeed later without anyone changing anything? */
  retryable: boolean;
  /** One line for docs/errors.md: what it means and what to do. */
  doc: string;
}

export const ERROR_CODES = {
  INVALID_ARGUMENT: {
    http: 400,
    nbd: 'EINVAL',
    retryable: false,
    doc: 'A request field is missing or malformed; the message names the field.',
  },
  OUT_OF_RANGE: {
    http: 400,
    nbd: 'EINVAL',
    retryable: false,
    doc: 'An offset or length runs past the end of the device.',
  },
  READ_ONLY: {
    http: 409,
    nbd: 'EPERM',
    retryable: false,
    doc: 'A write, trim or zero was sent to a read-only device (a snapshot, a backup image).',
  },
  UNAUTHORIZED: {
    http: 401,
    nbd: 'EPERM',
    retryable: false,
    doc: 'No bearer token, or the wrong one. Pass the API token (`--token` or REBOUND_TOKEN).',
  },
  NOT_FOUND: { http: 404, nbd: 'EINVAL', retryable: false, doc: 'The named object does not exist.' },
  ALREADY_EXISTS: {
    http: 409,
    nbd: 'EINVAL',
    retryable: false,
    doc: 'An object with that name already exists; pick another name or delete the old one.',
  },
  BUSY: {
    http: 409,
    nbd: 'EIO',
    retryable: true,
    doc: 'The object is in use (a volume with snapshots or open exports being deleted, say); retry later.',
  },
  POOL_NO_SPACE: {
    http: 507,
    nbd: 'ENOSPC',
    retryable: false,
    doc: 'The pool has no free block left. Free space (trim, delete volumes or snapshots) or add a drive.',
  },
  POOL_CORRUPT: {
    http: 500,
    nbd: 'EIO',
    retryable: false,
    doc: 'Pool metadata failed its checksum or magic check beyond the torn tail a crash can leave.',
  },
  POOL_IN_USE: {
    http: 409,
    nbd: 'EIO',
    retryable: false,
    doc: 'Another process has the pool open (a node already runs on this data directory); stop it first.',
  },
  POOL_NOT_INITIALISED: {
    http: 500,
    nbd: 'EIO',
    retryable: false,
    doc: 'The data directory holds no pool; run `rebound node init` first.',
  },
  VOLUME_FENCED: {
    http: 409,
    nbd: 'ESHUTDOWN',
    retryable: true,
    doc: 'Host I/O to this volume is stopped (fenced); `rebound volume unfence` starts it again.',
  },
  VOLUME_RESERVED: {
    http: 409,
    nbd: 'EPERM',
    retryable: false,
    doc: "The volume is a failback's target: only that pair's TLS connection may open it until the failback releases it. A failed failback keeps it held (no host writes into a half-copied volume): fail back again, or DELETE its pair-key.",
  },
  IO_ERROR: { http: 500, nbd: 'EIO', retryable: true, doc: 'A drive read or write failed.' },
  SHUTTING_DOWN: {
    http: 503,
    nbd: 'ESHUTDOWN',
    retryable: true,
    doc: 'The node is stopping; reconnect to it (or its successor) later.',
  },
  NOT_SUPPORTED: {
    http: 501,
    nbd: 'ENOTSUP',
    retryable: false,
    doc: 'The device cannot do this (a fast zero it cannot do faster than a write, say).',
  },
  NBD_PROTOCOL: {
    http: 400,
    nbd: 'EINVAL',
    retryable: false,
    doc: 'An NBD peer broke the framing (bad magic, absurd length); that connection was closed, the rest go on.',
  },
  NBD_TLS_REQUIRED: {
    http: 502,
    nbd: 'EIO',
    retryable: false,
    doc: 'The NBD server accepts only TLS connections; give the client PSK or x509 credentials.',
  },
  NBD_TLS_FAILED: {
    http: 502,
    nbd: 'EIO',
    retryable: false,
    doc: 'TLS with the NBD server failed (wrong key, untrusted certificate, or no STARTTLS on a server the client must use TLS with); the message says which.',
  },
  NBD_OPTION_REFUSED: {
    http: 502,
    nbd: 'EIO',
    retryable: false,
    doc: "The NBD server refused a handshake option (policy, invalid, unsupported); the message carries the server's reason.",
  },
  NBD_DISCONNECTED: {
    http: 502,
    nbd: 'EIO',
    retryable: true,
    doc: 'The NBD server could not be reached, or the connection dropped and reconnecting gave up; check the address and that the server runs.',
  },
  NODE_UNREACHABLE: {
    http: 502,
    nbd: 'EIO',
    retryable: true,
    doc: 'A node did not answer at its API address; check the URL and that `rebound node run` is up there.',
  },
  OBJECT_NOT_FOUND: {
    http: 404,
    nbd: 'EIO',
    retryable: false,
    doc: 'An object the backup needs is missing from the store; the message names the key.',
  },
  STORE_AUTH: {
    http: 502,
    nbd: 'EIO',
    retryable: false,
    doc: 'The object store refused the credentials: check the access key and secret of the store.',
  },
  STORE_UNREACHABLE: {
    http: 502,
    nbd: 'EIO',
    retryable: true,
    doc: 'The object store endpoint did not answer; check the endpoint URL and the network.',
  },
  STORE_NO_BUCKET: {
    http: 502,
    nbd: 'EIO',
    retryable: false,
    doc: 'The bucket does not exist (and could not be created); check the bucket name.',
  },
  STORE_FULL: {
    http: 507,
    nbd: 'ENOSPC',
    retryable: false,
    doc: 'The object store has no room for the backup (its disk is full, or a bucket or user quota is reached): free space or raise the quota, or expire generations with retention. The generation being written is not recorded; earlier ones are intact.',
  },
  BACKUP_OBJECT_CORRUPT: {
    http: 502,
    nbd: 'EIO',
    retryable: false,
    doc: 'A backup object failed its checksum, magic or length check; the message names the key. Nothing from it was written.',
  },
  FORBIDDEN: {
    http: 403,
    nbd: 'EPERM',
    retryable: false,
    doc: 'The token is valid but its role may not do this (viewer < operator < admin); ask an admin. It is audited.',
  },
  NODE_AUTH: {
    http: 502,
    nbd: 'EIO',
    retryable: false,
    doc: 'A node refused the token the manager holds for it; register the node again with the token in its node.json.',
  },
  MANAGER_UNREACHABLE: {
    http: 502,
    nbd: 'EIO',
    retryable: true,
    doc: 'The manager did not answer; check --manager (or REBOUND_MANAGER) and that `rebound manager run` is up.',
  },
  DB_SCHEMA_NEWER: {
    http: 500,
    nbd: 'EIO',
    retryable: false,
    doc: 'The manager database has a schema version newer than this Rebound knows; run that version or newer.',
  },
  CANCELLED: {
    http: 409,
    nbd: 'EIO',
    retryable: false,
    doc: 'A user cancelled the job or task; what it had written stays consistent (a backup without its catalog is invisible).',
  },
  CONFLICT: {
    http: 409,
    nbd: 'EINVAL',
    retryable: false,
    doc: 'The object is not in a state that allows this (resuming a job that is not paused, say); the message says its state.',
  },
  SITE_PROVIDER_FAILED: {
    http: 502,
    nbd: 'EIO',
    retryable: false,
    doc: "Building, checking or tearing down a secondary site failed; the message has its script's or node's output tail.",
  },
  HOST_HOOK_FAILED: {
    http: 502,
    nbd: 'EIO',
    retryable: false,
    doc: "The operator's start-hosts or stop-hosts command failed or timed out; the message has its output tail.",
  },
  JOURNAL_FULL: {
    http: 507,
    nbd: 'EIO',
    retryable: true,
    doc: 'The write journal of a pair reached its size limit; it frees up as the peer acknowledges entries (the pair falls back to its bitmap).',
  },
  JOURNAL_CORRUPT: {
    http: 500,
    nbd: 'EIO',
    retryable: false,
    doc: 'A journal segment failed its checksum, magic or sequence check beyond the torn tail a crash can leave; the message names the file and offset.',
  },
  VOLUMES_DIFFER: {
    http: 409,
    nbd: 'EIO',
    retryable: false,
    doc: 'Failback verify found the two volumes not identical; the detail names the first differing blocks, and the secondary stays up.',
  },
  INTERNAL: { http: 500, nbd: 'EIO', retryable: false, doc: 'A bug: the log has the stack trace.' },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The other direction of the `nbd` column: what an NBD client makes of an error value a
 * server sent. Each code here maps back to the same errno in ERROR_CODES (a unit test
 * checks it), except ENOMEM and EOVERFLOW, which no Rebound code produces. Callers that
 * know better refine it (EINVAL for a request past the end is OUT_OF_RANGE).
 */
export const NBD_ERRNO_CODES: Readonly<Record<NbdErrno, ErrorCode>> = {
  EPERM: 'READ_ONLY',
  EIO: 'IO_ERROR',
  ENOMEM: 'IO_ERROR',
  EINVAL: 'INVALID_ARGUMENT',
  ENOSPC: 'POOL_NO_SPACE',
  EOVERFLOW: 'INVALID_ARGUMENT',
  ENOTSUP: 'NOT_SUPPORTED',
  ESHUTDOWN: 'VOLUME_FENCED',
};

export class ReboundError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable detail (the field name of a bad request, a key, an offset). */
  readonly detail: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; detail?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ReboundError';
    this.code = code;
    this.detail = options?.detail;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }

  get nbdErrno(): NbdErrno {
    return ERROR_CODES[this.code].nbd;
  }
}

export function isReboundError(err: unknown, code?: ErrorCode): err is ReboundError {
  return err instanceof ReboundError && (code === undefined || err.code === code);
}

export function isRetryable(err: unknown): boolean {
  return err instanceof ReboundError && ERROR_CODES[err.code].retryable;
}

/** Wrap anything thrown by a lower layer (fs, sockets) into a ReboundError, keeping the cause. */
export function toReboundError(err: unknown): ReboundError {
  if (err instanceof ReboundError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e && (e.code === 'ENOSPC' || e.code === 'EDQUOT' || e.code === 'EFBIG')) {
    return new ReboundError('POOL_NO_SPACE', `drive full: ${e.message}`, { cause: err });
  }
  if (e && typeof e.code === 'string' && e.code.startsWith('E')) {
    return new ReboundError('IO_ERROR', e.message, { cause: err });
  }
  return new ReboundError('INTERNAL', e instanceof Error ? e.message : String(err), { cause: err });
}
