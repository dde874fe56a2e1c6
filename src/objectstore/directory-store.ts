/**
 * DirectoryStore: an ObjectStore on a local (or mounted) directory, the embedded default.
 *
 * Key "a/b/c" is the file <root>/a/b/c, so a store can be inspected with ls and copied
 * with rsync. A put never exposes a partial object and never replaces one:
 *
 *   <dir>/~tmp-<pid>-<random>   write all bytes, fsync
 *   link(tmp, <dir>/c)          fails with EEXIST when the key exists: ALREADY_EXISTS,
 *                               the old file untouched (rename would silently replace it)
 *   unlink(tmp), fsync(<dir>)   the new name is durable when put resolves
 *
 * Temp names start with '~', which no key segment can contain, so list skips them and
 * they never collide with a key. A crash can leave temp files behind; they are
 * harmless and ignored. Deleting an object removes the directories it leaves empty;
 * a put racing with that pruning (ENOENT on its directory) simply creates it again.
 *
 * Limitation of the file mapping: an object "a" and an object "a/b" cannot both exist
 * (one would be a file, the other a directory). Such a put fails with INVALID_ARGUMENT
 * naming both keys; key layouts that never use an object name as a prefix are fine.
 * The file system must support hard links (ext4, xfs, btrfs, zfs, NFS do).
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, readdir, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ReboundError } from '../errors.js';
import { Semaphore } from '../semaphore.js';
import { checkKey, checkPrefix, checkRange } from './keys.js';
import type { ObjectInfo, ObjectStore } from './types.js';

type FileHandle = import('node:fs/promises').FileHandle;

export interface DirectoryStoreOptions {
  /** Operations in flight at once (each holds a file descriptor). Default 64. */
  maxConcurrency?: number;
}

