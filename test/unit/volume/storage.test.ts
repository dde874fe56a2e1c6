/** NodeStorage: thin allocation, space accounting, snapshots, bitmaps, fence, persistence. */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isReboundError } from '../../../src/errors.js';
import { FILE_HEADER_BYTES, parseRecords } from '../../../src/pool/metalog.js';
import { NodeStorage } from '../../../src/volume/index.js';
import { RecordType } from '../../../src/volume/records.js';
import { BS, MiB, pattern, type TempStorage, tempStorage } from './helpers.js';

const code = (c: string) => (e: unknown) => isReboundError(e) && e.code === c;

describe('thin volumes', () => {
  it('allocates a pool block on first write only; unwritten space reads zeros', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      const v = await s.createVolume('v', 1024 * MiB); // bigger than the 64 MiB pool: thin
      assert.equal(v.usedBytes, 0);
      assert.equal(s.pool().usedBytes, 0);
      const d = s.device('v');
      await d.write(10, Buffer.from('abc'));
      assert.equal(s.getVolume('v').usedBytes, BS);
      await d.write(100, Buffer.from('def')); // same block again: no new block
      assert.equal(s.getVolume('v').usedBytes, BS);
      assert.equal(s.pool().usedBytes, BS);
      assert.equal(s.pool().freeBytes, s.pool().capacityBytes - BS);
      const back = await d.read(0, BS);
      assert.equal(back.subarray(10, 13).toString(), 'abc');
      assert.equal(back.subarray(100, 103).toString(), 'def');
      assert.equal(back[0], 0);
      assert.deepEqual(await d.read(900 * MiB, 4096), Buffer.alloc(4096));
      const ext = await d.blockStatus(0, 4 * BS);
      assert.deepEqual(ext[0], { offset: 0, length: BS, hole: false, zero: false });
      assert.deepEqual(ext[1], { offset: BS, length: 3 * BS, hole: true, zero: true });
    } finally {
      await t.cleanup();
    }
  });

  it('gives unique IDs from serial and never-reused volume numbers', async () => {
    const t = await tempStorage({ serial: 'ABCDEF01', drives: [{ sizeBytes: 8 * MiB }] });
    try {
      const s = t.storage;
      assert.equal(s.serial, 'ABCDEF01');
      const a = await s.createVolume('a', MiB);
      const b = await s.createVolume('b', MiB);
      assert.deepEqual([a.number, b.number], [1, 2]);
      assert.equal(b.uniqueId, 'ABCDEF01:2');
      await s.deleteVolume('b');
      await t.reopen();
      const c = await t.storage.createVolume('c', MiB);
      assert.equal(c.number, 3, 'volume numbers are never reused, even after a restart');
    } finally {
      await t.cleanup();
    }
  });

  it('answers errors by code', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await assert.rejects(s.createVolume('bad name', MiB), code('INVALID_ARGUMENT'));
      await assert.rejects(s.createVolume('v', 1000), code('INVALID_ARGUMENT'));
      await s.createVolume('v', MiB);
      await assert.rejects(s.createVolume('v', MiB), code('ALREADY_EXISTS'));
      assert.throws(() => s.getVolume('nope'), code('NOT_FOUND'));
      assert.throws(() => s.device('nope'), code('NOT_FOUND'));
      await assert.rejects(s.growVolume('v', 512), code('INVALID_ARGUMENT'));
      await assert.rejects(s.createSnapshot('nope', 's'), code('NOT_FOUND'));
      await assert.rejects(s.freezeBitmap('v', 'nope', 'x'), code('NOT_FOUND'));
      await s.createSnapshot('v', 's');
      await assert.rejects(s.deleteVolume('v'), code('BUSY'));
      await assert.rejects(s.snapshotDevice('v', 's').write(0, Buffer.alloc(1)), code('READ_ONLY'));
      await assert.rejects(s.device('v').read(MiB, 1), code('OUT_OF_RANGE'));
      await assert.rejects(NodeStorage.init(t.dir), code('ALREADY_EXISTS'));
      await assert.rejects(NodeStorage.open(`${t.dir}/nothing-here`), code('POOL_NOT_INITIALISED'));
      await assert.rejects(
        NodeStorage.init(`${t.dir}/x`, { blockSizeBytes: 3000 }),
        code('INVALID_ARGUMENT'),
      );
      await assert.rejects(NodeStorage.init(`${t.dir}/y`, { serial: 'abc' }), code('INVALID_ARGUMENT'));
    } finally {
      await t.cleanup();
    }
  });

  it('grows: the new space reads zeros and takes writes', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', MiB + 512);
      await s.createBitmap('v', 'b');
      const d = s.device('v');
      await d.write(MiB, Buffer.alloc(512, 9));
      const info = await s.growVolume('v', 4 * MiB);
      assert.equal(info.sizeBytes, 4 * MiB);
      assert.equal(d.sizeBytes, 4 * MiB);
      assert.deepEqual(
        await d.read(MiB + 512, 4096),
        Buffer.alloc(4096),
        'the grown tail of the old last block is zero',
      );
      await d.write(3 * MiB, Buffer.alloc(10, 1));
      assert.equal(s.getBitmap('v', 'b').sizeBlocks, 64);
      assert.ok(s.getBitmap('v', 'b').has(48));
      await t.reopen();
      assert.equal(t.storage.getVolume('v').sizeBytes, 4 * MiB);
      assert.deepEqual(await t.storage.device('v').read(3 * MiB, 10), Buffer.alloc(10, 1));
    } finally {
      await t.cleanup();
    }
  });
});

