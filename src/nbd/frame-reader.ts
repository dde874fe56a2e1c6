/**
 * An incremental byte queue for parsing frames that arrive split across socket reads.
 *
 * Chunks are kept as they came; bytes are copied only when a frame straddles chunks
 * (once, into a buffer of exactly the frame's size). Parsers `peek` a fixed-size header,
 * decide whether the whole frame is there, and `skip` or `take` it; when it is not, they
 * answer "need more" and the remainder stays queued for the next read.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  /** Read position inside chunks[0]. */
  private head = 0;
  private total = 0;

  /** Bytes queued. */
  get length(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /**
   * The next `n` bytes as one contiguous buffer, without consuming them, or undefined
   * when fewer are queued. The result may share memory with the queue.
   */
  peek(n: number): Buffer | undefined {
    if (n > this.total) return undefined;
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    if (n === 0) return Buffer.alloc(0);
    // Coalesce the chunks holding the first n bytes into one buffer of exactly n bytes,
    // so the take() that usually follows is free. Each byte is copied at most once.
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    let i = 0;
    let off = this.head;
    for (;;) {
      const chunk = this.chunks[i];
      const want = n - at;
      if (chunk.length - off >= want) {
        chunk.copy(out, at, off, off + want);
        off += want;
        break;
      }
      at += chunk.copy(out, at, off);
      i++;
      off = 0;
    }
    const last = this.chunks[i];
    const rest = this.chunks.slice(i + 1);
    if (off < last.length) rest.unshift(last.subarray(off));
    rest.unshift(out);
    this.chunks = rest;
    this.head = 0;
    return out;
  }

  /** Consume and return the next `n` bytes (undefined when fewer are queued). */
  take(n: number): Buffer | undefined {
    const buf = this.peek(n);
    if (buf === undefined) return undefined;
    this.skip(n);
    return buf;
  }

  /** Drop the next `n` bytes; the caller knows they are queued. */
  skip(n: number): void {
    if (n > this.total) throw new RangeError(`skip ${n} of ${this.total} queued bytes`);
    this.total -= n;
    while (n > 0) {
      const first = this.chunks[0];
      const avail = first.length - this.head;
      if (n < avail) {
        this.head += n;
        return;
      }
      n -= avail;
      this.chunks.shift();
      this.head = 0;
    }
  }

  /** Everything queued, consumed (used when a socket changes hands, e.g. at STARTTLS). */
  drain(): Buffer {
    return this.take(this.total) ?? Buffer.alloc(0);
  }
}
