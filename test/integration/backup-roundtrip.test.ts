/**
 * Backups end to end on real parts: a NodeStorage pool in a temp dir, the DirectoryStore.
 * Full, incremental and differential generations; every one restored into a fresh volume
 * and compared with what the volume held at backup time; damage caught by verify and
 * restore; a failed upload loses no changed block; retention keeps what is left restorable.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  applyRetention,
  BackupImageDevice,
  backupBitmaps,
  backupVolume,
  cleanupOrphans,
  deleteGeneration,
  listGenerations,
  protectGeneration,
  readCatalog,
  restoreGeneration,
  verifyGeneration,
  verifyStore,
} from '../../src/backup/index.js';
import { DIRECT_MIN_BYTES } from '../../src/block/copy-engine.js';
import { ReboundError } from '../../src/errors.js';
import { DirectoryStore } from '../../src/objectstore/index.js';
import type { ObjectStore } from '../../src/objectstore/types.js';
import { NodeStorage } from '../../src/volume/index.js';
import { directIo } from '../helpers/direct-io.js';
import { volumeBytes } from '../helpers/volume-bytes.js';

const MiB = 1024 * 1024;
const BS = 65536;
const SIZE = 32 * MiB;

function pattern(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  // Half compressible text, half noise, so both block paths run.
  if (seed % 2 === 0) b.fill(`seed ${seed} `);
  else randomBytes(length).copy(b);
  return b;
}

/** A store whose puts fail after `okPuts` (fault injection). */
function failingPuts(inner: ObjectStore, okPuts: number): ObjectStore {
  let n = 0;
  return {
    description: inner.description,
    async put(key, body) {
      if (n++ >= okPuts) throw new ReboundError('STORE_UNREACHABLE', `put ${key}: injected failure`);
      return inner.put(key, body);
    },
    get: (k, r) => inner.get(k, r),
    head: (k) => inner.head(k),
    list: (p) => inner.list(p),
    delete: (k) => inner.delete(k),
    close: () => inner.close(),
  };
}