describe('space', () => {
  it('a full pool answers POOL_NO_SPACE, other volumes keep working, freeing space lets writes succeed', async () => {
    const t = await tempStorage({ drives: [{ sizeBytes: 8 * BS }] });
    try {
      const s = t.storage;
      await s.createVolume('a', 64 * BS);
      await s.createVolume('b', 64 * BS);
      const a = s.device('a');
      const b = s.device('b');
      await b.write(0, Buffer.alloc(BS, 0xbb));
      for (let i = 0; i < 7; i++) await a.write(i * BS, Buffer.alloc(BS, i + 1));
      assert.equal(s.pool().freeBytes, 0);
      await assert.rejects(a.write(7 * BS, Buffer.alloc(10, 1)), code('POOL_NO_SPACE'));
      await assert.rejects(b.write(BS, Buffer.alloc(10, 1)), code('POOL_NO_SPACE'));
      // Writes to mapped blocks and reads still work.
      await b.write(100, Buffer.from('still fine'));
      assert.equal((await b.read(100, 10)).toString(), 'still fine');
      assert.deepEqual(await a.read(3 * BS, BS), Buffer.alloc(BS, 4));
      // Trim gives blocks back (whole blocks only).
      await a.trim(BS + 1, 3 * BS); // covers blocks 2 and 3 whole, 1 and 4 partly
      assert.equal(s.getVolume('a').usedBytes, 5 * BS);
      assert.deepEqual(await a.read(2 * BS, 2 * BS), Buffer.alloc(2 * BS));
      await b.write(5 * BS, Buffer.alloc(BS, 0x55));
      await b.write(6 * BS, Buffer.alloc(BS, 0x66));
      assert.deepEqual(await b.read(6 * BS, BS), Buffer.alloc(BS, 0x66));
      await assert.rejects(b.write(7 * BS, Buffer.alloc(1, 1)), code('POOL_NO_SPACE'));
      // Deleting a volume gives its blocks back.
      await s.deleteVolume('a');
      assert.equal(s.pool().usedBytes, 3 * BS);
      await b.write(7 * BS, Buffer.alloc(BS, 0x77));
      assert.deepEqual(await b.read(7 * BS, BS), Buffer.alloc(BS, 0x77));
    } finally {
      await t.cleanup();
    }
  });

  it('reuses freed blocks before growing the drive file into its holes', async () => {
    const t = await tempStorage({ drives: [{ sizeBytes: 64 * MiB }] });
    try {
      const s = t.storage;
      const drive = join(t.dir, 'drives/drive0.img');
      const allocated = async () => {
        const bytes = (await stat(drive)).blocks * 512;
        assert.equal(s.pool().diskBytes, bytes, 'the pool reports what the file takes');
        return bytes;
      };
      await s.createVolume('a', 4 * MiB);
      await s.device('a').write(0, pattern(4 * MiB, 1));
      await s.device('a').flush();
      const afterA = await allocated();
      assert.ok(afterA >= 4 * MiB, `the drive holds a's 4 MiB (${afterA} bytes allocated)`);
      await s.deleteVolume('a');
      // b's blocks are a's old ones, already allocated in the file: it does not grow.
      await s.createVolume('b', 4 * MiB);
      await s.device('b').write(0, pattern(4 * MiB, 2));
      await s.device('b').flush();
      assert.equal(await allocated(), afterA);
      assert.deepEqual(await s.device('b').read(0, 4 * MiB), pattern(4 * MiB, 2));
    } finally {
      await t.cleanup();
    }
  });

  it('never shows stale data when a freed block is reused by another volume', async () => {
    const t = await tempStorage({ drives: [{ sizeBytes: 2 * BS }] });
    try {
      const s = t.storage;
      await s.createVolume('a', 4 * BS);
      await s.createVolume('b', 4 * BS);
      await s.device('a').write(0, Buffer.alloc(2 * BS, 0xaa));
      await s.device('a').trim(0, 2 * BS);
      // b gets a's old blocks; a partial write must not expose a's bytes around it.
      await s.device('b').write(BS + 100, Buffer.from('x'));
      await s.device('b').write(10, Buffer.from('y'));
      const back = await s.device('b').read(0, 2 * BS);
      const expect = Buffer.alloc(2 * BS);
      expect[10] = 'y'.charCodeAt(0);
      expect[BS + 100] = 'x'.charCodeAt(0);
      assert.deepEqual(back, expect);
      await t.reopen();
      assert.deepEqual(await t.storage.device('b').read(0, 2 * BS), expect);
      assert.deepEqual(await t.storage.device('a').read(0, 2 * BS), Buffer.alloc(2 * BS));
    } finally {
      await t.cleanup();
    }
  });

  it('write zeroes deallocates whole blocks unless noHole, and fastOnly refuses a slow zero', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', 8 * BS);
      const d = s.device('v');
      await d.write(0, Buffer.alloc(4 * BS, 1));
      await d.writeZeroes(0, 2 * BS);
      assert.equal(s.getVolume('v').usedBytes, 2 * BS);
      await d.writeZeroes(2 * BS, BS, { noHole: true });
      assert.equal(s.getVolume('v').usedBytes, 2 * BS);
      await assert.rejects(d.writeZeroes(3 * BS + 5, 10, { fastOnly: true }), code('NOT_SUPPORTED'));
      assert.deepEqual(await d.read(3 * BS, BS), Buffer.alloc(BS, 1), 'a refused fast zero changes nothing');
      await d.writeZeroes(4 * BS, 2 * BS, { fastOnly: true }); // unmapped: free to do
      assert.deepEqual(await d.read(0, 3 * BS), Buffer.alloc(3 * BS));
    } finally {
      await t.cleanup();
    }
  });
});

