/**
 * Incrementals of partly changed blocks: a pool of 64 KiB blocks tracks writes in 4 KiB
 * grains, and an incremental stores only the grains that changed (partial entries,
 * docs/formats/backup.md). Every generation restores byte for byte, through chains of
 * partial entries, retention merges (stacked entries), a delta applied onto its parent,
 * and a restart (which forgets the grains: blocks count whole, never less).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BackupImageDevice,
  backupBitmaps,
  backupVolume,
  deleteGeneration,
  readCatalog,
  restoreGeneration,
  verifyGeneration,
  verifyStore,
} from '../../src/backup/index.js';
import type { BlockDevice } from '../../src/block/index.js';
import { DirectoryStore } from '../../src/objectstore/index.js';
import { NodeStorage } from '../../src/volume/index.js';
import { volumeBytes } from '../helpers/volume-bytes.js';

const MiB = 1024 * 1024;
const BS = 65536;
const G = 4096;
const SIZE = 16 * MiB;

describe('incrementals of partly changed blocks (4 KiB grains in 64 KiB blocks)', () => {
  let dir: string;
  let storage: NodeStorage;
  let store: DirectoryStore;
  const images: { key: string; bytes: Buffer; name: string }[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rebound-grains-'));
    storage = await NodeStorage.init(join(dir, 'pool'), {
      drives: [{ sizeBytes: 256 * MiB }],
      blockSizeBytes: BS,
    });
    store = new DirectoryStore(join(dir, 'store'));
    await storage.createVolume('v', SIZE);
    // Text in the first half (compressible), noise in the second.
    const dev = storage.hostDevice('v');
    await dev.write(0, Buffer.alloc(SIZE / 2, 'grain test '));
    await dev.write(SIZE / 2, randomBytes(SIZE / 2));
    const full = await backupVolume(storage, 'v', store, { method: 'full' });
    images.push({ key: full.generationKey, bytes: await volumeBytes(storage, 'v'), name: 'full' });
  });
  after(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('marks only the grains a write touches, whole blocks for whole writes', async () => {
    const dev = storage.hostDevice('v');
    const bitmap = backupBitmaps(storage, 'v', store).incremental!;
    await dev.write(5 * BS + 3 * G + 100, randomBytes(512)); // inside grain 3
    await dev.write(9 * BS - 2048, randomBytes(G)); // grain 15 of block 8, grain 0 of block 9
    await dev.write(20 * BS + 2 * G, randomBytes(3 * BS - G)); // block 20 from grain 2, 21 and 22 whole, block 23 grain 0
    await dev.writeZeroes(30 * BS + G, G); // a zeroed grain
    await dev.write(200 * BS + 7 * G, Buffer.alloc(G, 'x')); // text in the noise half
    const grains = storage.getBitmapGrains('v', bitmap);
    assert.equal(grains.grainBytes, G);
    assert.equal(grains.maskOf(5), 1 << 3);
    assert.equal(grains.maskOf(8), 1 << 15);
    assert.equal(grains.maskOf(9), 1);
    assert.equal(grains.maskOf(20), 0xfffc);
    assert.equal(grains.maskOf(21), 0xffff, 'whole');
    assert.equal(grains.maskOf(23), 1);
    assert.equal(grains.maskOf(30), 1 << 1);
    // A second write to another grain of a marked block widens its mask.
    await dev.write(5 * BS + 9 * G, randomBytes(G));
    assert.equal(storage.getBitmapGrains('v', bitmap).maskOf(5), (1 << 3) | (1 << 9));
  });

  it('stores only the changed grains, and restores each generation byte for byte', async () => {
    const inc1 = await backupVolume(storage, 'v', store, { method: 'incremental' });
    assert.equal(inc1.method, 'incremental');
    assert.equal(inc1.blocks, 9, 'blocks 5, 8, 9, 20-23, 30, 200');
    // Partial blocks read and store their grains only: 2 + 1 + 1 + 14 + 1 + 1 + 1 grains
    // and two whole blocks, against 9 whole blocks without grains.
    assert.equal(inc1.bytesRead, (2 + 1 + 1 + 14 + 1 + 1 + 1) * G + 2 * BS);
    assert.ok(inc1.bytesStored <= inc1.bytesRead, `${inc1.bytesStored} stored`);
    const raw = await readFile(join(dir, 'store', inc1.catalog.metadataKey));
    assert.equal(raw.readUInt16BE(4), 2, 'metadata version 2: partial entries');
    images.push({ key: inc1.generationKey, bytes: await volumeBytes(storage, 'v'), name: 'inc1' });

    // Same blocks again, other grains and the same ones, plus a new block.
    const dev = storage.hostDevice('v');
    await dev.write(5 * BS + 3 * G, randomBytes(G));
    await dev.write(5 * BS + 4 * G, randomBytes(2 * G));
    await dev.write(20 * BS, randomBytes(G));
    await dev.write(100 * BS + 15 * G, randomBytes(G));
    const inc2 = await backupVolume(storage, 'v', store, { method: 'incremental' });
    assert.equal(inc2.catalog.parent, inc1.generationKey);
    assert.equal(inc2.bytesRead, 5 * G);
    images.push({ key: inc2.generationKey, bytes: await volumeBytes(storage, 'v'), name: 'inc2' });

    await dev.write(9 * BS + 8 * G, randomBytes(G));
    const diff = await backupVolume(storage, 'v', store, { method: 'differential' });
    assert.equal(diff.catalog.parent, images[0].key);
    // Since the full: the grains of both incrementals and this write, merged per block.
    assert.equal(diff.blocks, 10);
    images.push({ key: diff.generationKey, bytes: await volumeBytes(storage, 'v'), name: 'diff' });

    for (const [i, img] of images.entries()) {
      await restoreGeneration(storage, store, img.key, { volume: `r${i}` });
      assert.ok((await volumeBytes(storage, `r${i}`)).equals(img.bytes), `restore of ${img.name}`);
    }
    const v = await verifyStore(store);
    assert.ok(v.ok, JSON.stringify(v.problems));
  });

  it('serves partly held blocks through the image device, read by any cut', async () => {
    const img = images[2]; // inc2: blocks from three generations
    const dev = await BackupImageDevice.open(store, img.key);
    assert.ok(dev.plan.layers.size > 0, 'blocks built from several entries');
    for (const [offset, length] of [
      [5 * BS, BS],
      [5 * BS + 3 * G - 7, 2 * G + 13],
      [8 * BS + 60000, 10000],
      [19 * BS, 6 * BS],
      [0, SIZE],
    ]) {
      const got = await dev.read(offset, length);
      assert.ok(got.equals(img.bytes.subarray(offset, offset + length)), `read ${offset}+${length}`);
    }
    const ranges = [5, 8, 9, 20, 30, 100].map((b) => ({ offset: b * BS, length: BS }));
    const batch = await dev.readDataRanges(ranges);
    assert.ok(
      batch.equals(Buffer.concat(ranges.map((r) => img.bytes.subarray(r.offset, r.offset + r.length)))),
    );
  });

  it('applies a delta of partial entries onto a volume at its parent, leaving the other grains', async () => {
    await restoreGeneration(storage, store, images[1].key, { volume: 'apply' });
    const r = await restoreGeneration(storage, store, images[2].key, {
      volume: 'apply',
      existing: 'overwrite',
      onlyNewest: true,
    });
    assert.ok((await volumeBytes(storage, 'apply')).equals(images[2].bytes));
    assert.equal(r.bytesCopied, 5 * G, 'only the grains of the delta');
    // inc1 onto the full: its partial entries include a zeroed grain and a 512-byte write.
    await restoreGeneration(storage, store, images[0].key, { volume: 'apply1' });
    await restoreGeneration(storage, store, images[1].key, {
      volume: 'apply1',
      existing: 'overwrite',
      onlyNewest: true,
    });
    assert.ok((await volumeBytes(storage, 'apply1')).equals(images[1].bytes), 'inc1 applied onto the full');
  });

  it('retention merges keep partial entries over their parents (stacked), and chains still restore', async () => {
    // inc1 goes: inc2 absorbs it; its partial entries over inc1's partial ones stack.
    const del = await deleteGeneration(store, images[1].key);
    assert.deepEqual(del.deleted, [images[1].key]);
    const merged = await readCatalog(store, images[2].key);
    assert.equal(merged.catalog.revision, 1);
    const dev = await BackupImageDevice.open(store, images[2].key);
    const top = dev.plan.chain.length - 1;
    assert.ok(
      [...dev.plan.layers.values()].some((ls) => ls.filter((l) => l.gen === top).length >= 2),
      'a partial entry stacked over its absorbed parent',
    );
    await restoreGeneration(storage, store, images[2].key, { volume: 'check' });
    assert.ok((await volumeBytes(storage, 'check')).equals(images[2].bytes), 'inc2 after merging inc1');
    // The full goes: inc2 and the differential absorb it and become fulls.
    await deleteGeneration(store, images[0].key);
    for (const img of [images[2], images[3]]) {
      const gen = await readCatalog(store, img.key);
      assert.equal(gen.catalog.parent, null);
      await restoreGeneration(storage, store, img.key, { volume: 'check', existing: 'overwrite' });
      assert.ok(
        (await volumeBytes(storage, 'check')).equals(img.bytes),
        `${img.name} after merging the full`,
      );
    }
    const v = await verifyStore(store);
    assert.ok(v.ok, JSON.stringify(v.problems));
  });

  it('after a restart, blocks marked before it count whole (more is sent, never less)', async () => {
    const dev = storage.hostDevice('v');
    await dev.write(40 * BS + 5 * G, randomBytes(G));
    await storage.close();
    storage = await NodeStorage.open(join(dir, 'pool'));
    const bitmap = backupBitmaps(storage, 'v', store).incremental!;
    assert.equal(storage.getBitmapGrains('v', bitmap).maskOf(40), 0xffff);
    await storage.hostDevice('v').write(41 * BS + 2 * G, randomBytes(G));
    const inc = await backupVolume(storage, 'v', store, { method: 'incremental' });
    assert.equal(inc.bytesRead, BS + G, 'block 40 whole, block 41 one grain');
    await restoreGeneration(storage, store, inc.generationKey, { volume: 'after-restart' });
    assert.ok((await volumeBytes(storage, 'after-restart')).equals(await volumeBytes(storage, 'v')));
  });

  it('flushes a delta along its apply, not only at the end', async () => {
    // 1,500 partial blocks: six batches of the apply (four at a time), so a flush started
    // after the first batches comes before the last batches' writes. Sparse, in a pool of
    // its own: each block holds one grain.
    const blocks = 1500;
    const pool = await NodeStorage.init(join(dir, 'pool-scattered'), {
      drives: [{ sizeBytes: 1024 * MiB }],
      blockSizeBytes: BS,
    });
    try {
      await pool.createVolume('scattered', blocks * BS);
      const base = await backupVolume(pool, 'scattered', store, { method: 'full' });
      const dev = pool.hostDevice('scattered');
      for (let b = 0; b < blocks; b++) await dev.write(b * BS + (b % 16) * G, randomBytes(G));
      // Small data objects: a batch's entries (256 grains) span several.
      const delta = await backupVolume(pool, 'scattered', store, {
        method: 'incremental',
        objectSizeBytes: 64 * 1024,
      });
      assert.equal(delta.bytesStored, blocks * G, 'one grain a block');
      assert.equal(delta.dataObjects, Math.ceil((blocks * G) / (64 * 1024)));
      await restoreGeneration(pool, store, base.generationKey, { volume: 'scattered-apply' });
      // The real storage, the order of its device's writes and flushes noted.
      const events: string[] = [];
      const noting = new Proxy(pool, {
        get(target, key) {
          if (key !== 'device') {
            const v = Reflect.get(target, key);
            return typeof v === 'function' ? v.bind(target) : v;
          }
          return (name: string) =>
            new Proxy(target.device(name), {
              get(t, k) {
                if (k === 'flush' || k === 'write')
                  return (...a: Parameters<BlockDevice['write']>) => {
                    events.push(k);
                    return k === 'flush' ? t.flush() : t.write(...a);
                  };
                const v = Reflect.get(t, k);
                return typeof v === 'function' ? v.bind(t) : v;
              },
            });
        },
      });
      const r = await restoreGeneration(noting, store, delta.generationKey, {
        volume: 'scattered-apply',
        existing: 'overwrite',
        onlyNewest: true,
        flushEveryBytes: 64 * 1024,
      });
      assert.equal(r.bytesCopied, blocks * G);
      assert.ok(
        (await volumeBytes(pool, 'scattered-apply')).equals(await volumeBytes(pool, 'scattered')),
        'the delta applied byte for byte',
      );
      const grains = events.slice(events.indexOf('write'), events.lastIndexOf('write'));
      const along = grains.filter((e) => e === 'flush').length;
      assert.ok(along >= 1, `a flush between the grains' writes (${along} of ${events.length} calls)`);
    } finally {
      await pool.close();
    }
  });

  it('catches a flipped byte in a partial entry in verify and in restore', async () => {
    await storage.hostDevice('v').write(60 * BS + 6 * G, randomBytes(G));
    const inc = await backupVolume(storage, 'v', store, { method: 'incremental', compression: 'none' });
    assert.equal(inc.bytesRead, G);
    const objKey = join(dir, 'store', inc.catalog.metadataKey.replace('/meta/', '/data/'), '000000');
    const obj = await readFile(objKey);
    obj[obj.length - 100] ^= 1;
    await writeFile(objKey, obj);
    const v = await verifyGeneration(store, inc.generationKey);
    assert.equal(v.ok, false);
    assert.ok(
      v.problems.some((p) => p.block === 60 && p.code === 'BACKUP_OBJECT_CORRUPT'),
      JSON.stringify(v.problems),
    );
    await assert.rejects(restoreGeneration(storage, store, inc.generationKey, { volume: 'damaged' }), {
      code: 'BACKUP_OBJECT_CORRUPT',
    });
  });
});
