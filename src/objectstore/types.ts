/**
 * The ObjectStore contract (STYLE.md point 5): what the backup engine may assume of any
 * store, directory or S3. Every implementation runs test/helpers/objectstore-conformance.ts.
 *
 * - Keys are strings of [A-Za-z0-9._/-], at most 1024 bytes, made of '/'-separated
 *   segments that are non-empty, not '.' or '..', and at most 255 bytes (so a directory
 *   and S3 agree on every key). Implementations MUST reject others with INVALID_ARGUMENT.
 * - Write-once: `put` of a key that already exists MUST fail with ALREADY_EXISTS and leave
 *   the stored object as it was (backups never overwrite; a retried put of the same bytes
 *   is the caller's business: it checks with `head`). A put is atomic: a reader sees the
 *   whole object or NOT_FOUND, never a prefix. A store MUST NOT keep a reference to
 *   `body` once put settles: the caller may reuse the buffer (the backup writer does).
 * - `get(key, range)` reads `[range.offset, range.offset + range.length)`; a range running
 *   past the end MUST return only the bytes that exist (possibly none); a missing key MUST
 *   fail with OBJECT_NOT_FOUND naming the key.
 * - `list(prefix)` yields every key with that prefix, in lexicographic order, each once.
 * - `delete` of a missing key succeeds (idempotent).
 * - Errors: OBJECT_NOT_FOUND (permanent for that key), STORE_AUTH (wrong credentials:
 *   permanent), STORE_UNREACHABLE (endpoint down: retryable), STORE_NO_BUCKET
 *   (permanent), STORE_FULL (no space or quota left: permanent), IO_ERROR (retryable). Implementations retry retryable errors with backoff
 *   themselves before giving up.
 */

export interface ObjectInfo {
  key: string;
  sizeBytes: number;
}

export interface ObjectStore {
  /** A description for logs and errors: "dir:/var/backups" or "s3://bucket@endpoint". */
  readonly description: string;
  put(key: string, body: Buffer): Promise<void>;
  get(key: string, range?: { offset: number; length: number }): Promise<Buffer>;
  /**
   * Optional: `get(key, range)` into `into` (at least `range.length` bytes) instead of a
   * new buffer; resolves to the number of bytes read, fewer only past the end of the
   * object. Same errors as get. For stores that read files (a restore reads each byte
   * once, so a fresh buffer per get is memory to fault in and collect); callers fall
   * back to get where it is missing.
   */
  getInto?(key: string, range: { offset: number; length: number }, into: Uint8Array): Promise<number>;
  /** Size of the object, or undefined when it does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
  delete(key: string): Promise<void>;
  /** Release connections. */
  close(): Promise<void>;
}