describe('persistence', () => {
  it('keeps volumes, data, snapshots, bitmaps, fence and inherited IDs across close and open', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', 4 * MiB);
      await s.createBitmap('v', 'b');
      const d = s.device('v');
      const data = pattern(300_000, 1);
      await d.write(12345, data);
      await s.createSnapshot('v', 'snap');
      await d.write(12345, Buffer.from('changed'));
      await s.fence('v');
      await s.setInheritedUniqueId('v', 'CAFEBABE:7');
      const before = s.getVolume('v');
      const usedBefore = s.pool().usedBytes;
      const s2 = await t.reopen();
      assert.deepEqual(s2.getVolume('v'), before);
      assert.equal(s2.pool().usedBytes, usedBefore);
      assert.equal(s2.getVolume('v').inheritedUniqueId, 'CAFEBABE:7');
      assert.equal(s2.getVolume('v').fenced, true);
      assert.deepEqual(await s2.snapshotDevice('v', 'snap').read(12345, data.length), data);
      const now = await s2.device('v').read(12345, data.length);
      assert.equal(now.subarray(0, 7).toString(), 'changed');
      assert.deepEqual(now.subarray(7), data.subarray(7));
      assert.deepEqual([...s2.getBitmap('v', 'b').runs()], [{ start: 0, count: 5 }]);
    } finally {
      await t.cleanup();
    }
  });

  it('survives many checkpoints (a tiny checkpoint threshold) with the same contents', async () => {
    const t = await tempStorage(undefined, { checkpointLogBytes: 4096 });
    try {
      const s = t.storage;
      await s.createVolume('v', 8 * MiB);
      const d = s.device('v');
      for (let i = 0; i < 200; i++) await d.write(((i * 7919) % 128) * BS + (i % 100), pattern(1000, i));
      await d.flush();
      const img = await d.read(0, 8 * MiB);
      await t.reopen();
      assert.deepEqual(await t.storage.device('v').read(0, 8 * MiB), img);
    } finally {
      await t.cleanup();
    }
  });
});

