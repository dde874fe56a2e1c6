/**
 * What the benchmarks share: seeded data (the same image and changes in every run, so
 * runs compare) and the sha256 of a whole device, by which they check what they moved.
 */
import { createCipheriv, createHash } from 'node:crypto';
import type { BlockDevice } from '../src/block/index.js';

/** Seeded 32-bit PRNG (mulberry32) for choices and offsets. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Seeded random bytes, fast: AES-128-CTR keystream. */
export function byteStream(seed: string): (n: number) => Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return (n) => cipher.update(Buffer.alloc(n));
}

const CHUNK = 16 * 1024 * 1024;
const PAGE = 4096;

/**
 * sha256 of a whole device, read in order with a few 16 MiB chunks ahead; with `change`
 * (4 KiB page number -> its bytes), of the device as it will be once those pages are
 * written over.
 */
export async function hashDevice(dev: BlockDevice, change?: Map<number, Buffer>): Promise<string> {
  const h = createHash('sha256');
  const ahead: Promise<Buffer>[] = [];
  let next = 0;
  const more = () => {
    while (ahead.length < 4 && next < dev.sizeBytes) {
      ahead.push(dev.read(next, Math.min(CHUNK, dev.sizeBytes - next)));
      next += CHUNK;
    }
  };
  more();
  for (let at = 0; ahead.length > 0; ) {
    const chunk = await ahead.shift()!;
    if (change) for (let p = at; p < at + chunk.length; p += PAGE) change.get(p / PAGE)?.copy(chunk, p - at);
    h.update(chunk);
    at += chunk.length;
    more();
  }
  return h.digest('hex');
}
