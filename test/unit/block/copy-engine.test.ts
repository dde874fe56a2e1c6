import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlockSet } from '../../../src/block/block-set.js';
import { copyBlocks } from '../../../src/block/copy-engine.js';
import type { BlockDevice } from '../../../src/block/device.js';
import { MemoryDevice } from '../../../src/block/memory-device.js';
import { isReboundError, ReboundError } from '../../../src/errors.js';

const BS = 4096;

function fill(seed: number, length = BS): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 7 + seed * 13 + 1) & 0xff;
  return b;
}

/** A device wrapper that counts and optionally fails reads (a fault-injection layer). */
function counting(inner: BlockDevice, failAtBlock = -1) {
  const calls = { reads: 0, readBytes: 0, maxInFlight: 0, inFlight: 0 };
  const dev: BlockDevice = {
    sizeBytes: inner.sizeBytes,
    blockSizeBytes: inner.blockSizeBytes,
    readOnly: inner.readOnly,
    async read(offset, length) {
      calls.reads++;
      calls.readBytes += length;
      calls.inFlight++;
      calls.maxInFlight = Math.max(calls.maxInFlight, calls.inFlight);
      await new Promise((r) => setTimeout(r, 1));
      calls.inFlight--;
      if (failAtBlock >= 0 && offset <= failAtBlock * BS && failAtBlock * BS < offset + length) {
        throw new ReboundError('IO_ERROR', `read of block ${failAtBlock} failed`);
      }
      return inner.read(offset, length);
    },
    write: (o, d) => inner.write(o, d),
    writeZeroes: (o, l, opt) => inner.writeZeroes(o, l, opt),
    trim: (o, l) => inner.trim(o, l),
    flush: () => inner.flush(),
    blockStatus: (o, l) => inner.blockStatus(o, l),
  };
  return { dev, calls };
}

/**
 * A source with readDataRanges over `inner` (each range read whole, back to back), which
 * records every call's ranges (and the blocks of plain reads: a batch of one chunk takes the
 * one-chunk path) and fails a call whose ranges cover block `failAtBlock`.
 */
function ranged(inner: BlockDevice, failAtBlock = -1) {
  const calls: { offset: number; length: number }[][] = [];
  const reads: number[] = [];
  const dev: BlockDevice = {
    sizeBytes: inner.sizeBytes,
    blockSizeBytes: inner.blockSizeBytes,
    readOnly: inner.readOnly,
    read: (o, l) => {
      reads.push(o / BS);
      return inner.read(o, l);
    },
    async readDataRanges(ranges) {
      calls.push(ranges.map((r) => ({ ...r })));
      await new Promise((r) => setTimeout(r, 1));
      const at = failAtBlock * BS;
      if (ranges.some((r) => r.offset <= at && at < r.offset + r.length)) {
        throw new ReboundError('BACKUP_OBJECT_CORRUPT', `block ${failAtBlock} fails its checksum`);
      }
      return Buffer.concat(await Promise.all(ranges.map((r) => inner.read(r.offset, r.length))));
    },
    write: (o, d) => inner.write(o, d),
    writeZeroes: (o, l, opt) => inner.writeZeroes(o, l, opt),
    trim: (o, l) => inner.trim(o, l),
    flush: () => inner.flush(),
    blockStatus: (o, l) => inner.blockStatus(o, l),
  };
  return { dev, calls, reads };
}

/** A writable device passing everything to `inner`, but for the members `own` replaces. */
function over(inner: BlockDevice, own: Partial<BlockDevice>): BlockDevice {
  return {
    sizeBytes: inner.sizeBytes,
    blockSizeBytes: inner.blockSizeBytes,
    readOnly: false,
    write: (o, d) => inner.write(o, d),
    writeZeroes: (o, l, opt) => inner.writeZeroes(o, l, opt),
    trim: (o, l) => inner.trim(o, l),
    read: (o, l) => inner.read(o, l),
    blockStatus: (o, l) => inner.blockStatus(o, l),
    flush: () => inner.flush(),
    ...own,
  };
}

