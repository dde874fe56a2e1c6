/**
 * S3Store: an ObjectStore on any S3-compatible server through the AWS SDK v3.
 *
 * Choices, each from a trap seen on real servers (shared/reference/backup-peers.md 5c):
 * - Bodies are Buffers sent in one PutObject, and the client computes and checks
 *   checksums only when an operation requires them. A streamed body with the SDK's
 *   default checksums goes out as aws-chunked with a trailer, which radosgw rejects
 *   (MissingContentLength) and s3rver stores verbatim, trailer and all.
 * - Write-once uses a conditional put, `If-None-Match: *`: the server refuses (412) a
 *   put of a key that exists, atomically. radosgw 16.2 honours it (tested by the
 *   concurrent-put case of the conformance suite), as do AWS S3 and recent MinIO. For
 *   servers that ignore the header and overwrite (s3rver, older gateways) the store can
 *   be opened with `writeOnce: 'head-then-put'`: a HEAD first, then a plain put. That
 *   is racy (two writers can both see "absent") and is only for such servers.
 * - A 412 after the SDK retried a put may mean our own first attempt landed and only its
 *   answer was lost; the ETag of a single-part put is the MD5 of the body, so a
 *   matching ETag turns that 412 back into success.
 * - A range past the end is answered 416 by S3 servers; the contract wants the bytes
 *   that exist, which is none. A zero-length range cannot be written as an HTTP range,
 *   so it becomes a HEAD (the key must still exist).
 * - HEAD answers carry no error body, so a 404 does not say whether the key or the
 *   bucket is missing; the first such 404 checks the bucket once.
 *
 * Retries: the SDK's standard strategy (exponential backoff with jitter) retries
 * throttling, 5xx, timeouts and refused or reset connections, `maxAttempts` in all,
 * within a few seconds. A store that has answered before and then stops (a gateway
 * restarting, a load balancer failing over) is waited for longer: the request is sent
 * again with backoff for up to `outageGraceMs` (`patient`), so a backup of hours does
 * not fail on a blip. A store that never answered fails at once: a wrong endpoint is
 * reported when the store is registered, not minutes later. Its opener may say the store
 * answered an earlier job (`answeredBefore`): a job started during an outage then waits
 * too (a nightly backup that starts while the gateway restarts).
 * Concurrency: a semaphore of `maxConcurrency` requests, and as many sockets.
 * Secrets: the credentials live only inside the SDK client, held in a private field;
 * `description` and error messages carry the bucket and endpoint (stripped of any
 * user:password) and never a key.
 */
import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  type CreateBucketCommandInput,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { type ErrorCode, ReboundError } from '../errors.js';
import { Semaphore } from '../semaphore.js';
import { checkKey, checkPrefix, checkRange } from './keys.js';
import type { ObjectInfo, ObjectStore } from './types.js';

export interface S3StoreOptions {
  /** e.g. "http://127.0.0.1:7480"; omitted for AWS itself. */
  endpoint?: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Path-style URLs (endpoint/bucket/key). Default: true when an endpoint is given. */
  forcePathStyle?: boolean;
  /** Requests in flight at once. Default 16. */
  maxConcurrency?: number;
  /** Create the bucket on first need (the registration left the name to us). Default false. */
  createBucket?: boolean;
  /** Attempts per request, the first included (the SDK's retries). Default 5. */
  maxAttempts?: number;
  /**
   * How long a store that has answered before is waited for once it stops answering
   * (unreachable, 5xx, throttled), the request sent again with backoff. Default 120000.
   */
  outageGraceMs?: number;
  /**
   * Told, in a sentence for an operator, when the store stops answering and is waited for,
   * and when it answers again (once per outage, however many requests wait): a job says
   * why its progress stands still.
   */
  onOutage?: (message: string) => void;
  /**
   * The store answered before this object existed (an earlier job of its opener reached
   * it): it is waited for from the first request, as one that answered in this object.
   * Default false.
   */
  answeredBefore?: boolean;
  /** Told the first time a request gets an answer (any status): the endpoint is right. */
  onAnswered?: () => void;
  /** Give up a TCP connect after this long. Default 5000. */
  connectTimeoutMs?: number;
  /** Give up a request whose socket stays silent this long. Default 60000. */
  idleTimeoutMs?: number;
  /** How write-once is enforced; see the note at the top of s3-store.ts. */
  writeOnce?: 'if-none-match' | 'head-then-put';
}