describe('checkpoint of the mapping tables', () => {
  it('runs and lone blocks, a volume and its snapshot: a clean reopen reads the same bytes', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', 64 * BS);
      const d = s.device('v');
      // Runs: one long sequential write (consecutive pbns), then lone blocks after a gap.
      await d.write(0, pattern(20 * BS, 1));
      for (const b of [25, 27, 40, 63]) await d.write(b * BS, pattern(BS, b));
      await s.createSnapshot('v', 'snap');
      // Copy on write in the middle of the run splits it in the volume, not in the snapshot.
      await d.write(5 * BS, pattern(2 * BS, 99));
      await d.write(30 * BS, pattern(3 * BS, 77));
      await d.flush();
      const img = await d.read(0, 64 * BS);
      const snapImg = await s.snapshotDevice('v', 'snap').read(0, 64 * BS);
      const used = s.pool().usedBytes;
      await t.reopen(); // a clean close writes a checkpoint, which the reopen reads
      // The checkpoint holds both kinds: runs (the volume's and the snapshot's first 20
      // blocks, split by the copy on write) and lone blocks.
      const types = new Map<number, number>();
      const ckpt = await readFile(join(t.dir, 'meta', 'checkpoint'));
      parseRecords(
        ckpt,
        FILE_HEADER_BYTES,
        (type) => types.set(type, (types.get(type) ?? 0) + 1),
        false,
        'test',
      );
      assert.ok(
        (types.get(RecordType.MapRuns) ?? 0) >= 2,
        `MapRuns records: ${types.get(RecordType.MapRuns)}`,
      );
      assert.ok(
        (types.get(RecordType.MapList) ?? 0) >= 2,
        `MapList records: ${types.get(RecordType.MapList)}`,
      );
      assert.deepEqual(await t.storage.device('v').read(0, 64 * BS), img);
      assert.deepEqual(await t.storage.snapshotDevice('v', 'snap').read(0, 64 * BS), snapImg);
      assert.equal(t.storage.pool().usedBytes, used, 'the same blocks in use');
    } finally {
      await t.cleanup();
    }
  });
});

