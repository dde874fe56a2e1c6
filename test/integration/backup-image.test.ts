/**
 * The restore data path's reuse of memory, on real parts (a NodeStorage pool, the
 * DirectoryStore): a backup image hands out read buffers again once the copy engine
 * gives them back, so a reused buffer must read as zeros wherever the image has holes;
 * windows are fetched with the store's getInto where it has one and with get elsewhere,
 * to the same bytes; damage read through either is still named by the object key.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BackupImageDevice, backupVolume, readCatalog } from '../../src/backup/index.js';
import { BlockSet } from '../../src/block/block-set.js';
import { copyBlocks } from '../../src/block/copy-engine.js';
import { MemoryDevice } from '../../src/block/memory-device.js';
import { ReboundError } from '../../src/errors.js';
import { DirectoryStore } from '../../src/objectstore/index.js';
import type { ObjectStore } from '../../src/objectstore/types.js';
import { NodeStorage } from '../../src/volume/index.js';

const MiB = 1024 * 1024;
const BS = 65536;
const SIZE = 8 * MiB; // 128 blocks

/** The store without getInto: what an S3 store looks like to the image. */
function withoutGetInto(inner: ObjectStore): ObjectStore {
  return {
    description: inner.description,
    put: (k, b) => inner.put(k, b),
    get: (k, r) => inner.get(k, r),
    head: (k) => inner.head(k),
    list: (p) => inner.list(p),
    delete: (k) => inner.delete(k),
    close: () => inner.close(),
  };
}

