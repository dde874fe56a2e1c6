/**
 * Buffers for the data of READ replies, used again once the socket has written them.
 *
 * A reply's data used to be a new buffer per read. V8 counts such memory as external, and
 * a host reading sequentially allocates it fast: a node answering 16 MiB reads ran a full
 * collection every 20-150 ms ("external memory pressure", --trace-gc), each freeing
 * nothing of its 23 MB heap. Taken from here, the same few buffers carry every read.
 *
 * Sizes are powers of two from 4 KiB (a read gets a view of its exact length); the
 * buffers waiting here are capped in bytes, and one given back past the cap is left to
 * the collector. A buffer not given back (a socket that never calls back) is simply
 * collected: nothing here counts the buffers out.
 */

/** The smallest size: a shorter read gets a view of a buffer of this many bytes. */
const MIN_BYTES = 4096;

export class ReplyBuffers {
  private readonly free = new Map<number, Buffer[]>();
  /**
   * The memory this pool made, and whether it is waiting here: nothing else (Node's
   * shared slab) is ever kept, and a buffer given back twice is kept once.
   */
  private readonly ours = new WeakMap<ArrayBufferLike, boolean>();
  private freeBytes = 0;

  /** `maxFreeBytes`: buffers kept for reuse at most, in bytes (default 64 MiB). */
  constructor(private readonly maxFreeBytes = 64 * 1024 * 1024) {}

  /** A buffer of `length` bytes (its contents are whatever an earlier read left). */
  take(length: number): Buffer {
    const size = sizeClass(length);
    const kept = this.free.get(size)?.pop();
    if (kept === undefined) {
      const made = Buffer.allocUnsafeSlow(size);
      this.ours.set(made.buffer, false);
      return made.subarray(0, length);
    }
    this.ours.set(kept.buffer, false);
    this.freeBytes -= size;
    return kept.subarray(0, length);
  }

  /** Give back a buffer from take(), once nothing reads it any more. */
  give(buf: Buffer): void {
    const size = buf.buffer.byteLength;
    if (this.ours.get(buf.buffer) !== false || this.freeBytes + size > this.maxFreeBytes) return;
    this.ours.set(buf.buffer, true);
    const list = this.free.get(size);
    const whole = Buffer.from(buf.buffer, 0, size);
    if (list === undefined) this.free.set(size, [whole]);
    else list.push(whole);
    this.freeBytes += size;
  }

  /** Bytes kept for reuse (for tests). */
  get keptBytes(): number {
    return this.freeBytes;
  }
}

/** The power of two at or above `length`, at least MIN_BYTES. */
function sizeClass(length: number): number {
  return length <= MIN_BYTES ? MIN_BYTES : 2 ** Math.ceil(Math.log2(length));
}