describe('snapshots', () => {
  it('copy on write: the snapshot keeps old data, the volume sees new, blocks are shared until written', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', 16 * BS);
      const d = s.device('v');
      await d.write(0, Buffer.alloc(4 * BS, 0x11));
      const used = s.pool().usedBytes;
      const info = await s.createSnapshot('v', 'snap');
      assert.equal(info.sizeBytes, 16 * BS);
      assert.equal(s.pool().usedBytes, used, 'a snapshot costs nothing until blocks change');
      await d.write(BS + 10, Buffer.from('new'));
      assert.equal(s.pool().usedBytes, used + BS, 'one block copied');
      const snap = s.snapshotDevice('v', 'snap');
      assert.deepEqual(await snap.read(0, 4 * BS), Buffer.alloc(4 * BS, 0x11));
      const now = await d.read(BS, BS);
      assert.equal(now.subarray(10, 13).toString(), 'new');
      assert.equal(now[9], 0x11);
      assert.equal(now[13], 0x11);
      // Trimming the volume does not free blocks the snapshot still holds.
      await d.trim(0, 4 * BS);
      assert.equal(s.getVolume('v').usedBytes, 0);
      assert.equal(s.pool().usedBytes, 4 * BS);
      assert.deepEqual(await snap.read(0, BS), Buffer.alloc(BS, 0x11));
      assert.deepEqual(
        s.listSnapshots('v').map((x) => x.name),
        ['snap'],
      );
      await s.deleteSnapshot('v', 'snap');
      assert.equal(s.pool().usedBytes, 0);
      await assert.rejects(snap.read(0, 1), code('NOT_FOUND'));
    } finally {
      await t.cleanup();
    }
  });

  it('readInto fills a caller buffer (shared memory too) with what read returns, holes as zeros', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', 8 * BS);
      const d = s.device('v');
      await d.write(BS / 2, pattern(2 * BS, 3)); // blocks 0-2, partly
      await d.write(5 * BS, pattern(BS, 4)); // block 5; 3, 4, 6, 7 are holes
      await s.createSnapshot('v', 'snap');
      await d.write(0, Buffer.alloc(8 * BS, 0x77)); // the volume moves on
      const snap = s.snapshotDevice('v', 'snap');
      assert.ok(snap.readInto, 'a snapshot reads into caller buffers');
      const whole = await snap.read(0, 8 * BS);
      const into = Buffer.from(new SharedArrayBuffer(8 * BS + 100)).fill(0xee);
      await snap.readInto(BS / 4, into.subarray(10, 10 + 6 * BS));
      assert.deepEqual(into.subarray(10, 10 + 6 * BS), whole.subarray(BS / 4, BS / 4 + 6 * BS));
      assert.equal(into[9], 0xee, 'nothing before the range');
      assert.equal(into[10 + 6 * BS], 0xee, 'nothing after it');
      await assert.rejects(snap.readInto(7 * BS, Buffer.alloc(2 * BS)), code('OUT_OF_RANGE'));
      await s.deleteSnapshot('v', 'snap');
      await assert.rejects(snap.readInto(0, Buffer.alloc(1)), code('NOT_FOUND'));
    } finally {
      await t.cleanup();
    }
  });
});

