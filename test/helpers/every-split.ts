/**
 * Split-frame testing for the NBD codecs: a socket may deliver any frame in any pieces,
 * so decoders are fed the same bytes split at every offset, and byte by byte.
 */
import assert from 'node:assert/strict';
import { FrameReader } from '../../src/nbd/frame-reader.js';

/**
 * Feed `frames` (concatenated) to a fresh reader split at `at`, then in single bytes,
 * decoding as we go; every way must give the same frames, and need-more until complete.
 */
export function everySplit<T>(bytes: Buffer, decode: (r: FrameReader) => T | undefined): T[][] {
  const results: T[][] = [];
  const drain = (r: FrameReader, out: T[]) => {
    for (let f = decode(r); f !== undefined; f = decode(r)) out.push(f);
  };
  for (let at = 0; at <= bytes.length; at++) {
    const r = new FrameReader();
    const out: T[] = [];
    r.push(bytes.subarray(0, at));
    drain(r, out);
    r.push(bytes.subarray(at));
    drain(r, out);
    assert.equal(r.length, 0, `bytes left over after split at ${at}`);
    results.push(out);
  }
  const r = new FrameReader();
  const out: T[] = [];
  for (let i = 0; i < bytes.length; i++) {
    r.push(bytes.subarray(i, i + 1));
    drain(r, out);
  }
  results.push(out);
  return results;
}

export function assertAllEqual<T>(results: T[][], expected: T[]): void {
  for (const [i, got] of results.entries()) assert.deepEqual(got, expected, `split ${i}`);
}