describe('backup image memory reuse', () => {
  let dir: string;
  let storage: NodeStorage;
  let store: DirectoryStore;
  let source: Buffer;
  let key: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'backup-image-'));
    storage = await NodeStorage.init(join(dir, 'pool'), { drives: [{ sizeBytes: 64 * MiB }] });
    store = new DirectoryStore(join(dir, 'store'));
    await storage.createVolume('v', SIZE);
    const dev = storage.hostDevice('v');
    // Blocks 0-31: data (text and noise). 32-63: every other block a hole. Rest: holes,
    // but for a zero-filled written block at 100 (a ZERO entry).
    for (let b = 0; b < 64; b++) {
      if (b >= 32 && b % 2 === 1) continue;
      await dev.write(b * BS, b % 3 === 0 ? randomBytes(BS) : Buffer.alloc(BS, `block ${b} `));
    }
    await dev.write(100 * BS, Buffer.alloc(BS));
    await dev.flush();
    source = await dev.read(0, SIZE);
    const r = await backupVolume(storage, 'v', store, { method: 'full', objectSizeBytes: 512 * 1024 });
    key = r.generationKey;
  });

  after(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads zeros over holes in a buffer given back full of data', async () => {
    const img = await BackupImageDevice.open(store, key);
    const a = await img.read(0, 16 * BS);
    assert.deepEqual(a, source.subarray(0, 16 * BS));
    img.recycle(a);
    const b = await img.read(32 * BS, 16 * BS);
    assert.equal(b.buffer, a.buffer, 'the buffer given back is handed out again');
    assert.deepEqual(b, source.subarray(32 * BS, 48 * BS));
    img.recycle(b);
    // Unaligned, over a zero entry and holes.
    const c = await img.read(99 * BS + 100, 16 * BS);
    assert.equal(c.buffer, a.buffer);
    assert.deepEqual(c, Buffer.alloc(16 * BS));
    // A part of a buffer, or a buffer it never handed out, is not taken.
    img.recycle(c.subarray(BS));
    img.recycle(Buffer.alloc(16 * BS));
    const d = await img.read(0, 16 * BS);
    assert.notEqual(d.buffer, a.buffer);
    assert.deepEqual(d, source.subarray(0, 16 * BS));
  });

  it('readData: every data block right in a reused buffer, holes and zero blocks as blockStatus says', async () => {
    const img = await BackupImageDevice.open(store, key);
    const a = await img.read(0, 16 * BS);
    img.recycle(a);
    // Blocks 32-47: every other one a hole; the reused buffer held data there.
    const b = await img.readData(32 * BS, 16 * BS);
    assert.equal(b.buffer, a.buffer);
    const extents = await img.blockStatus(32 * BS, 16 * BS);
    assert.equal(extents.length, 16);
    for (const e of extents) {
      const at = e.offset - 32 * BS;
      if (e.zero) continue; // left as they were: never looked at
      assert.deepEqual(b.subarray(at, at + e.length), source.subarray(e.offset, e.offset + e.length));
    }
    img.recycle(b);
    // read after readData on the same buffer: zeros again where the holes are.
    const c = await img.read(32 * BS, 16 * BS);
    assert.equal(c.buffer, a.buffer);
    assert.deepEqual(c, source.subarray(32 * BS, 48 * BS));
  });

  it('fetches with getInto where the store has it and with get elsewhere, to the same bytes', async () => {
    const direct = await BackupImageDevice.open(store, key, { maxFetchBytes: 256 * 1024 });
    const viaGet = await BackupImageDevice.open(withoutGetInto(store), key, { maxFetchBytes: 256 * 1024 });
    for (const img of [direct, viaGet]) {
      for (let at = 0; at < SIZE; at += 3 * BS + 4096) {
        const n = Math.min(3 * BS + 4096, SIZE - at);
        assert.deepEqual(await img.read(at, n), source.subarray(at, at + n), `read at ${at}`);
      }
    }
    assert.equal(direct.stats.fetches, viaGet.stats.fetches);
    assert.equal(direct.stats.bytesFetched, viaGet.stats.bytesFetched);
  });

  it('restores through reused buffers byte for byte', async () => {
    const img = await BackupImageDevice.open(store, key);
    const dest = new MemoryDevice(SIZE);
    const given: Buffer[] = [];
    await copyBlocks({
      source: img,
      dest,
      blocks: img.plan.held,
      maxIoBytes: 4 * BS,
      mergeHoleBytes: 4 * BS,
      concurrency: 2,
      zeroes: 'skip',
      recycle: (data) => {
        given.push(data);
        img.recycle(data);
      },
    });
    assert.deepEqual(await dest.read(0, SIZE), source);
    assert.ok(given.length > 0);
    assert.ok(new Set(given.map((b) => b.buffer)).size < given.length, 'buffers were reused');
  });

  it('names the data object of a damaged payload, read through getInto or get', async () => {
    const gen = await readCatalog(store, key);
    const objKey = `${gen.key.slice(0, gen.key.indexOf('/catalog/'))}/data/${gen.catalog.id}/000000`;
    const file = join(dir, 'store', objKey);
    const original = await readFile(file);
    const bad = Buffer.from(original);
    bad[40] ^= 0x01; // in the first payload (block 0)
    await writeFile(file, bad);
    try {
      for (const s of [store, withoutGetInto(store)]) {
        const img = await BackupImageDevice.open(s, key);
        await assert.rejects(img.read(0, 4 * BS), (err) => {
          assert.ok(err instanceof ReboundError && err.code === 'BACKUP_OBJECT_CORRUPT', String(err));
          assert.ok(err.message.includes(objKey), err.message);
          return true;
        });
      }
    } finally {
      await writeFile(file, original);
    }
  });

  it('DirectoryStore.getInto: bytes in place, short past the end, errors as get', async () => {
    await store.put('t/obj', Buffer.from('0123456789'));
    const into = Buffer.alloc(8, 0xee);
    assert.equal(await store.getInto('t/obj', { offset: 2, length: 4 }, into), 4);
    assert.equal(into.toString('latin1', 0, 4), '2345');
    assert.equal(into[4], 0xee, 'nothing past the range is written');
    assert.equal(await store.getInto('t/obj', { offset: 7, length: 8 }, into), 3);
    assert.equal(into.toString('latin1', 0, 3), '789');
    await assert.rejects(store.getInto('t/none', { offset: 0, length: 1 }, into), {
      code: 'OBJECT_NOT_FOUND',
    });
    await assert.rejects(store.getInto('t/obj', { offset: 0, length: 9 }, into), {
      code: 'INVALID_ARGUMENT',
    });
    await store.delete('t/obj');
  });
});

describe('copy engine recycle', () => {
  it('gives back each buffer read once its writes resolve, never one whose write failed', async () => {
    const source = new MemoryDevice(16 * BS);
    await source.write(0, randomBytes(16 * BS));
    const dest = new MemoryDevice(16 * BS);
    const read: Buffer[] = [];
    const src = Object.assign(Object.create(source) as MemoryDevice, {
      read: async (o: number, l: number) => {
        const b = await source.read(o, l);
        read.push(b);
        return b;
      },
    });
    const blocks = new BlockSet(16);
    blocks.addRange(0, 16);
    const given: Buffer[] = [];
    await copyBlocks({ source: src, dest, blocks, maxIoBytes: 4 * BS, recycle: (b) => given.push(b) });
    assert.equal(given.length, 4);
    assert.deepEqual(new Set(given), new Set(read));

    const failing = Object.assign(Object.create(dest) as MemoryDevice, {
      write: async () => {
        throw new ReboundError('IO_ERROR', 'injected');
      },
    });
    given.length = 0;
    await assert.rejects(
      copyBlocks({ source: src, dest: failing, blocks, maxIoBytes: 4 * BS, recycle: (b) => given.push(b) }),
      { code: 'IO_ERROR' },
    );
    assert.equal(given.length, 0);
  });
});