describe('update bitmaps', () => {
  it('mark exactly the written, zeroed and trimmed blocks, rounded out', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', 64 * BS);
      const d = s.device('v');
      await d.write(0, Buffer.alloc(10, 1)); // before the bitmap: not marked
      const info = await s.createBitmap('v', 'b');
      assert.deepEqual([info.active, info.dirtyBlocks, info.blockSizeBytes], [true, 0, BS]);
      await d.write(BS - 1, Buffer.alloc(2, 1)); // blocks 0 and 1
      await d.writeZeroes(10 * BS + 5, 10); // block 10
      await d.trim(20 * BS, 3 * BS); // 20..22
      await s.hostDevice('v').write(63 * BS, Buffer.alloc(BS, 3)); // 63
      const bits = s.getBitmap('v', 'b');
      assert.deepEqual(
        [...bits.runs()],
        [
          { start: 0, count: 2 },
          { start: 10, count: 1 },
          { start: 20, count: 3 },
          { start: 63, count: 1 },
        ],
      );
      assert.equal(s.listBitmaps('v')[0].dirtyBlocks, 7);
      bits.add(40); // a copy: changing it changes nothing in the volume
      assert.equal(s.getBitmap('v', 'b').has(40), false);
    } finally {
      await t.cleanup();
    }
  });

  it('freeze moves the bits into a frozen bitmap atomically and restarts the active one empty', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', 64 * BS);
      await s.createBitmap('v', 'live');
      const d = s.device('v');
      await d.write(3 * BS, Buffer.alloc(1));
      const writes = [];
      for (let i = 0; i < 20; i++) writes.push(d.write((10 + i) * BS, Buffer.alloc(100, 1)));
      const frozen = s.freezeBitmap('v', 'live', 'fixed');
      for (let i = 0; i < 20; i++) writes.push(d.write((40 + i) * BS, Buffer.alloc(100, 1)));
      const info = await frozen;
      await Promise.all(writes);
      assert.equal(info.active, false);
      const fixed = s.getBitmap('v', 'fixed');
      const live = s.getBitmap('v', 'live');
      // Every block is in exactly one of the two: nothing lost, nothing doubled.
      for (const b of [
        3,
        ...Array.from({ length: 20 }, (_, i) => 10 + i),
        ...Array.from({ length: 20 }, (_, i) => 40 + i),
      ]) {
        assert.ok(fixed.has(b) !== live.has(b), `block ${b} in exactly one bitmap`);
      }
      assert.ok(fixed.has(3));
      assert.ok(fixed.has(10), 'writes issued before the freeze are in the frozen bitmap');
      assert.ok(live.has(59), 'writes issued after the freeze are in the active bitmap');
      // Writing more changes only the active one.
      await d.write(3 * BS, Buffer.alloc(1));
      assert.equal(s.getBitmap('v', 'fixed').count(), fixed.count());
      assert.ok(s.getBitmap('v', 'live').has(3));
      // Freezing again replaces the frozen one.
      await s.freezeBitmap('v', 'live', 'fixed');
      assert.ok(s.getBitmap('v', 'fixed').has(3));
      assert.equal(s.getBitmap('v', 'live').count(), 0);
      await assert.rejects(s.freezeBitmap('v', 'fixed', 'x'), code('INVALID_ARGUMENT'));
      await assert.rejects(s.freezeBitmap('v', 'live', 'live'), code('INVALID_ARGUMENT'));
    } finally {
      await t.cleanup();
    }
  });

  it('merge, clear and delete; all persisted across reopen', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', 64 * BS);
      await s.createBitmap('v', 'a');
      const d = s.device('v');
      await d.write(1 * BS, Buffer.alloc(1));
      await s.freezeBitmap('v', 'a', 'f1');
      await d.write(2 * BS, Buffer.alloc(1));
      await s.createBitmap('v', 'c');
      await d.write(5 * BS, Buffer.alloc(1));
      const merged = await s.mergeBitmap('v', 'a', 'f1');
      assert.equal(merged.dirtyBlocks, 3);
      await s.clearBitmap('v', 'c');
      assert.equal(s.getBitmap('v', 'c').count(), 0);
      await d.write(7 * BS, Buffer.alloc(1));
      await s.createBitmap('v', 'gone');
      await s.deleteBitmap('v', 'gone');
      const s2 = await t.reopen();
      assert.deepEqual(
        s2.listBitmaps('v').map((b) => [b.name, b.active, b.dirtyBlocks]),
        [
          ['a', true, 3],
          ['f1', false, 3],
          ['c', true, 1],
        ],
      );
      assert.deepEqual(
        [...s2.getBitmap('v', 'f1').runs()],
        [
          { start: 1, count: 2 },
          { start: 5, count: 1 },
        ],
      );
      assert.ok(s2.getBitmap('v', 'c').has(7));
      assert.throws(() => s2.getBitmap('v', 'gone'), code('NOT_FOUND'));
    } finally {
      await t.cleanup();
    }
  });
});

describe('premark', () => {
  it('marks byte ranges in every active bitmap ahead of writes, rounded out, durably; frozen ones stay', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', 64 * BS);
      await s.createBitmap('v', 'a');
      await s.device('v').write(1 * BS, Buffer.alloc(1));
      await s.freezeBitmap('v', 'a', 'f');
      await s.createBitmap('v', 'c');
      await s.device('v').write(9 * BS, Buffer.alloc(1)); // a and c have block 9
      const marked = await s.premarkBitmaps('v', [
        { offset: 3 * BS + 4096, length: 4096 }, // inside block 3
        { offset: 8 * BS, length: 3 * BS }, // 8, 9 (marked already), 10
      ]);
      assert.equal(marked, 3, 'blocks 3, 8 and 10: 9 was marked');
      assert.equal(await s.premarkBitmaps('v', [{ offset: 8 * BS, length: 3 * BS }]), 0, 'nothing new');
      await assert.rejects(
        s.premarkBitmaps('v', [{ offset: 63 * BS, length: 2 * BS }]),
        code('OUT_OF_RANGE'),
      );
      const s2 = await t.reopen();
      for (const name of ['a', 'c'])
        assert.deepEqual(
          [...s2.getBitmap('v', name).runs()],
          [
            { start: 3, count: 1 },
            { start: 8, count: 3 },
          ],
          name,
        );
      assert.deepEqual(
        [...s2.getBitmap('v', 'f').runs()],
        [{ start: 1, count: 1 }],
        'a frozen bitmap is history',
      );
    } finally {
      await t.cleanup();
    }
  });
});

