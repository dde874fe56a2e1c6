/**
 * Reusable buffers. A fresh buffer of a few MiB costs more than its size suggests: the
 * kernel hands out new pages that fault in and are zeroed on first touch, about as much
 * CPU as copying the bytes twice on a small node. Backup and restore move every byte of
 * a volume through buffers of a handful of fixed sizes, so they keep the ones they are
 * done with and take them again.
 *
 * A pool holds only buffers given back to it, at most `maxPerSize` of each size; one
 * taken and never given back is simply collected. A taken buffer holds whatever its last
 * user left in it.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();

  constructor(
    private readonly allocate: (bytes: number) => Buffer,
    private readonly maxPerSize = 16,
  ) {}

  take(bytes: number): Buffer {
    return this.free.get(bytes)?.pop() ?? this.allocate(bytes);
  }

  /** Give back a buffer `take` returned (whole, not a part of it), once nothing uses it. */
  give(buf: Buffer): void {
    let list = this.free.get(buf.length);
    if (!list) {
      list = [];
      this.free.set(buf.length, list);
    }
    if (list.length < this.maxPerSize) list.push(buf);
  }
}