/** SDK errors carry these; the SDK does not export one type with all of them. */
interface SdkError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

const AUTH_ERRORS = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'InvalidToken',
  'ExpiredToken',
  'InvalidSecurity',
  'AuthorizationHeaderMalformed',
  'RequestTimeTooSkewed',
]);
/** A store out of room: radosgw's quota error, MinIO's full disk (HTTP 507 as well). */
const STORE_FULL_ERRORS = new Set(['QuotaExceeded', 'XMinioStorageFull']);
const NETWORK_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);
/** Reads of a GET body cut off mid-stream, the first included. */
const BODY_ATTEMPTS = 3;
const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
/** Backoff between sends of a request while a store that answered before does not (ms). */
const OUTAGE_FIRST_DELAY_MS = 500;
const OUTAGE_MAX_DELAY_MS = 15_000;

/** The socket's errno (ECONNREFUSED, ...): on the SDK's error, or on its cause. */
function errnoOf(e: SdkError): string | undefined {
  return e.code ?? (e as { cause?: SdkError }).cause?.code;
}

/** Did no server answer (refused, reset, timed out), or did it answer "not now" (5xx, 429)? */
function isTransient(e: SdkError): boolean {
  const errno = errnoOf(e);
  if ((errno !== undefined && NETWORK_ERRNOS.has(errno)) || TIMEOUT_NAMES.has(e.name ?? '')) return true;
  const status = e.$metadata?.httpStatusCode;
  // 507: the store is full, which waiting does not mend (STORE_FULL at once).
  return status !== undefined && status !== 507 && (status >= 500 || status === 429);
}

/** "60 s", or "300 ms" below a second. */
function seconds(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}

/** Why a request did not get through, in a word: the errno, the HTTP status or the SDK's name. */
function reasonOf(e: SdkError): string {
  const errno = errnoOf(e);
  if (errno) return errno;
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined ? `HTTP ${status}${e.name ? ` ${e.name}` : ''}` : (e.name ?? 'no answer');
}

export class S3Store implements ObjectStore {
  readonly description: string;
  readonly bucket: string;
  readonly #client: S3Client;
  readonly #sem: Semaphore;
  readonly #createBucket: boolean;
  readonly #writeOnce: 'if-none-match' | 'head-then-put';
  readonly #region: string;
  readonly #outageGraceMs: number;
  readonly #idleTimeoutMs: number;
  readonly #onOutage: ((message: string) => void) | undefined;
  readonly #onAnswered: (() => void) | undefined;
  /** When requests started waiting for the store (patient), until one gets through. */
  #outageSince: number | null = null;
  #bucketChecked = false;
  /** The store answered an earlier job of the opener (options.answeredBefore). */
  readonly #answeredBefore: boolean;
  /** A request of this object got an answer from the server (any status): the endpoint is right. */
  #reached = false;
  #ensuring: Promise<void> | undefined;