describe('premark of many ranges', () => {
  /** A volume with active bitmap `a`, and 3,000 scattered 4 KiB ranges to premark: a failback's changed set, in several slices. */
  async function withScattered(
    test: (t: TempStorage, ranges: { offset: number; length: number }[]) => Promise<void>,
  ): Promise<void> {
    const t = await tempStorage();
    try {
      await t.storage.createVolume('v', 8192 * BS);
      await t.storage.createBitmap('v', 'a');
      await test(
        t,
        Array.from({ length: 3000 }, (_, i) => ({ offset: i * 2 * BS, length: 4096 })),
      );
    } finally {
      await t.cleanup();
    }
  }

  it('lets the event loop turn between slices of ranges, and marks every range durably', () =>
    withScattered(async (t, ranges) => {
      const s = t.storage;
      const premark = s.premarkBitmaps('v', ranges);
      let seenMidway = -1;
      setImmediate(() => {
        seenMidway = s.getBitmap('v', 'a').count();
      });
      assert.equal(await premark, 3000);
      assert.ok(seenMidway > 0 && seenMidway < 3000, `marked when another callback ran: ${seenMidway}`);
      const s2 = await t.reopenFromLog(); // as a crash leaves the pool: the marks replayed
      assert.equal(s2.getBitmap('v', 'a').count(), 3000);
      assert.ok(s2.getBitmap('v', 'a').has(2 * 2999));
    }));

  it('replays a freeze between two slices where it came: the bitmaps reopen as they were', () =>
    withScattered(async (t, ranges) => {
      const s = t.storage;
      const premark = s.premarkBitmaps('v', ranges);
      let frozen: Promise<unknown> | undefined;
      setImmediate(() => {
        frozen = s.freezeBitmap('v', 'a', 'f');
      });
      await premark;
      await frozen;
      const before = { a: [...s.getBitmap('v', 'a').runs()], f: [...s.getBitmap('v', 'f').runs()] };
      assert.ok(before.a.length > 0 && before.f.length > 0, 'marks on both sides of the freeze');
      const s2 = await t.reopenFromLog(); // the marks replayed, not read from a checkpoint
      assert.deepEqual([...s2.getBitmap('v', 'a').runs()], before.a, 'a: the marks after the freeze');
      assert.deepEqual([...s2.getBitmap('v', 'f').runs()], before.f, 'f: the marks before it');
    }));
});

describe('fence', () => {
  it('waits for in-flight host requests, then refuses host I/O; the engine device ignores it', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', 64 * BS);
      const host = s.hostDevice('v');
      const inflight = [];
      for (let i = 0; i < 16; i++) inflight.push(host.write(i * BS, Buffer.alloc(4096, i + 1)));
      let done = 0;
      for (const p of inflight) p.then(() => done++);
      await s.fence('v');
      assert.equal(done, 16, 'fence resolved only after every in-flight host write finished');
      assert.equal(s.getVolume('v').fenced, true);
      await assert.rejects(host.read(0, 1), code('VOLUME_FENCED'));
      await assert.rejects(host.write(0, Buffer.alloc(1)), code('VOLUME_FENCED'));
      await assert.rejects(s.hostDevice('v').flush(), code('VOLUME_FENCED'));
      await s.device('v').write(0, Buffer.from('engine'));
      assert.equal((await s.device('v').read(0, 6)).toString(), 'engine');
      await t.reopen();
      await assert.rejects(t.storage.hostDevice('v').read(0, 1), code('VOLUME_FENCED'));
      await t.storage.unfence('v');
      assert.equal((await t.storage.hostDevice('v').read(0, 6)).toString(), 'engine');
    } finally {
      await t.cleanup();
    }
  });
});
