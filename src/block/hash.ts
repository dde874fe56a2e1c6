/**
 * Block hashes: one SHA-256 per fixed-size block of any BlockDevice, so two devices on
 * two nodes can be proven identical by exchanging only hashes (failback verify, `rebound
 * volume compare`). The hash block size is fixed by the caller, not taken from the
 * device, so devices with different allocation units still compare block for block.
 *
 * The last block of a device whose size is not a multiple is hashed over the bytes that
 * exist. Ranges the device reports as zero are not read: their hash is the hash of zeros,
 * which is exactly what reading them would give (the BlockDevice contract).
 *
 * This is the form for any BlockDevice. A node hashes its pool volumes off the main
 * thread instead (src/volume/hasher.ts), to the same bytes; the tests hold the two equal.
 */
import { createHash } from 'node:crypto';
import { ReboundError } from '../errors.js';
import type { BlockDevice } from './device.js';

export const HASH_BYTES = 32;

/** Bytes read per device request while hashing (a whole number of hash blocks is read at once). */
const READ_BYTES = 4 * 1024 * 1024;

const zeroHashes = new Map<number, Buffer>();
function zeroHash(length: number): Buffer {
  let h = zeroHashes.get(length);
  if (!h) {
    h = createHash('sha256').update(Buffer.alloc(length)).digest();
    if (zeroHashes.size < 8) zeroHashes.set(length, h);
  }
  return h;
}

/**
 * SHA-256 of blocks [startBlock, startBlock + count) of `device`, `hashBlockBytes` each,
 * concatenated (32 bytes per block). The range must lie inside the device.
 */
export async function hashBlocks(
  device: BlockDevice,
  startBlock: number,
  count: number,
  hashBlockBytes: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  const totalBlocks = Math.ceil(device.sizeBytes / hashBlockBytes);
  if (startBlock < 0 || count < 0 || startBlock + count > totalBlocks)
    throw new ReboundError(
      'OUT_OF_RANGE',
      `blocks ${startBlock}+${count} run past the end (${totalBlocks} blocks of ${hashBlockBytes} bytes)`,
    );
  const out = Buffer.alloc(count * HASH_BYTES);
  const perRead = Math.max(1, Math.floor(READ_BYTES / hashBlockBytes));
  for (let i = 0; i < count; i += perRead) {
    signal?.throwIfAborted();
    const first = startBlock + i;
    const n = Math.min(perRead, count - i);
    const offset = first * hashBlockBytes;
    const length = Math.min(n * hashBlockBytes, device.sizeBytes - offset);
    const zero = await zeroMap(device, offset, length, hashBlockBytes);
    let data: Buffer | null = null;
    for (let k = 0; k < n; k++) {
      const blockOffset = k * hashBlockBytes;
      const blockLength = Math.min(hashBlockBytes, length - blockOffset);
      let h: Buffer;
      if (zero[k]) h = zeroHash(blockLength);
      else {
        data ??= await device.read(offset, length);
        h = createHash('sha256')
          .update(data.subarray(blockOffset, blockOffset + blockLength))
          .digest();
      }
      h.copy(out, (i + k) * HASH_BYTES);
    }
  }
  return out;
}

/** Which hash blocks of [offset, offset + length) the device says read as zeros. */
async function zeroMap(
  device: BlockDevice,
  offset: number,
  length: number,
  hashBlockBytes: number,
): Promise<boolean[]> {
  const blocks = Math.ceil(length / hashBlockBytes);
  const zero = new Array<boolean>(blocks).fill(true);
  let at = offset;
  const end = offset + length;
  while (at < end) {
    const extents = await device.blockStatus(at, end - at);
    for (const e of extents) {
      if (!e.zero) {
        const a = Math.floor((e.offset - offset) / hashBlockBytes);
        const b = Math.ceil((e.offset + e.length - offset) / hashBlockBytes);
        for (let k = a; k < b; k++) zero[k] = false;
      }
      at = e.offset + e.length;
    }
  }
  return zero;
}

/** The block numbers at which two hash lists (from `startBlock` on) differ, at most `limit` of them, and how many in all. */
export function diffHashes(
  a: Buffer,
  b: Buffer,
  startBlock: number,
  limit: number,
): { count: number; first: number[] } {
  const n = Math.min(a.length, b.length) / HASH_BYTES;
  const first: number[] = [];
  let count = 0;
  for (let k = 0; k < n; k++) {
    const o = k * HASH_BYTES;
    if (a.compare(b, o, o + HASH_BYTES, o, o + HASH_BYTES) !== 0) {
      count++;
      if (first.length < limit) first.push(startBlock + k);
    }
  }
  return { count, first };
}
