/**
 * Direct writes (WriteOptions.direct, pool/aligned-memory.ts, pool/drives.ts): a write
 * hinted direct from aligned memory bypasses the page cache; anything else is written
 * buffered. Either way the bytes read back, survive a reopen after a flush, and mix with
 * buffered writes, snapshots and partial blocks.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { alignedBuffer, isAligned, MEMORY_ALIGNMENT } from '../../../src/pool/aligned-memory.js';
import { NodeStorage } from '../../../src/volume/index.js';
import { directIo } from '../../helpers/direct-io.js';

const BS = 65536;

/** `bytes` copied into aligned memory. */
function aligned(bytes: Buffer): Buffer {
  const b = alignedBuffer(bytes.length);
  bytes.copy(b);
  return b;
}

async function withStorage(fn: (s: NodeStorage, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rebound-direct-'));
  try {
    const s = await NodeStorage.init(dir, { drives: [{ sizeBytes: 64 * BS }], blockSizeBytes: BS });
    try {
      await fn(s, dir);
    } finally {
      await s.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('aligned memory', () => {
  it('is shared, zero-filled, and known aligned at multiples of the alignment', () => {
    const b = alignedBuffer(3 * BS + 100);
    assert.equal(b.length, 3 * BS + 100);
    assert.ok(b.buffer instanceof SharedArrayBuffer);
    assert.ok(b.every((x) => x === 0));
    assert.ok(isAligned(b, 512));
    assert.ok(isAligned(b.subarray(MEMORY_ALIGNMENT), MEMORY_ALIGNMENT));
    assert.ok(!isAligned(b.subarray(16), 512));
    assert.ok(!isAligned(Buffer.alloc(BS), 512), 'ordinary memory is never assumed aligned');
    assert.ok(!isAligned(b, 2 * MEMORY_ALIGNMENT));
  });
});

describe('direct writes to a volume', () => {
  it('from aligned memory go direct, read back, and survive a reopen after a flush', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rebound-direct-'));
    try {
      const data = randomBytes(6 * BS);
      let s = await NodeStorage.init(dir, { drives: [{ sizeBytes: 64 * BS }], blockSizeBytes: BS });
      await s.createVolume('v', 16 * BS);
      const dev = s.device('v');
      const before = s.rawPool.drives.stats.directBytes;
      const src = aligned(data);
      // Two writes in one call each: 4 adjacent blocks, then 2 more, at block offsets.
      await dev.write(BS, src.subarray(0, 4 * BS), { direct: true });
      await dev.write(8 * BS, src.subarray(4 * BS), { direct: true });
      // tmpfs has no O_DIRECT: the writes then go buffered.
      const direct = s.rawPool.drives.stats.directBytes - before;
      assert.equal(direct, (await directIo(dir)) ? 6 * BS : 0);
      assert.deepEqual(await dev.read(BS, 4 * BS), data.subarray(0, 4 * BS));
      assert.deepEqual(await dev.read(8 * BS, 2 * BS), data.subarray(4 * BS));
      assert.deepEqual(await dev.read(0, BS), Buffer.alloc(BS));
      await dev.flush();
      await s.close();
      s = await NodeStorage.open(dir);
      try {
        const again = s.device('v');
        assert.deepEqual(await again.read(BS, 4 * BS), data.subarray(0, 4 * BS));
        assert.deepEqual(await again.read(8 * BS, 2 * BS), data.subarray(4 * BS));
      } finally {
        await s.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('from ordinary memory, or not aligned, go buffered with the same result', async () => {
    await withStorage(async (s) => {
      await s.createVolume('v', 16 * BS);
      const dev = s.device('v');
      const before = s.rawPool.drives.stats.directBytes;
      const a = randomBytes(2 * BS);
      await dev.write(0, a, { direct: true });
      const b = aligned(randomBytes(BS));
      // Aligned memory at a byte offset inside a block: the position is not aligned.
      await dev.write(4 * BS + 100, b.subarray(0, 1000), { direct: true });
      assert.equal(s.rawPool.drives.stats.directBytes, before);
      assert.deepEqual(await dev.read(0, 2 * BS), a);
      const want = Buffer.alloc(BS);
      b.copy(want, 100, 0, 1000);
      assert.deepEqual(await dev.read(4 * BS, BS), want);
    });
  });

  it('mix with buffered writes, partial writes and snapshots: the newest bytes win, snapshots keep theirs', async () => {
    await withStorage(async (s) => {
      await s.createVolume('v', 8 * BS);
      const dev = s.device('v');
      const old = randomBytes(4 * BS);
      await dev.write(0, old); // buffered, cached
      assert.deepEqual(await dev.read(0, 4 * BS), old); // the cache holds these pages now
      await s.createSnapshot('v', 'snap');
      const fresh = randomBytes(4 * BS);
      await dev.write(0, aligned(fresh), { direct: true }); // copy-on-write: new blocks
      const over = randomBytes(2 * BS);
      await dev.write(BS, aligned(over), { direct: true }); // in place over the direct ones
      const tail = randomBytes(300);
      await dev.write(3 * BS + 7, tail); // buffered partial write after the direct one
      const want = Buffer.from(fresh);
      over.copy(want, BS);
      tail.copy(want, 3 * BS + 7);
      assert.deepEqual(await dev.read(0, 4 * BS), want);
      assert.deepEqual(await s.snapshotDevice('v', 'snap').read(0, 4 * BS), old);
      // In place over blocks first written buffered (and still in the cache).
      const cached = randomBytes(2 * BS);
      await dev.write(5 * BS, cached);
      assert.deepEqual(await dev.read(5 * BS, 2 * BS), cached);
      const replaced = randomBytes(2 * BS);
      await dev.write(5 * BS, aligned(replaced), { direct: true });
      assert.deepEqual(await dev.read(5 * BS, 2 * BS), replaced);
    });
  });
});