  constructor(options: S3StoreOptions) {
    const need = (field: keyof S3StoreOptions): void => {
      const v = options?.[field];
      if (typeof v !== 'string' || v === '') {
        throw new ReboundError('INVALID_ARGUMENT', `S3 store: ${field} is required`, { detail: { field } });
      }
    };
    need('region');
    need('bucket');
    need('accessKeyId');
    need('secretAccessKey');
    let endpoint: URL | undefined;
    if (options.endpoint !== undefined && options.endpoint !== '') {
      try {
        endpoint = new URL(options.endpoint);
      } catch {
        throw new ReboundError('INVALID_ARGUMENT', 'S3 store: endpoint is not a URL', {
          detail: { field: 'endpoint' },
        });
      }
      if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') {
        throw new ReboundError('INVALID_ARGUMENT', 'S3 store: endpoint must be http:// or https://', {
          detail: { field: 'endpoint' },
        });
      }
    }
    const maxConcurrency = options.maxConcurrency ?? 16;
    if (!Number.isSafeInteger(maxConcurrency) || maxConcurrency < 1) {
      throw new ReboundError('INVALID_ARGUMENT', 'S3 store: maxConcurrency must be a positive integer', {
        detail: { field: 'maxConcurrency' },
      });
    }
    this.bucket = options.bucket;
    this.#region = options.region;
    this.#createBucket = options.createBucket ?? false;
    this.#outageGraceMs = options.outageGraceMs ?? 120_000;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.#onOutage = options.onOutage;
    this.#onAnswered = options.onAnswered;
    this.#answeredBefore = options.answeredBefore ?? false;
    this.#writeOnce = options.writeOnce ?? 'if-none-match';
    this.#sem = new Semaphore(maxConcurrency);
    this.description = `s3://${options.bucket}@${endpoint ? publicEndpoint(endpoint) : `aws:${options.region}`}`;
    const agent = { keepAlive: true, maxSockets: maxConcurrency };
    this.#client = new S3Client({
      region: options.region,
      endpoint: endpoint?.toString(),
      forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: options.maxAttempts ?? 5,
      retryMode: 'standard',
      requestHandler: {
        connectionTimeout: options.connectTimeoutMs ?? 5000,
        socketTimeout: this.#idleTimeoutMs,
        httpAgent: new HttpAgent(agent),
        httpsAgent: new HttpsAgent(agent),
      },
    });
  }

  /** Create the bucket unless it exists already (and is ours). */
  async ensureBucket(): Promise<void> {
    if (this.#ensuring === undefined) {
      this.#ensuring = this.#sem
        .run(() => this.createBucketNow())
        .finally(() => {
          this.#ensuring = undefined;
        });
    }
    await this.#ensuring;
  }

  async put(key: string, body: Buffer): Promise<void> {
    checkKey(key);
    if (!(body instanceof Uint8Array)) {
      throw new ReboundError('INVALID_ARGUMENT', `put ${key}: body must be a Buffer`, { detail: { key } });
    }
    const u8: Uint8Array = body;
    const buf = Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
    try {
      await this.#sem.run(() => this.putNow(key, buf));
    } catch (err) {
      if (!(this.#createBucket && err instanceof ReboundError && err.code === 'STORE_NO_BUCKET')) throw err;
      await this.ensureBucket();
      await this.#sem.run(() => this.putNow(key, buf));
    }
  }

  async get(key: string, range?: { offset: number; length: number }): Promise<Buffer> {
    checkKey(key);
    checkRange(key, range);
    if (range !== undefined && range.length === 0) {
      if ((await this.head(key)) === undefined) throw this.notFound(key);
      return Buffer.alloc(0);
    }
    const Range = range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined;
    return this.#sem.run(async () => {
      // The SDK retries the request; a body cut off while streaming is retried here.
      for (let attempt = 1; ; attempt++) {
        let bytes: Buffer;
        let contentRange: string | undefined;
        try {
          const out = await this.patient(() =>
            this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range })),
          );
          this.#bucketChecked = true;
          contentRange = out.ContentRange;
          try {
            bytes = Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array(0));
          } catch (err) {
            if (attempt < BODY_ATTEMPTS) continue;
            throw err;
          }
          if (out.ContentLength !== undefined && bytes.length !== out.ContentLength) {
            if (attempt < BODY_ATTEMPTS) continue;
            throw new ReboundError(
              'IO_ERROR',
              `${this.description}: get ${key}: body cut short (${bytes.length} of ${out.ContentLength} bytes)`,
              { detail: { key } },
            );
          }
        } catch (err) {
          const e = err as SdkError;
          if (range && (e.$metadata?.httpStatusCode === 416 || e.name === 'InvalidRange'))
            return Buffer.alloc(0);
          throw this.mapError(err, 'get', key);
        }
        // A server that ignores Range answers 200 with the whole object: cut it here.
        if (range && contentRange === undefined) {
          return bytes.subarray(Math.min(range.offset, bytes.length), range.offset + range.length);
        }
        return bytes;
      }
    });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    checkKey(key);
    const info = await this.#sem.run(async () => {
      try {
        const out = await this.patient(() =>
          this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })),
        );
        this.#bucketChecked = true;
        return { key, sizeBytes: out.ContentLength ?? 0 };
      } catch (err) {
        if ((err as SdkError).$metadata?.httpStatusCode === 404) return undefined;
        throw this.mapError(err, 'head', key);
      }
    });
    if (info === undefined && !this.#bucketChecked) await this.checkBucket();
    return info;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    checkPrefix(prefix);
    let token: string | undefined;
    do {
      const page = await this.#sem.run(async () => {
        try {
          return await this.patient(() =>
            this.#client.send(
              new ListObjectsV2Command({
                Bucket: this.bucket,
                Prefix: prefix === '' ? undefined : prefix,
                ContinuationToken: token,
              }),
            ),
          );
        } catch (err) {
          throw this.mapError(err, 'list', prefix);
        }
      });
      this.#bucketChecked = true;
      for (const o of page.Contents ?? []) {
        if (o.Key !== undefined) yield { key: o.Key, sizeBytes: o.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && token === undefined) {
        throw new ReboundError(
          'IO_ERROR',
          `${this.description}: list ${prefix}: truncated page without a token`,
        );
      }
    } while (token !== undefined);
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.#sem.run(async () => {
      try {
        // DeleteObject of a missing key succeeds on S3 (204).
        await this.patient(() =>
          this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })),
        );
      } catch (err) {
        if ((err as SdkError).name === 'NoSuchKey') return;
        throw this.mapError(err, 'delete', key);
      }
    });
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  private async putNow(key: string, body: Buffer): Promise<void> {
    if (this.#writeOnce === 'head-then-put') {
      try {
        await this.patient(() => this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })));
        throw this.alreadyExists(key);
      } catch (err) {
        if (err instanceof ReboundError) throw err;
        if ((err as SdkError).$metadata?.httpStatusCode !== 404) throw this.mapError(err, 'put', key);
      }
    }
    const md5 = createHash('md5').update(body).digest();
    const sends = { count: 0 };
    try {
      await this.patient(
        () =>
          this.#client.send(
            new PutObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Body: body,
              ContentLength: body.length,
              // Content-MD5 lets the server refuse a body damaged on the way (BadDigest).
              ContentMD5: md5.toString('base64'),
              IfNoneMatch: this.#writeOnce === 'if-none-match' ? '*' : undefined,
            }),
          ),
        sends,
      );
      this.#bucketChecked = true;
    } catch (err) {
      const e = err as SdkError;
      const status = e.$metadata?.httpStatusCode;
      if (status === 412 || e.name === 'PreconditionFailed') {
        // Sent more than once (by the SDK or again here): the first may have landed.
        if (((e.$metadata?.attempts ?? 1) > 1 || sends.count > 1) && (await this.isOurs(key, md5))) return;
        throw this.alreadyExists(key);
      }
      // AWS answers 409 ConditionalRequestConflict when two conditional puts of one key
      // overlap; whichever lost sees the winner's object now.
      if (status === 409 && e.name === 'ConditionalRequestConflict') throw this.alreadyExists(key);
      throw this.mapError(err, 'put', key);
    }
  }

  /**
   * One request (the SDK retries it a few times within seconds). When it fails because
   * the store does not answer, or answers "not now", and the store has answered before,
   * it is sent again with backoff until `outageGraceMs` has passed since the first
   * failure; the last error is then thrown. `sends.count` tells the caller how many
   * times it went out.
   */
  private async patient<T>(request: () => Promise<T>, sends = { count: 0 }): Promise<T> {
    let since: number | undefined;
    for (let delay = OUTAGE_FIRST_DELAY_MS; ; delay = Math.min(delay * 2, OUTAGE_MAX_DELAY_MS)) {
      sends.count++;
      try {
        const out = await request();
        this.gotAnswer();
        return out;
      } catch (err) {
        const e = err as SdkError;
        const transient = isTransient(e);
        if (!transient && e.$metadata?.httpStatusCode !== undefined) this.gotAnswer();
        since ??= Date.now();
        const waited = Date.now() - since;
        const worthWaiting = this.#reached || this.#answeredBefore;
        if (!transient || !worthWaiting || waited + delay > this.#outageGraceMs) {
          if (waited > 0) (err as { waitedMs?: number }).waitedMs = waited;
          throw err;
        }
        if (this.#outageSince === null) {
          this.#outageSince = Date.now();
          this.#onOutage?.(
            `${this.description} stopped answering (${reasonOf(e)}); waiting up to ` +
              `${Math.round(this.#outageGraceMs / 1000)} s for it, sending requests again with backoff`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random() / 2)));
      }
    }
  }

  /** A request got an answer: the endpoint is right, and an outage being waited for is over. */
  private gotAnswer(): void {
    if (!this.#reached) {
      this.#reached = true;
      this.#onAnswered?.();
    }
    if (this.#outageSince === null) return;
    const s = Math.round((Date.now() - this.#outageSince) / 1000);
    this.#outageSince = null;
    this.#onOutage?.(`${this.description} answers again after ${s} s; going on`);
  }

  /** After a retried conditional put: is the object there the one we sent? */
  private async isOurs(key: string, md5: Buffer): Promise<boolean> {
    try {
      const out = await this.patient(() =>
        this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })),
      );
      return out.ETag?.replaceAll('"', '').toLowerCase() === md5.toString('hex');
    } catch {
      return false;
    }
  }

  private async createBucketNow(): Promise<void> {
    // Asked first, read-only: a bucket that exists (every open after the first) needs no
    // write, which a key without s3:CreateBucket may not make, and a gateway may be slow to.
    if (await this.bucketExists()) return;
    const input: CreateBucketCommandInput = { Bucket: this.bucket };
    // us-east-1 must not be named; radosgw's default zonegroup takes no constraint either.
    if (this.#region !== 'us-east-1' && this.#region !== 'default') {
      input.CreateBucketConfiguration = { LocationConstraint: this.#region as BucketLocationConstraint };
    }
    try {
      await this.patient(() => this.#client.send(new CreateBucketCommand(input)));
    } catch (err) {
      const e = err as SdkError;
      if (e.name === 'BucketAlreadyOwnedByYou') return;
      if (e.name === 'BucketAlreadyExists') {
        throw new ReboundError(
          'STORE_NO_BUCKET',
          `${this.description}: bucket ${this.bucket} belongs to another account; pick another name`,
          { cause: err, detail: { bucket: this.bucket } },
        );
      }
      if (e.name === 'InvalidBucketName') {
        throw new ReboundError(
          'INVALID_ARGUMENT',
          `${this.description}: invalid bucket name ${this.bucket}`,
          {
            cause: err,
            detail: { field: 'bucket', bucket: this.bucket },
          },
        );
      }
      throw this.mapError(err, 'create bucket', this.bucket);
    }
    this.#bucketChecked = true;
  }

  /** A HEAD 404 does not say whether the key or the bucket is missing: ask once. */
  private async checkBucket(): Promise<void> {
    await this.#sem.run(async () => {
      if (!(await this.bucketExists())) throw this.noBucket(undefined);
    });
  }

  /** HEAD the bucket (inside the caller's semaphore slot): a 404 is false, any other failure throws. */
  private async bucketExists(): Promise<boolean> {
    try {
      await this.patient(() => this.#client.send(new HeadBucketCommand({ Bucket: this.bucket })));
      this.#bucketChecked = true;
      return true;
    } catch (err) {
      if ((err as SdkError).$metadata?.httpStatusCode === 404) return false;
      throw this.mapError(err, 'head bucket', this.bucket);
    }
  }

  private notFound(key: string, cause?: unknown): ReboundError {
    return new ReboundError('OBJECT_NOT_FOUND', `${this.description}: object ${key} not found`, {
      cause,
      detail: { key },
    });
  }

  private alreadyExists(key: string): ReboundError {
    return new ReboundError('ALREADY_EXISTS', `${this.description}: object ${key} already exists`, {
      detail: { key },
    });
  }

  private noBucket(cause: unknown): ReboundError {
    return new ReboundError(
      'STORE_NO_BUCKET',
      `${this.description}: bucket ${this.bucket} does not exist${this.#createBucket ? ' and could not be created' : ''}`,
      { cause, detail: { bucket: this.bucket } },
    );
  }

  /** Turn an SDK error into a ReboundError with a stable code (STYLE.md point 8). */
  private mapError(err: unknown, op: string, key: string): ReboundError {
    if (err instanceof ReboundError) return err;
    const e = (err ?? {}) as SdkError;
    const name = e.name ?? '';
    const status = e.$metadata?.httpStatusCode;
    const where = `${this.description}: ${op} ${key}`;
    const attempts = e.$metadata?.attempts;
    // Waited for a store that had answered before (patient): say for how long.
    const waitedMs = (err as { waitedMs?: number }).waitedMs;
    const waited = waitedMs ? `; waited ${Math.round(waitedMs / 1000)} s for it to answer again` : '';
    const detail = { key, op, s3Error: name, httpStatus: status, attempts };
    const make = (code: ErrorCode, why: string): ReboundError =>
      new ReboundError(code, `${where}: ${why}`, { cause: err, detail });
    if (name === 'NoSuchBucket') return this.noBucket(err);
    // Before the 403 of STORE_AUTH: radosgw answers a quota with 403 QuotaExceeded, and
    // MinIO a full disk with 507 XMinioStorageFull. Neither is the credentials' fault.
    if (STORE_FULL_ERRORS.has(name) || status === 507) {
      return make(
        'STORE_FULL',
        `the store has no room for it (${name || status}: a bucket or user quota, or its storage is full)`,
      );
    }
    if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return this.notFound(key, err);
    if (AUTH_ERRORS.has(name) || status === 403 || status === 401) {
      return make(
        'STORE_AUTH',
        `the store refused the credentials (${name || status}); check the access key and secret`,
      );
    }
    const errno = errnoOf(e);
    const tries = attempts ? ` after ${attempts} attempts` : '';
    // The SDK's socket timeout ("... timed out after N ms of inactivity"), not its connect
    // timeout: connected, then silence. Ceph holds writes while its cluster is full, so its
    // gateway goes quiet rather than refuse. (Should the SDK reword it: the message below.)
    if (TIMEOUT_NAMES.has(name) && /inactivity|no activity/.test(e.message ?? '')) {
      return make(
        'STORE_UNREACHABLE',
        `endpoint took the request and then sent nothing for ${seconds(this.#idleTimeoutMs)} ` +
          `(${name}${tries})${waited}: a gateway that goes quiet is hung or overloaded, or its storage is full ` +
          '(a full Ceph cluster holds writes until it has room)',
      );
    }
    if ((errno !== undefined && NETWORK_ERRNOS.has(errno)) || TIMEOUT_NAMES.has(name)) {
      return make('STORE_UNREACHABLE', `endpoint did not answer (${errno ?? name}${tries})${waited}`);
    }
    if (status !== undefined && status >= 500)
      return make('IO_ERROR', `server error ${status} ${name}${waited}`);
    if (status === undefined)
      return make('IO_ERROR', `request failed before an answer: ${name} ${e.message ?? ''}`);
    return make('IO_ERROR', `request failed: ${status} ${name}`);
  }
}

/** The endpoint as it may be shown: no user:password, no query. */
function publicEndpoint(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
}
