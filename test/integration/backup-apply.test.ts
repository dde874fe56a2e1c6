/**
 * Applying one generation as a delta (restore onlyNewest, a failback through the object
 * store) on real parts: a NodeStorage pool of 4 KiB blocks, the DirectoryStore, the codec
 * pool. Scattered changed blocks are read in batches (the image's readDataRanges, one
 * codec job per fetch window) and must land byte for byte; a damaged payload fails its
 * batch, names its object and writes nothing of it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CodecPool } from '../../src/backup/codec-pool.js';
import { BackupImageDevice, backupVolume, restoreGeneration } from '../../src/backup/index.js';
import { ReboundError } from '../../src/errors.js';
import { DirectoryStore } from '../../src/objectstore/index.js';
import { NodeStorage } from '../../src/volume/index.js';

const MiB = 1024 * 1024;
const BS = 4096;
const SIZE = 8 * MiB; // 2048 blocks

describe('applying a generation of scattered blocks', () => {
  let dir: string;
  let storage: NodeStorage;
  let store: DirectoryStore;
  let fullKey: string;
  let incKey: string;
  let base: Buffer;
  let changed: Buffer;
  const blocks: number[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'backup-apply-'));
    storage = await NodeStorage.init(join(dir, 'pool'), {
      blockSizeBytes: BS,
      drives: [{ sizeBytes: 128 * MiB }],
    });
    store = new DirectoryStore(join(dir, 'store'));
    await storage.createVolume('v', SIZE);
    const dev = storage.hostDevice('v');
    await dev.write(0, randomBytes(SIZE));
    await dev.flush();
    base = await dev.read(0, SIZE);
    fullKey = (await backupVolume(storage, 'v', store, { method: 'full' })).generationKey;
    // 200 scattered blocks (one batch of the copy engine: 1 MiB of 4 KiB blocks), every
    // tenth changed to zeros (a ZERO entry: written as zeroes).
    for (let b = 3; blocks.length < 200; b += 5 + (b % 3)) blocks.push(b);
    for (const [i, b] of blocks.entries()) {
      await dev.write(b * BS, i % 10 === 0 ? Buffer.alloc(BS) : Buffer.alloc(BS, `changed ${b} `));
    }
    await dev.flush();
    changed = await dev.read(0, SIZE);
    incKey = (await backupVolume(storage, 'v', store, { method: 'incremental' })).generationKey;
  });

  after(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A volume at the full generation (the parent of the incremental). */
  async function atBase(name: string): Promise<void> {
    await restoreGeneration(storage, store, fullKey, { volume: name });
    assert.deepEqual(await storage.device(name).read(0, SIZE), base);
  }

  it('restores the changed blocks byte for byte, with few codec jobs', async () => {
    await atBase('p');
    const r = await restoreGeneration(storage, store, incKey, {
      volume: 'p',
      onlyNewest: true,
      existing: 'overwrite',
    });
    assert.equal(r.bytesCopied + r.bytesZeroed, blocks.length * BS);
    assert.deepEqual(r.chain.length, 2, 'the whole chain is still resolved');
    assert.deepEqual(await storage.device('p').read(0, SIZE), changed);
  });

  it('decodes a batch of scattered ranges in one job per fetch window', async () => {
    const pool = new CodecPool({ workers: 0 });
    let jobs = 0;
    const decode = pool.decode.bind(pool);
    pool.decode = (data, p) => {
      jobs++;
      return decode(data, p);
    };
    const img = await BackupImageDevice.open(store, incKey, { codecPool: pool, newestOnly: true });
    // The image shows the incremental alone: its blocks, holes elsewhere.
    assert.equal(img.plan.held.count(), blocks.length);
    const ranges = blocks.slice(0, 100).map((b) => ({ offset: b * BS, length: BS }));
    const out = await img.readDataRanges(ranges);
    assert.equal(out.length, 100 * BS);
    for (const [i, b] of blocks.slice(0, 100).entries()) {
      if (i % 10 === 0) continue; // a zero block: its bytes are not data (readData)
      assert.deepEqual(
        out.subarray(i * BS, (i + 1) * BS),
        changed.subarray(b * BS, (b + 1) * BS),
        `block ${b}`,
      );
    }
    assert.equal(jobs, 1, 'one window, one job');
    img.recycle(out);
    // Unaligned ranges are read one by one, to the same bytes.
    const odd = [
      { offset: blocks[1] * BS + 100, length: 50 },
      { offset: blocks[2] * BS + 8, length: BS - 8 },
      { offset: blocks[3] * BS, length: 100 },
    ];
    const got = await img.readDataRanges(odd);
    assert.deepEqual(got, Buffer.concat(odd.map((r) => changed.subarray(r.offset, r.offset + r.length))));
    await assert.rejects(img.readDataRanges([odd[1], odd[0]]), { code: 'INVALID_ARGUMENT' });
  });

  it('fails on a damaged payload, naming its object, and writes nothing of its batch', async () => {
    await atBase('q');
    const img = await BackupImageDevice.open(store, incKey, { newestOnly: true });
    const { meta, index } = img.plan.chain[0];
    const e = 55; // a data entry in the middle of the batch
    assert.equal(meta.flags[e] & 1, 0);
    const objKey = meta.objects[index.object[e]];
    const file = join(dir, 'store', objKey);
    const original = await readFile(file);
    const bad = Buffer.from(original);
    bad[index.offset[e] + 10] ^= 0x01;
    await writeFile(file, bad);
    try {
      await assert.rejects(
        restoreGeneration(storage, store, incKey, { volume: 'q', onlyNewest: true, existing: 'overwrite' }),
        (err) => {
          assert.ok(err instanceof ReboundError && err.code === 'BACKUP_OBJECT_CORRUPT', String(err));
          assert.ok(err.message.includes(objKey), err.message);
          return true;
        },
      );
    } finally {
      await writeFile(file, original);
    }
    // The 200 blocks are one batch: not one of them was written or zeroed.
    assert.deepEqual(await storage.device('q').read(0, SIZE), base);
  });
});
