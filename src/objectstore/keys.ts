/**
 * Key and range validation shared by every store: the edge of the subsystem (STYLE.md
 * point 3). A key that passes here is safe to use as a relative file path and as an S3
 * key, and means the same object in both.
 *
 * On top of the contract in types.ts ([A-Za-z0-9._/-], no leading '/', no '..' segment,
 * at most 1024 bytes) every store also rejects empty keys, empty segments ('a//b', a
 * trailing '/'), '.' segments and segments over 255 bytes. A file system folds 'a//b'
 * and 'a/./b' into 'a/b' and refuses file names over 255 bytes, S3 does neither, so
 * allowing them would let the two kinds of store disagree on which keys are valid or
 * name the same object.
 */
import { ReboundError } from '../errors.js';

export const MAX_KEY_BYTES = 1024;
/** A segment is a file name in a DirectoryStore: NAME_MAX on Linux file systems. */
export const MAX_SEGMENT_BYTES = 255;

const KEY_CHARS = /^[A-Za-z0-9._/-]*$/;

/** Throws INVALID_ARGUMENT unless `key` is a valid object key. */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new ReboundError('INVALID_ARGUMENT', 'object key must be a non-empty string', {
      detail: { field: 'key' },
    });
  }
  const bad = (why: string): ReboundError =>
    new ReboundError('INVALID_ARGUMENT', `invalid object key ${JSON.stringify(key)}: ${why}`, {
      detail: { field: 'key', key },
    });
  if (key.length > MAX_KEY_BYTES) throw bad(`longer than ${MAX_KEY_BYTES} bytes`);
  if (!KEY_CHARS.test(key)) throw bad('only A-Z a-z 0-9 . _ / - are allowed');
  if (key.startsWith('/')) throw bad("must not start with '/'");
  for (const segment of key.split('/')) {
    if (segment === '') throw bad("empty segment ('//' or a trailing '/')");
    if (segment === '.' || segment === '..') throw bad(`'${segment}' segment`);
    if (segment.length > MAX_SEGMENT_BYTES) throw bad(`a segment is longer than ${MAX_SEGMENT_BYTES} bytes`);
  }
}

/**
 * A list prefix: '' or any string of key characters (it may end in '/' or in the middle
 * of a segment). Anything else could never match a key, so it is a caller bug.
 */
export function checkPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || prefix.length > MAX_KEY_BYTES || !KEY_CHARS.test(prefix)) {
    throw new ReboundError('INVALID_ARGUMENT', `invalid list prefix ${JSON.stringify(prefix)}`, {
      detail: { field: 'prefix' },
    });
  }
}

export interface ByteRange {
  offset: number;
  length: number;
}

/** Throws INVALID_ARGUMENT unless the range is two non-negative safe integers. */
export function checkRange(key: string, range: ByteRange | undefined): void {
  if (range === undefined) return;
  const ok = (n: unknown): boolean => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (typeof range !== 'object' || range === null || !ok(range.offset) || !ok(range.length)) {
    throw new ReboundError(
      'INVALID_ARGUMENT',
      `invalid range for ${key}: offset and length must be non-negative integers`,
      { detail: { field: 'range', key } },
    );
  }
}
