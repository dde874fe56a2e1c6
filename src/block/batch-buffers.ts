/**
 * The copy engine's memory for its batches (copy-engine.ts, "Batches"), used again batch
 * after batch instead of a new buffer each.
 *
 * A failback's delta copy reads 20,000 scattered 4 KiB grains in batches of 1 MiB. Each
 * batch used to come back from the read worker in a buffer of its own: 80 MiB of fresh
 * memory per copy, page faults and zeroing in the worker, and external memory that V8
 * counts towards a full collection in the middle of the copy. Shared memory from here is
 * read into in place (ReadDataOptions.into), and the same few buffers carry the copy.
 *
 * When a buffer is free again: the destination may keep a write's bytes until a flush
 * (the NBD client holds unflushed writes to send them again after a reconnect; the copy
 * hands its buffers off), so a batch's buffer waits, once its writes have ended, for the
 * first flush started after that to succeed: the copy's flushes along the way
 * (flushEveryBytes, flush-along.ts). Then about 16 MiB of buffers wait at a time, plus
 * the batches in flight. A buffer the source did not read into (a device that ignores
 * `into`) is free at once; one whose batch failed is left to the collector.
 */
import type { ByteRange } from './device.js';
import type { FlushAlong } from './flush-along.js';

export class BatchBuffers {
  private readonly free: Buffer[] = [];
  /** Written, waiting for flush number `after` (from 0) to succeed; in order of `after`. */
  private readonly waiting: { buf: Buffer; after: number }[] = [];

  constructor(
    /** Bytes of each buffer: the copy's batchBytes. */
    readonly bytes: number,
    private readonly flushes: FlushAlong,
  ) {}

  /** Whether a batch's ranges fit one buffer (a lone chunk larger than a batch does not). */
  fits(ranges: readonly ByteRange[]): boolean {
    let total = 0;
    for (const r of ranges) {
      total += r.length;
      if (total > this.bytes) return false;
    }
    return true;
  }

  /** A buffer of `bytes` bytes, its contents whatever an earlier batch left. */
  take(): Buffer {
    const flushed = this.flushes.succeeded;
    while (this.waiting.length > 0 && this.waiting[0].after < flushed)
      this.free.push(this.waiting.shift()!.buf);
    return this.free.pop() ?? Buffer.from(new SharedArrayBuffer(this.bytes));
  }

  /**
   * Every write of the batch read into `buf` has ended (successfully), and the source
   * answered with `data`: `buf` is free after the next flush, or now when `data` is not
   * in it.
   */
  written(buf: Buffer, data: Buffer | undefined): void {
    if (data === undefined || data.buffer !== buf.buffer) this.free.push(buf);
    else this.waiting.push({ buf, after: this.flushes.started });
  }
}