const SEGMENT = /^[A-Za-z0-9._-]+$/;
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** Errors a moment later may not repeat: too many open files, interrupted, busy. */
const TRANSIENT = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'EINTR']);
const RETRY_DELAYS_MS = [10, 50, 200, 500];
/** Bound on the set of directories whose entries are known durable. */
const DURABLE_DIRS_MAX = 10_000;

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export class DirectoryStore implements ObjectStore {
  readonly root: string;
  readonly description: string;
  private readonly sem: Semaphore;
  /** Directories whose chain of entries up to the root has been fsynced since creation. */
  private readonly durableDirs = new Set<string>();

  constructor(rootDir: string, options: DirectoryStoreOptions = {}) {
    if (typeof rootDir !== 'string' || rootDir === '') {
      throw new ReboundError('INVALID_ARGUMENT', 'directory store needs a path', {
        detail: { field: 'path' },
      });
    }
    this.root = resolve(rootDir);
    this.description = `dir:${this.root}`;
    this.sem = new Semaphore(options.maxConcurrency ?? 64);
  }

  async put(key: string, body: Buffer): Promise<void> {
    checkKey(key);
    if (!(body instanceof Uint8Array)) {
      throw new ReboundError('INVALID_ARGUMENT', `put ${key}: body must be a Buffer`, { detail: { key } });
    }
    await this.sem.run(() => this.putNow(key, body));
  }

  async get(key: string, range?: { offset: number; length: number }): Promise<Buffer> {
    checkKey(key);
    checkRange(key, range);
    return this.read(key, range, undefined) as Promise<Buffer>;
  }

  async getInto(key: string, range: { offset: number; length: number }, into: Uint8Array): Promise<number> {
    checkKey(key);
    checkRange(key, range);
    if (!(into instanceof Uint8Array) || into.length < range.length) {
      throw new ReboundError('INVALID_ARGUMENT', `getInto ${key}: the buffer is smaller than the range`, {
        detail: { key },
      });
    }
    return this.read(key, range, into) as Promise<number>;
  }

  /** get (into a new buffer, returned) or getInto (into `into`, the byte count returned). */
  private read(
    key: string,
    range: { offset: number; length: number } | undefined,
    into: Uint8Array | undefined,
  ): Promise<Buffer | number> {
    return this.sem.run(async () => {
      let fh: FileHandle;
      try {
        fh = await transient(() => open(this.pathOf(key), 'r'));
      } catch (err) {
        throw this.readError('get', key, err);
      }
      try {
        const st = await fh.stat();
        // open(2) succeeds on a directory: a prefix of other keys is not an object.
        if (!st.isFile()) throw this.notFound(key);
        const start = range?.offset ?? 0;
        const want = range ? range.length : st.size;
        const n = Math.max(0, Math.min(want, st.size - start));
        const buf = into ?? Buffer.allocUnsafe(n);
        let done = 0;
        while (done < n) {
          const { bytesRead } = await fh.read(buf, done, n - done, start + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        if (into) return done;
        return done === n ? (buf as Buffer) : (buf as Buffer).subarray(0, done);
      } catch (err) {
        throw this.readError('get', key, err);
      } finally {
        await fh.close();
      }
    });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    checkKey(key);
    return this.sem.run(async () => {
      try {
        const st = await stat(this.pathOf(key));
        return st.isFile() ? { key, sizeBytes: st.size } : undefined;
      } catch (err) {
        const code = errno(err);
        if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
        throw this.ioError('head', key, err);
      }
    });
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    checkPrefix(prefix);
    // Start at the deepest directory the prefix names in full: "vol/7/da" -> "vol/7".
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash < 0 ? '' : prefix.slice(0, slash);
    if (dirKey !== '' && !dirKey.split('/').every((s) => SEGMENT.test(s) && s !== '.' && s !== '..')) return;
    yield* this.walk(dirKey, prefix);
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.sem.run(async () => {
      const path = this.pathOf(key);
      try {
        await unlink(path);
      } catch (err) {
        const code = errno(err);
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        // unlink(2) on a directory: EISDIR on Linux, EPERM per POSIX. No object there.
        if ((code === 'EISDIR' || code === 'EPERM') && (await isDirectory(path))) return;
        throw this.ioError('delete', key, err);
      }
      try {
        await fsyncDir(dirname(path));
        await this.pruneEmptyDirs(dirname(path));
      } catch (err) {
        throw this.ioError('delete', key, err);
      }
    });
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  private pathOf(key: string): string {
    return join(this.root, key);
  }

  private async putNow(key: string, body: Uint8Array): Promise<void> {
    const path = this.pathOf(key);
    const dir = dirname(path);
    const tmp = join(dir, `~tmp-${process.pid}-${randomBytes(8).toString('hex')}`);
    let fh: FileHandle | undefined;
    for (let attempt = 0; fh === undefined; attempt++) {
      try {
        await mkdir(dir, { recursive: true, mode: DIR_MODE });
        fh = await transient(() => open(tmp, 'wx', FILE_MODE));
      } catch (err) {
        const code = errno(err);
        // A delete pruned the directory between our mkdir and open: make it again.
        if (code === 'ENOENT' && attempt < 10) continue;
        if (code === 'ENOTDIR' || code === 'EEXIST') throw await this.conflict(key);
        throw this.ioError('put', key, err);
      }
    }
    try {
      try {
        let done = 0;
        while (done < body.length) {
          const { bytesWritten } = await fh.write(body, done, body.length - done, done);
          done += bytesWritten;
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await link(tmp, path);
      } catch (err) {
        if (errno(err) !== 'EEXIST') throw err;
        if (await isDirectory(path)) throw await this.conflict(key);
        throw new ReboundError('ALREADY_EXISTS', `${this.description}: object ${key} already exists`, {
          detail: { key },
        });
      }
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err instanceof ReboundError ? err : this.ioError('put', key, err);
    }
    try {
      await unlink(tmp);
      await fsyncDir(dir);
      await this.makeDurable(dir);
    } catch (err) {
      throw this.ioError('put', key, err);
    }
  }

  /** fsync every directory from `dir`'s parent up to the root, once per directory. */
  private async makeDurable(dir: string): Promise<void> {
    for (let d = dir; d !== this.root && !this.durableDirs.has(d); d = dirname(d)) {
      if (d.length <= this.root.length) break;
      await fsyncDir(dirname(d));
      if (this.durableDirs.size >= DURABLE_DIRS_MAX) this.durableDirs.clear();
      this.durableDirs.add(d);
    }
  }

  private async pruneEmptyDirs(dir: string): Promise<void> {
    let removed: string | undefined;
    for (let d = dir; d.length > this.root.length && d.startsWith(`${this.root}/`); d = dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        break; // not empty (or already gone): stop here
      }
      removed = d;
    }
    if (removed !== undefined) {
      // A directory created again later must be fsynced into its parent again.
      this.durableDirs.clear();
      await fsyncDir(dirname(removed)).catch(() => {});
    }
  }

  private async *walk(dirKey: string, prefix: string): AsyncGenerator<ObjectInfo> {
    const dirPath = dirKey === '' ? this.root : this.pathOf(dirKey);
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dirPath, { withFileTypes: true });
    } catch (err) {
      const code = errno(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw this.ioError('list', prefix, err);
    }
    // Keys sort as strings, so a directory "a" sorts as "a/": after "a.x", before "a0".
    const items = entries
      .filter((e) => SEGMENT.test(e.name) && e.name !== '.' && e.name !== '..')
      .map((e) => ({
        name: e.name,
        isDir: e.isDirectory(),
        sortKey: e.isDirectory() ? `${e.name}/` : e.name,
      }))
      .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    for (const item of items) {
      const key = dirKey === '' ? item.name : `${dirKey}/${item.name}`;
      if (item.isDir) {
        const sub = `${key}/`;
        if (sub.startsWith(prefix) || prefix.startsWith(sub)) yield* this.walk(key, prefix);
        continue;
      }
      if (!key.startsWith(prefix)) continue;
      let st: import('node:fs').Stats;
      try {
        st = await lstat(this.pathOf(key));
      } catch (err) {
        if (errno(err) === 'ENOENT') continue; // deleted while we listed
        throw this.ioError('list', prefix, err);
      }
      if (st.isFile()) yield { key, sizeBytes: st.size };
    }
  }

  private notFound(key: string): ReboundError {
    return new ReboundError('OBJECT_NOT_FOUND', `${this.description}: object ${key} not found`, {
      detail: { key },
    });
  }

  private readError(op: string, key: string, err: unknown): ReboundError {
    if (err instanceof ReboundError) return err;
    const code = errno(err);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return this.notFound(key);
    return this.ioError(op, key, err);
  }

  private ioError(op: string, key: string, err: unknown): ReboundError {
    if (err instanceof ReboundError) return err;
    const code = errno(err);
    const full = code === 'ENOSPC' || code === 'EDQUOT';
    const why = full ? 'store is full (no space left on its file system)' : (code ?? 'error');
    const msg = err instanceof Error ? err.message : String(err);
    return new ReboundError(
      full ? 'STORE_FULL' : 'IO_ERROR',
      `${this.description}: ${op} ${key}: ${why}: ${msg}`,
      {
        cause: err,
        detail: { key, op, errno: code },
      },
    );
  }

  /** "a/b" cannot be stored when "a" is an object, nor "a" when keys below "a/" exist. */
  private async conflict(key: string): Promise<ReboundError> {
    const segments = key.split('/');
    let holder = key;
    for (let i = 1; i < segments.length; i++) {
      const candidate = segments.slice(0, i).join('/');
      const st = await lstat(this.pathOf(candidate)).catch(() => undefined);
      if (st && !st.isDirectory()) {
        holder = candidate;
        break;
      }
    }
    const why =
      holder === key
        ? `other objects exist under ${key}/`
        : `object ${holder} exists and a directory store cannot also hold keys under ${holder}/`;
    return new ReboundError('INVALID_ARGUMENT', `${this.description}: cannot put ${key}: ${why}`, {
      detail: { field: 'key', key, conflictsWith: holder },
    });
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await transient(() => open(dir, 'r'));
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function isDirectory(path: string): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined);
  return st?.isDirectory() ?? false;
}

/** Retry an fd-opening call on transient errors (EMFILE and friends) with backoff. */
async function transient<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const code = errno(err);
      if (code === undefined || !TRANSIENT.has(code) || attempt >= RETRY_DELAYS_MS.length) throw err;
      await sleep(RETRY_DELAYS_MS[attempt]);
    }
  }
}