describe('copyBlocks', () => {
  it('copies exactly the blocks of the set, merging adjacent ones into larger I/Os', async () => {
    const src = new MemoryDevice(64 * BS, { blockSizeBytes: BS });
    const dst = new MemoryDevice(64 * BS, { blockSizeBytes: BS });
    for (let b = 0; b < 64; b++) await src.write(b * BS, fill(b));
    const set = new BlockSet(64);
    set.addRange(0, 10);
    set.add(20);
    set.addRange(40, 24);
    const { dev, calls } = counting(src);
    const progress: number[] = [];
    const r = await copyBlocks({
      source: dev,
      dest: dst,
      blocks: set,
      maxIoBytes: 8 * BS,
      concurrency: 4,
      progressIntervalMs: 0,
      onProgress: (p) => progress.push(p.blocksDone),
    });
    assert.equal(r.blocksDone, 35);
    assert.equal(r.bytesCopied, 35 * BS);
    // 10 -> 2 I/Os (8+2), 1 -> 1, 24 -> 3: six reads, none of a block outside the set.
    assert.equal(calls.reads, 6);
    assert.equal(calls.readBytes, 35 * BS);
    assert.ok(calls.maxInFlight > 1 && calls.maxInFlight <= 4, `in flight ${calls.maxInFlight}`);
    for (let b = 0; b < 64; b++) {
      const want = set.has(b) ? fill(b) : Buffer.alloc(BS);
      assert.deepEqual(await dst.read(b * BS, BS), want, `block ${b}`);
    }
    assert.equal(progress[progress.length - 1], 35);
    assert.ok(progress.every((v, i) => i === 0 || v >= progress[i - 1]));
  });

  it('keeps the bytes in flight under maxInFlightBytes, whatever the concurrency', async () => {
    const src = new MemoryDevice(64 * BS, { blockSizeBytes: BS });
    await src.write(0, fill(3, 64 * BS));
    const { dev, calls } = counting(src);
    const dst = new MemoryDevice(64 * BS, { blockSizeBytes: BS });
    const all = new BlockSet(64);
    all.addRange(0, 64);
    // Chunks of 8 blocks, budget of 16: two chunks at once though 32 may run.
    await copyBlocks({
      source: dev,
      dest: dst,
      blocks: all,
      maxIoBytes: 8 * BS,
      concurrency: 32,
      maxInFlightBytes: 16 * BS,
    });
    assert.equal(calls.maxInFlight, 2);
    // A chunk bigger than the budget still runs, alone.
    const one = counting(src);
    await copyBlocks({
      source: one.dev,
      dest: dst,
      blocks: all,
      maxIoBytes: 32 * BS,
      concurrency: 8,
      maxInFlightBytes: 4 * BS,
    });
    assert.equal(one.calls.maxInFlight, 1);
    assert.deepEqual(await dst.read(0, 64 * BS), fill(3, 64 * BS));
    // Scattered single blocks: all 32 at once fit the default budget.
    const scattered = new BlockSet(64);
    for (let b = 0; b < 64; b += 2) scattered.add(b);
    const many = counting(src);
    await copyBlocks({ source: many.dev, dest: dst, blocks: scattered, concurrency: 32 });
    assert.equal(many.calls.maxInFlight, 32);
  });

  it('paces the copy to maxBytesPerSec', async () => {
    const src = new MemoryDevice(64 * BS, { blockSizeBytes: BS });
    await src.write(0, fill(5, 64 * BS));
    const dst = new MemoryDevice(64 * BS, { blockSizeBytes: BS });
    const all = new BlockSet(64);
    all.addRange(0, 64);
    const started = Date.now();
    // 256 KiB at 512 KiB/s, in chunks of 8 blocks: the last chunk starts after 7/8 of 0.5 s.
    await copyBlocks({
      source: src,
      dest: dst,
      blocks: all,
      blockSizeBytes: BS,
      maxIoBytes: 8 * BS,
      maxBytesPerSec: 128 * BS,
    });
    const took = Date.now() - started;
    assert.ok(took >= 400, `paced: ${took} ms`);
    assert.deepEqual(await dst.read(0, 64 * BS), fill(5, 64 * BS));
  });

  it('data that reads as zeros is zeroed, not written; one non-zero byte anywhere is copied', async () => {
    const src = new MemoryDevice(64 * BS);
    // Written zeros (data to block status), 256 KiB runs: past the 64 KiB compared at once.
    await src.write(0, Buffer.alloc(32 * BS));
    const last = Buffer.alloc(32 * BS);
    last[last.length - 1] = 1; // the very last byte of a run
    await src.write(32 * BS, last);
    const dst = new MemoryDevice(64 * BS);
    await dst.write(0, fill(9, 64 * BS));
    const all = new BlockSet(64);
    all.addRange(0, 64);
    const r = await copyBlocks({
      source: src,
      dest: dst,
      blocks: all,
      blockSizeBytes: BS,
      maxIoBytes: 32 * BS,
    });
    assert.equal(r.bytesZeroed, 32 * BS);
    assert.equal(r.bytesCopied, 32 * BS);
    assert.deepEqual(await dst.read(0, 64 * BS), Buffer.concat([Buffer.alloc(32 * BS), last]));
  });

  it('never reads holes; zeroes them in the destination, or skips them', async () => {
    const src = new MemoryDevice(16 * BS, { blockSizeBytes: BS });
    await src.write(3 * BS, fill(3));
    const all = new BlockSet(16);
    all.addRange(0, 16);
    for (const zeroes of ['write', 'skip'] as const) {
      const dst = new MemoryDevice(16 * BS, { blockSizeBytes: BS });
      for (let b = 0; b < 16; b++) await dst.write(b * BS, fill(100 + b));
      const { dev, calls } = counting(src);
      const r = await copyBlocks({ source: dev, dest: dst, blocks: all, zeroes });
      assert.equal(calls.readBytes, BS, 'only the allocated block is read');
      assert.equal(r.bytesZeroed, 15 * BS);
      assert.deepEqual(await dst.read(3 * BS, BS), fill(3));
      const other = await dst.read(5 * BS, BS);
      assert.deepEqual(other, zeroes === 'write' ? Buffer.alloc(BS) : fill(105));
    }
  });

  it('with mergeHoleBytes reads data across small holes at once, and still never writes the holes', async () => {
    const src = new MemoryDevice(32 * BS, { blockSizeBytes: BS });
    // Data at 0-1, 3, 6 (holes of 1 and 2 blocks: merged), 20 (after a hole of 13: not), 21 (zeros).
    for (const b of [0, 1, 3, 6, 20]) await src.write(b * BS, fill(b));
    await src.write(21 * BS, Buffer.alloc(BS));
    const all = new BlockSet(32);
    all.addRange(0, 32);
    for (const zeroes of ['write', 'skip'] as const) {
      const dst = new MemoryDevice(32 * BS, { blockSizeBytes: BS });
      for (let b = 0; b < 32; b++) await dst.write(b * BS, fill(100 + b));
      const { dev, calls } = counting(src);
      const r = await copyBlocks({ source: dev, dest: dst, blocks: all, zeroes, mergeHoleBytes: 2 * BS });
      assert.equal(calls.reads, 2, 'blocks 0-6 in one read, 20-21 in another');
      assert.equal(calls.readBytes, 7 * BS + 2 * BS);
      assert.equal(r.bytesCopied, 6 * BS, 'data extents 0-1, 3, 6 and 20-21');
      assert.equal(r.bytesZeroed, 26 * BS);
      for (const b of [0, 1, 3, 6, 20]) assert.deepEqual(await dst.read(b * BS, BS), fill(b));
      assert.deepEqual(await dst.read(21 * BS, BS), Buffer.alloc(BS));
      for (const b of [2, 4, 5, 30]) {
        assert.deepEqual(await dst.read(b * BS, BS), zeroes === 'write' ? Buffer.alloc(BS) : fill(100 + b));
      }
    }
  });

  it('turns an all-zero data read into writeZeroes (the destination stays thin)', async () => {
    const src = new MemoryDevice(4 * BS, { blockSizeBytes: BS });
    await src.write(0, Buffer.alloc(BS)); // allocated, reads zeros
    const dst = new MemoryDevice(4 * BS, { blockSizeBytes: BS });
    const set = new BlockSet(4);
    set.add(0);
    await copyBlocks({ source: src, dest: dst, blocks: set });
    assert.equal(dst.allocatedBlocks, 0);
  });

  it('copies scattered chunks in batches of readDataRanges, each block right and each chunk reported once', async () => {
    const src = new MemoryDevice(256 * BS, { blockSizeBytes: BS });
    const dst = new MemoryDevice(256 * BS, { blockSizeBytes: BS });
    await dst.write(0, Buffer.alloc(256 * BS, 0xee)); // old data everywhere
    const set = new BlockSet(256);
    for (let b = 1; b < 200; b += 5) set.add(b); // 40 scattered blocks
    set.addRange(220, 3);
    for (const b of set.runs()) {
      for (let k = b.start; k < b.start + b.count; k++) if (k % 3 !== 0) await src.write(k * BS, fill(k));
    }
    // Blocks of the set with k % 3 === 0 are holes in the source: zeroed, never read as data.
    const { dev, calls, reads } = ranged(src);
    const done: number[] = [];
    const r = await copyBlocks({
      source: dev,
      dest: dst,
      blocks: set,
      maxIoBytes: 8 * BS,
      batchBytes: 8 * BS,
      concurrency: 3,
      onDone: (start, count) => {
        for (let b = start; b < start + count; b++) done.push(b);
      },
    });
    assert.equal(r.blocksDone, 43);
    for (let b = 0; b < 256; b++) {
      const want = !set.has(b) ? Buffer.alloc(BS, 0xee) : b % 3 === 0 ? Buffer.alloc(BS) : fill(b);
      assert.deepEqual(await dst.read(b * BS, BS), want, `block ${b}`);
    }
    assert.deepEqual(
      done.sort((a, b) => a - b),
      [...set.runs()].flatMap((run) => Array.from({ length: run.count }, (_, i) => run.start + i)),
    );
    // 40 single blocks in batches of 8 (each range a data extent of the set), then the run
    // of 3 alone, by the one-chunk path (one read of 220-221; 222 is a hole).
    assert.equal(calls.length, 5);
    assert.deepEqual(reads, [220]);
    for (const ranges of calls) {
      assert.ok(ranges.length > 1 && ranges.reduce((n, x) => n + x.length, 0) <= 8 * BS);
      for (const x of ranges) {
        for (let o = x.offset; o < x.offset + x.length; o += BS) {
          assert.ok(set.has(o / BS) && (o / BS) % 3 !== 0, `read ${o / BS}`);
        }
      }
    }
    assert.equal(r.bytesCopied, [...done].filter((b) => b % 3 !== 0).length * BS);
  });

  it('keeps at most maxBatchesInFlight batches in flight', async () => {
    const src = new MemoryDevice(512 * BS, { blockSizeBytes: BS });
    const dst = new MemoryDevice(512 * BS, { blockSizeBytes: BS });
    const set = new BlockSet(512);
    for (let b = 0; b < 400; b += 2) set.add(b); // 200 scattered blocks: 50 batches of 4
    for (const b of set.runs()) await src.write(b.start * BS, fill(b.start));
    const { dev, calls } = ranged(src);
    let reading = 0;
    let most = 0;
    const counted: BlockDevice = {
      ...dev,
      async readDataRanges(ranges) {
        most = Math.max(most, ++reading);
        try {
          return await dev.readDataRanges!(ranges);
        } finally {
          reading--;
        }
      },
    };
    // Slow writes: with 64 workers and no limit, every batch would be read at once.
    let writing = 0;
    let mostWrites = 0;
    const slow: BlockDevice = {
      sizeBytes: dst.sizeBytes,
      blockSizeBytes: dst.blockSizeBytes,
      readOnly: false,
      async write(o, d) {
        mostWrites = Math.max(mostWrites, ++writing);
        await new Promise((r) => setTimeout(r, 2));
        writing--;
        return dst.write(o, d);
      },
      writeZeroes: (o, l, opt) => dst.writeZeroes(o, l, opt),
      trim: (o, l) => dst.trim(o, l),
      flush: () => dst.flush(),
      read: (o, l) => dst.read(o, l),
      blockStatus: (o, l) => dst.blockStatus(o, l),
    };
    const r = await copyBlocks({
      source: counted,
      dest: slow,
      blocks: set,
      batchBytes: 4 * BS,
      concurrency: 64,
      maxBatchesInFlight: 2,
    });
    assert.equal(r.blocksDone, 200);
    assert.equal(calls.length, 50);
    assert.ok(most <= 2, `${most} batches read at once`);
    // Each batch writes its chunks at once: two batches in flight, at most 8 writes.
    assert.ok(mostWrites <= 8 && mostWrites > 4, `${mostWrites} writes at once`);
    for (const b of set.runs()) assert.deepEqual(await dst.read(b.start * BS, BS), fill(b.start));
    await assert.rejects(
      copyBlocks({ source: counted, dest: slow, blocks: set, maxBatchesInFlight: 0 }),
      (e: unknown) => isReboundError(e, 'INVALID_ARGUMENT'),
    );
  });

  it('writes nothing of a batch whose read fails, not even its zeroes', async () => {
    const src = new MemoryDevice(64 * BS, { blockSizeBytes: BS });
    const dst = new MemoryDevice(64 * BS, { blockSizeBytes: BS });
    await dst.write(0, Buffer.alloc(64 * BS, 0xee));
    const set = new BlockSet(64);
    for (let b = 0; b < 48; b += 4) set.add(b); // 12 blocks: batches 0-12, 16-28, 32-44
    for (const b of [0, 4, 8, 12, 16, 24, 28, 32]) await src.write(b * BS, fill(b));
    // Block 20 is a hole in the source (zeroed if its batch were written); 24 fails.
    const { dev } = ranged(src, 24);
    const done: number[] = [];
    await assert.rejects(
      copyBlocks({
        source: dev,
        dest: dst,
        blocks: set,
        batchBytes: 4 * BS,
        concurrency: 1,
        onDone: (start) => done.push(start),
      }),
      { code: 'BACKUP_OBJECT_CORRUPT' },
    );
    for (const b of [0, 4, 8, 12]) assert.deepEqual(await dst.read(b * BS, BS), fill(b), `block ${b}`);
    for (const b of [16, 20, 24, 28, 32, 36, 40, 44]) {
      assert.deepEqual(await dst.read(b * BS, BS), Buffer.alloc(BS, 0xee), `block ${b} untouched`);
    }
    assert.deepEqual(done, [0, 4, 8, 12]);
  });

  it('paces batches and stops them on abort', async () => {
    const src = new MemoryDevice(64 * BS, { blockSizeBytes: BS });
    await src.write(0, fill(9, 64 * BS));
    const dst = new MemoryDevice(64 * BS, { blockSizeBytes: BS });
    const set = new BlockSet(64);
    for (let b = 0; b < 64; b += 2) set.add(b);
    const { dev, calls } = ranged(src);
    const started = Date.now();
    // 32 blocks at 64 blocks/s in batches of 8: the last batch starts after 24/64 s.
    await copyBlocks({ source: dev, dest: dst, blocks: set, batchBytes: 8 * BS, maxBytesPerSec: 64 * BS });
    assert.ok(Date.now() - started >= 330, `paced: ${Date.now() - started} ms`);
    assert.equal(calls.length, 4);
    for (const b of set.runs())
      assert.deepEqual(
        await dst.read(b.start * BS, BS),
        fill(9, 64 * BS).subarray(b.start * BS, (b.start + 1) * BS),
      );
    const ac = new AbortController();
    const slow = ranged(src);
    const copying = copyBlocks({
      source: slow.dev,
      dest: new MemoryDevice(64 * BS, { blockSizeBytes: BS }),
      blocks: set,
      batchBytes: 8 * BS,
      concurrency: 1,
      maxBytesPerSec: 16 * BS,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(copying, { name: 'AbortError' });
    assert.ok(slow.calls.length < 4, `${slow.calls.length} batches read`);
  });

  it('stops at the first failed read, writes nothing of it, and resumes from onDone', async () => {
    const src = new MemoryDevice(32 * BS, { blockSizeBytes: BS });
    for (let b = 0; b < 32; b++) await src.write(b * BS, fill(b));
    const dst = new MemoryDevice(32 * BS, { blockSizeBytes: BS });
    const set = new BlockSet(32);
    set.addRange(0, 32);
    const done = new BlockSet(32);
    const { dev } = counting(src, 17);
    await assert.rejects(
      copyBlocks({
        source: dev,
        dest: dst,
        blocks: set,
        maxIoBytes: 4 * BS,
        concurrency: 1,
        onDone: (s, c) => done.addRange(s, c),
      }),
      (err: unknown) => err instanceof ReboundError && err.code === 'IO_ERROR',
    );
    assert.equal(done.count(), 16, 'chunks before the failing one are done');
    for (let b = 16; b < 20; b++) assert.deepEqual(await dst.read(b * BS, BS), Buffer.alloc(BS));
    // Resume with what is left.
    const left = set.clone();
    for (const run of done.runs()) for (let b = run.start; b < run.start + run.count; b++) left.delete(b);
    const r = await copyBlocks({ source: src, dest: dst, blocks: left });
    assert.equal(r.blocksDone, 16);
    for (let b = 0; b < 32; b++) assert.deepEqual(await dst.read(b * BS, BS), fill(b));
  });

  it('resumes an in-order copy from startBlock', async () => {
    const src = new MemoryDevice(8 * BS, { blockSizeBytes: BS });
    for (let b = 0; b < 8; b++) await src.write(b * BS, fill(b));
    const dst = new MemoryDevice(8 * BS, { blockSizeBytes: BS });
    const set = new BlockSet(8);
    set.addRange(0, 8);
    const r = await copyBlocks({ source: src, dest: dst, blocks: set, startBlock: 5 });
    assert.equal(r.blocksTotal, 3);
    assert.deepEqual(await dst.read(4 * BS, BS), Buffer.alloc(BS));
    assert.deepEqual(await dst.read(5 * BS, BS), fill(5));
  });

  it('rejects an aborted copy with the abort reason and starts nothing new', async () => {
    const src = new MemoryDevice(64 * BS, { blockSizeBytes: BS });
    for (let b = 0; b < 64; b++) await src.write(b * BS, fill(b));
    const dst = new MemoryDevice(64 * BS, { blockSizeBytes: BS });
    const set = new BlockSet(64);
    set.addRange(0, 64);
    const ac = new AbortController();
    const { dev, calls } = counting(src);
    await assert.rejects(
      copyBlocks({
        source: dev,
        dest: dst,
        blocks: set,
        maxIoBytes: BS,
        concurrency: 2,
        onDone: (s) => {
          if (s >= 3) ac.abort();
        },
        signal: ac.signal,
      }),
      (err: unknown) => (err as Error).name === 'AbortError',
    );
    assert.ok(calls.reads < 10, `${calls.reads} reads after abort`);
  });

  it('handles a partial last block and refuses sets past the end or read-only destinations', async () => {
    const size = 3 * BS + 512;
    const src = new MemoryDevice(size, { blockSizeBytes: BS });
    await src.write(3 * BS, fill(9, 512));
    const dst = new MemoryDevice(size, { blockSizeBytes: BS });
    const set = new BlockSet(4);
    set.add(3);
    await copyBlocks({ source: src, dest: dst, blocks: set });
    assert.deepEqual(await dst.read(3 * BS, 512), fill(9, 512));
    const tooBig = new BlockSet(8);
    tooBig.add(6);
    await assert.rejects(copyBlocks({ source: src, dest: dst, blocks: tooBig }), { code: 'OUT_OF_RANGE' });
    const ro = new MemoryDevice(size, { blockSizeBytes: BS, readOnly: true });
    await assert.rejects(copyBlocks({ source: src, dest: ro, blocks: set }), { code: 'READ_ONLY' });
  });
  it('flushes along the way every flushEveryBytes, one at a time, and fails on a failed flush', async () => {
    const src = new MemoryDevice(64 * BS, { blockSizeBytes: BS });
    const dst = new MemoryDevice(64 * BS, { blockSizeBytes: BS });
    for (let b = 0; b < 64; b++) await src.write(b * BS, fill(b));
    const set = new BlockSet(64);
    for (let b = 0; b < 64; b += 2) set.add(b); // 32 scattered blocks: 32 chunks
    let flushes = 0;
    let flushing = 0;
    let mostFlushing = 0;
    let failFlush = false;
    const flushed = over(dst, {
      async flush() {
        flushes++;
        mostFlushing = Math.max(mostFlushing, ++flushing);
        await new Promise((r) => setTimeout(r, 2));
        flushing--;
        if (failFlush) throw new ReboundError('IO_ERROR', 'the disk went away');
      },
    });
    const r = await copyBlocks({
      source: src,
      dest: flushed,
      blocks: set,
      concurrency: 4,
      flushEveryBytes: 8 * BS,
    });
    assert.equal(r.blocksDone, 32);
    for (let b = 0; b < 64; b += 2) assert.ok((await dst.read(b * BS, BS)).equals(fill(b)), `block ${b}`);
    // 32 blocks, one flush every 8 of them at most (never two at once), and the final one.
    assert.ok(flushes >= 2 && flushes <= 5, `${flushes} flushes`);
    assert.equal(mostFlushing, 1, 'flushes along the way do not pile up');
    failFlush = true;
    await assert.rejects(
      copyBlocks({ source: src, dest: flushed, blocks: set, concurrency: 4, flushEveryBytes: 8 * BS }),
      /the disk went away/,
    );
  });
  it('reads batches into memory of its own, and uses a buffer again only once a flush after its writes succeeded', async () => {
    const blocks = 512;
    const src = new MemoryDevice(blocks * BS, { blockSizeBytes: BS });
    const dst = new MemoryDevice(blocks * BS, { blockSizeBytes: BS });
    for (let b = 0; b < blocks; b++) await src.write(b * BS, fill(b));
    const set = new BlockSet(blocks);
    for (let b = 0; b < blocks; b += 2) set.add(b); // 256 scattered blocks: 32 batches of 8
    // The source reads into the memory it is given (ReadDataOptions.into), as a volume does.
    const given = new Set<ArrayBufferLike>();
    let batches = 0;
    const source: BlockDevice = {
      ...ranged(src).dev,
      async readDataRanges(ranges, options) {
        batches++;
        await new Promise((r) => setTimeout(r, 1));
        const parts = await Promise.all(ranges.map((r) => src.read(r.offset, r.length)));
        const into = options?.into;
        if (!into) return Buffer.concat(parts);
        given.add(into.buffer);
        let at = 0;
        for (const p of parts) at += p.copy(into, at);
        return into.subarray(0, at);
      },
    };
    // The destination keeps each write's buffer until a flush (as the NBD client does for
    // replay), and checks at the flush that nobody changed one meanwhile.
    let kept: { data: Buffer; was: Buffer }[] = [];
    let changed = 0;
    let flushes = 0;
    const holding = over(dst, {
      async write(o, d) {
        await new Promise((r) => setTimeout(r, Math.random() * 2));
        kept.push({ data: d, was: Buffer.from(d) });
        await dst.write(o, d);
      },
      async flush() {
        flushes++;
        const covered = kept;
        kept = [];
        await new Promise((r) => setTimeout(r, 3));
        for (const k of covered) if (!k.data.equals(k.was)) changed++;
      },
    });
    const options = {
      source,
      dest: holding,
      blocks: set,
      concurrency: 4,
      maxBatchesInFlight: 2,
      batchBytes: 8 * BS,
    };
    const r = await copyBlocks({ ...options, flushEveryBytes: 32 * BS });
    assert.equal(r.blocksDone, 256);
    for (let b = 0; b < blocks; b += 2) assert.ok((await dst.read(b * BS, BS)).equals(fill(b)), `block ${b}`);
    assert.equal(changed, 0, 'no buffer was read into again before the flush after its writes');
    assert.equal(batches, 32);
    assert.ok(flushes >= 3, `${flushes} flushes`);
    assert.ok(given.size >= 2 && given.size <= 12, `${given.size} buffers for 32 batches`);
    // Without flushes along the way nothing says when the destination lets go: no `into`.
    given.clear();
    await copyBlocks(options);
    assert.equal(given.size, 0);
  });
});