describe('backup and restore round trip', () => {
  let dir: string;
  let storage: NodeStorage;
  let store: DirectoryStore;
  const images: { key: string; bytes: Buffer; method: string }[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rebound-backup-'));
    storage = await NodeStorage.init(join(dir, 'pool'), { drives: [{ sizeBytes: 256 * MiB }] });
    store = new DirectoryStore(join(dir, 'store'));
    await storage.createVolume('db', SIZE);
  });
  after(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes full, incremental and differential generations with the right blocks', async () => {
    const dev = storage.hostDevice('db');
    await dev.write(0, pattern(4 * BS, 2));
    await dev.write(10 * BS, pattern(3 * BS, 3));
    await dev.write(100 * BS + 4096, pattern(8192, 5)); // a partial block
    const progress: number[] = [];
    const full = await backupVolume(storage, 'db', store, {
      method: 'incremental', // no bitmap yet: becomes a full and says why
      progressIntervalMs: 0,
      onProgress: (p) => progress.push(p.blocksDone),
    });
    assert.equal(full.method, 'full');
    assert.match(full.reason ?? '', /no backup bitmap/);
    assert.equal(full.blocks, 8, 'only allocated blocks');
    assert.equal(full.catalog.parent, null);
    assert.ok(full.bytesStored < 8 * BS, 'text blocks compressed');
    assert.equal(progress[progress.length - 1], 8);
    images.push({ key: full.generationKey, bytes: await volumeBytes(storage, 'db'), method: 'full' });
    assert.ok(backupBitmaps(storage, 'db', store).incremental, 'backup bitmap created');
    assert.deepEqual(storage.listSnapshots('db'), [], 'snapshot deleted');

    await dev.write(2 * BS, pattern(BS, 7)); // overwrite
    await dev.write(200 * BS, pattern(2 * BS, 8)); // new
    await dev.writeZeroes(10 * BS, BS); // zeroed block must restore as zeros
    const inc = await backupVolume(storage, 'db', store, { method: 'incremental' });
    assert.equal(inc.method, 'incremental');
    assert.equal(inc.catalog.parent, full.generationKey);
    assert.equal(inc.blocks, 4);
    images.push({ key: inc.generationKey, bytes: await volumeBytes(storage, 'db'), method: 'incremental' });

    await dev.write(300 * BS, pattern(BS, 9));
    const inc2 = await backupVolume(storage, 'db', store, { method: 'incremental' });
    assert.equal(inc2.catalog.parent, inc.generationKey);
    assert.equal(inc2.blocks, 1);
    images.push({ key: inc2.generationKey, bytes: await volumeBytes(storage, 'db'), method: 'incremental' });

    await dev.write(0, pattern(BS, 11));
    const diff = await backupVolume(storage, 'db', store, { method: 'differential' });
    assert.equal(diff.method, 'differential');
    assert.equal(diff.catalog.parent, full.generationKey, 'differential chains to the full');
    // Every block changed since the full: 2, 200, 201, 10, 300 and now 0.
    assert.equal(diff.blocks, 6);
    images.push({ key: diff.generationKey, bytes: await volumeBytes(storage, 'db'), method: 'differential' });

    await dev.write(5 * BS, pattern(BS, 13));
    const inc3 = await backupVolume(storage, 'db', store, { method: 'incremental' });
    assert.equal(inc3.catalog.parent, diff.generationKey);
    images.push({ key: inc3.generationKey, bytes: await volumeBytes(storage, 'db'), method: 'incremental' });

    const gens = await listGenerations(store, storage.getVolume('db').uniqueId);
    assert.deepEqual(
      gens.map((g) => g.catalog.generation),
      [1, 2, 3, 4, 5],
    );
    assert.equal(gens[0].catalog.serial, storage.serial);
    assert.equal(gens[0].catalog.volumeNumber, storage.getVolume('db').number);
  });

  it('restores every generation into a fresh volume, byte for byte, each block read once', async () => {
    for (const [i, img] of images.entries()) {
      const name = `r${i}`;
      const direct = storage.rawPool.drives.stats.directBytes;
      const r = await restoreGeneration(storage, store, img.key, { volume: name });
      assert.deepEqual(await volumeBytes(storage, name), img.bytes, `generation ${i + 1} (${img.method})`);
      // Runs of 256 KiB and more went to the drives with direct I/O (past the page cache),
      // where the file system has it (tmpfs has not); shorter writes stay buffered.
      if (await directIo(dir)) {
        const d = storage.rawPool.drives.stats.directBytes - direct;
        assert.ok(
          d >= DIRECT_MIN_BYTES && d <= r.bytesCopied,
          `direct writes: ${d} of ${r.bytesCopied} bytes`,
        );
      }
      const info = storage.getVolume(name);
      assert.equal(info.inheritedUniqueId, storage.getVolume('db').uniqueId, 'S209-S210');
      assert.ok(info.bitmaps.includes('since-restore'), 'S211');
      assert.equal(storage.getBitmap(name, 'since-restore').count(), 0);
      // Blocks held by the plan were each decoded once.
      const dev = await BackupImageDevice.open(store, img.key);
      await dev.read(0, dev.sizeBytes);
      assert.equal(
        dev.stats.blocksDecoded,
        [...dev.plan.owner].filter((o, b) => o > 0 && !isZeroEntry(dev, b)).length,
      );
      assert.ok(r.fetches <= dev.stats.fetches);
    }
    // A write after the restore is marked in since-restore.
    await storage.hostDevice('r0').write(BS, pattern(BS, 1));
    assert.deepEqual([...storage.getBitmap('r0', 'since-restore').runs()], [{ start: 1, count: 1 }]);
  });

  it('restores over an existing volume, leaving nothing of its old data', async () => {
    await storage.createVolume('scratch', SIZE);
    await storage.hostDevice('scratch').write(0, randomBytes(SIZE));
    await assert.rejects(restoreGeneration(storage, store, images[1].key, { volume: 'scratch' }), {
      code: 'ALREADY_EXISTS',
    });
    await restoreGeneration(storage, store, images[1].key, { volume: 'scratch', existing: 'overwrite' });
    assert.deepEqual(await volumeBytes(storage, 'scratch'), images[1].bytes);
  });

  it('serves a generation as a read-only block device', async () => {
    const dev = await BackupImageDevice.open(store, images[2].key);
    assert.equal(dev.readOnly, true);
    assert.deepEqual(await dev.read(100 * BS, 3 * BS), images[2].bytes.subarray(100 * BS, 103 * BS));
    assert.deepEqual(
      await dev.read(100 * BS + 5000, 7),
      images[2].bytes.subarray(100 * BS + 5000, 100 * BS + 5007),
    );
    const st = await dev.blockStatus(0, 16 * BS);
    assert.deepEqual(st[0], { offset: 0, length: 4 * BS, hole: false, zero: false });
    await assert.rejects(dev.write(0, Buffer.alloc(512)), { code: 'READ_ONLY' });
  });

  it('catches a flipped byte in verify and in restore, and writes nothing from that block', async () => {
    const clean = await verifyStore(store);
    assert.ok(clean.ok, JSON.stringify(clean.problems));
    assert.equal(clean.generations.length, 5);

    // Flip one byte in the incremental's data object (block 200).
    const gen = await readCatalog(store, images[1].key);
    const objKey = `${gen.key.slice(0, gen.key.indexOf('/catalog/'))}/data/${gen.catalog.id}/000000`;
    const file = join(dir, 'store', objKey);
    const original = await readFile(file);
    const bad = Buffer.from(original);
    bad[bad.length - 10] ^= 0x40;
    await writeFile(file, bad);
    try {
      const v = await verifyGeneration(store, images[1].key);
      assert.equal(v.ok, false);
      assert.equal(v.problems[0].key, objKey);
      assert.equal(v.problems[0].code, 'BACKUP_OBJECT_CORRUPT');
      const damagedBlock = v.problems[0].block!;
      assert.ok(damagedBlock >= 0);
      const all = await verifyStore(store);
      assert.ok(all.problems.some((p) => p.key === objKey));

      await assert.rejects(
        restoreGeneration(storage, store, images[1].key, { volume: 'broken', concurrency: 1 }),
        (err) => {
          assert.ok(err instanceof ReboundError && err.code === 'BACKUP_OBJECT_CORRUPT');
          assert.ok(err.message.includes(objKey), err.message);
          return true;
        },
      );
      const got = await storage.device('broken').read(damagedBlock * BS, BS);
      assert.deepEqual(got, Buffer.alloc(BS), 'nothing from the damaged block reached the volume');
      assert.equal(storage.getVolume('broken').inheritedUniqueId, null, 'a failed restore inherits no ID');

      // A missing object is named too.
      await rm(file);
      const missing = await verifyGeneration(store, images[1].key);
      assert.equal(missing.problems[0].key, objKey);
      assert.equal(missing.problems[0].code, 'OBJECT_NOT_FOUND');
    } finally {
      await writeFile(file, original);
    }
  });

  it('keeps every changed block in the bitmap when an upload fails', async () => {
    const dev = storage.hostDevice('db');
    await dev.write(400 * BS, pattern(2 * BS, 21));
    const before = backupBitmaps(storage, 'db', store).incremental!;
    const marked = storage.getBitmap('db', before).count();
    assert.ok(marked >= 2);
    await assert.rejects(backupVolume(storage, 'db', failingPuts(store, 0), { method: 'incremental' }), {
      code: 'STORE_UNREACHABLE',
    });
    assert.equal(backupBitmaps(storage, 'db', store).incremental, before, 'old bitmap kept');
    assert.ok(storage.getBitmap('db', before).has(400) && storage.getBitmap('db', before).has(401));
    assert.equal(storage.getBitmap('db', before).count(), marked);
    assert.deepEqual(storage.listSnapshots('db'), []);
    assert.equal(storage.listBitmaps('db').length, 2, 'no leftover bitmaps');
    // Metadata put fails after the data went up: still nothing lost, and no catalog.
    const gensBefore = (await listGenerations(store, storage.getVolume('db').uniqueId)).length;
    await assert.rejects(backupVolume(storage, 'db', failingPuts(store, 1), { method: 'incremental' }));
    assert.equal((await listGenerations(store, storage.getVolume('db').uniqueId)).length, gensBefore);
    // The next backup picks the blocks up.
    const ok = await backupVolume(storage, 'db', store, { method: 'incremental' });
    assert.equal(ok.method, 'incremental');
    assert.ok(ok.blocks >= 2);
    images.push({ key: ok.generationKey, bytes: await volumeBytes(storage, 'db'), method: 'incremental' });
    // Orphans of the failed attempts are cleaned once past the grace period.
    const { deleted } = await cleanupOrphans(store, { graceMs: 0, now: () => new Date(Date.now() + 2000) });
    assert.ok(deleted.every((k) => k.includes('/data/') || k.includes('/meta/')));
    assert.ok((await verifyStore(store)).ok);
  });

  it('encrypts with a per-store key that never reaches the bucket, and refuses a wrong key', async () => {
    const key = randomBytes(32);
    const estore = new DirectoryStore(join(dir, 'estore'));
    await storage.createVolume('secret', 2 * MiB);
    const text = Buffer.alloc(BS, 'top secret text ');
    await storage.hostDevice('secret').write(0, text);
    const r = await backupVolume(storage, 'secret', estore, { method: 'full', encryptionKey: key });
    assert.equal(r.catalog.encryption?.method, 'aes-256-gcm');
    for await (const o of estore.list('volumes/')) {
      const body = await estore.get(o.key);
      assert.ok(!body.includes(Buffer.from('top secret')), `${o.key} holds plaintext`);
      assert.ok(!body.includes(key), `${o.key} holds the key`);
    }
    await assert.rejects(restoreGeneration(storage, estore, r.generationKey, { volume: 'e1' }), {
      code: 'INVALID_ARGUMENT',
    });
    await assert.rejects(
      restoreGeneration(storage, estore, r.generationKey, { volume: 'e1', encryptionKey: randomBytes(32) }),
      /encrypted with key/,
    );
    await restoreGeneration(storage, estore, r.generationKey, { volume: 'e1', encryptionKey: key });
    assert.deepEqual(await storage.device('e1').read(0, BS), text);
    assert.ok((await verifyStore(estore, { encryptionKey: key })).ok);
    // An incremental with another key becomes a full and says so.
    await storage.hostDevice('secret').write(BS, text);
    const other = await backupVolume(storage, 'secret', estore, {
      method: 'incremental',
      encryptionKey: randomBytes(32),
    });
    assert.equal(other.method, 'full');
    assert.match(other.reason ?? '', /encryption key changed/);
  });

  it('retention deletes and merges without breaking any chain, and never deletes a protected generation', async () => {
    const uid = storage.getVolume('db').uniqueId;
    const gens = await listGenerations(store, uid);
    assert.equal(gens.length, 6);
    // Protect the first incremental (a failover base), then delete the full under it.
    await protectGeneration(store, images[1].key);
    await assert.rejects(deleteGeneration(store, images[1].key), { code: 'INVALID_ARGUMENT' });
    const del = await deleteGeneration(store, images[0].key);
    assert.deepEqual(del.deleted, [images[0].key]);
    // Its children (incremental 2 and differential 4) absorbed it and became fulls.
    const merged = del.merged.map((m) => m.generation).sort();
    assert.deepEqual(merged, [images[1].key, images[3].key].sort());
    const inc1 = await readCatalog(store, images[1].key);
    assert.equal(inc1.catalog.parent, null);
    assert.equal(inc1.catalog.revision, 1);
    assert.equal(inc1.protected, true);
    for (const img of images.slice(1)) {
      const r = await restoreGeneration(storage, store, img.key, { volume: 'check', existing: 'overwrite' });
      assert.deepEqual(await volumeBytes(storage, 'check'), img.bytes, `after delete: ${img.key}`);
      assert.ok(r.chain.every((k) => k !== images[0].key));
    }
    assert.ok((await verifyStore(store)).ok);

    // Keep the last two (plus the protected one): the rest goes, chains merge.
    const plan = await applyRetention(store, uid, { keepLast: 2 });
    const kept = new Set(plan.keep.map((k) => k.generation));
    assert.ok(kept.has(images[1].key), 'protected kept');
    assert.equal(kept.size, 3);
    const left = await listGenerations(store, uid);
    assert.equal(left.length, 3);
    for (const img of images.filter((i) => kept.has(i.key))) {
      await restoreGeneration(storage, store, img.key, { volume: 'check', existing: 'overwrite' });
      assert.deepEqual(await volumeBytes(storage, 'check'), img.bytes, `after retention: ${img.key}`);
    }
    const v = await verifyStore(store);
    assert.ok(v.ok, JSON.stringify(v.problems));
    // Nothing of the deleted generations is left but what the kept ones use.
    assert.deepEqual(
      (await cleanupOrphans(store, { graceMs: 0, now: () => new Date(Date.now() + 2000) })).deleted,
      [],
    );
    // The next incremental still chains on the latest generation.
    await storage.hostDevice('db').write(7 * BS, pattern(BS, 31));
    const next = await backupVolume(storage, 'db', store, { method: 'incremental' });
    assert.equal(next.method, 'incremental');
    await restoreGeneration(storage, store, next.generationKey, { volume: 'check', existing: 'overwrite' });
    assert.deepEqual(await volumeBytes(storage, 'check'), await volumeBytes(storage, 'db'));
  });
});

function isZeroEntry(dev: BackupImageDevice, b: number): boolean {
  const g = dev.plan.owner[b];
  return (dev.plan.chain[g - 1].meta.flags[dev.plan.entry[b]] & 1) !== 0;
}
