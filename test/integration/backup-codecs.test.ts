/**
 * Codecs of a chain, end to end on real parts (NodeStorage pool, DirectoryStore): a full
 * written with brotli (as every backup before zstd was), incrementals with deflate, zstd
 * (the default) and none, after scattered 4 KiB writes. Every generation restores byte
 * for byte, verify passes, a retention merge across codecs records 'mixed' and still
 * restores, and an unknown codec is refused before anything is touched.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  backupVolume,
  type Compression,
  deleteGeneration,
  readCatalog,
  restoreGeneration,
  verifyStore,
} from '../../src/backup/index.js';
import { ReboundError } from '../../src/errors.js';
import { DirectoryStore } from '../../src/objectstore/index.js';
import { NodeStorage } from '../../src/volume/index.js';
import { volumeBytes } from '../helpers/volume-bytes.js';

const MiB = 1024 * 1024;
const BS = 65536;
const SIZE = 16 * MiB;

/** Words in a random order: compressible, but not trivially. */
function text(length: number): Buffer {
  const words = ['restore ', 'the ', 'volume ', 'block ', 'of ', 'backup ', 'chain ', 'codec '];
  const pick = randomBytes(length);
  const b = Buffer.alloc(length);
  for (let at = 0, i = 0; at < length; i++) at += b.write(words[pick[i] % words.length], at);
  return b;
}

describe('backup codecs in one chain', () => {
  let dir: string;
  let storage: NodeStorage;
  let store: DirectoryStore;
  const gens: { key: string; bytes: Buffer; codec: Compression }[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rebound-codecs-'));
    storage = await NodeStorage.init(join(dir, 'pool'), { drives: [{ sizeBytes: 256 * MiB }] });
    store = new DirectoryStore(join(dir, 'store'));
    await storage.createVolume('vol', SIZE);
  });
  after(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a brotli full, then deflate, zstd and raw incrementals, each recorded in its catalog', async () => {
    const dev = storage.hostDevice('vol');
    // 64 KiB regions: text, random, hole, in turn.
    for (let r = 0; r * BS < SIZE; r++) {
      if (r % 3 === 0) await dev.write(r * BS, text(BS));
      else if (r % 3 === 1) await dev.write(r * BS, randomBytes(BS));
    }
    const codecs: Compression[] = ['brotli', 'deflate', 'zstd', 'none'];
    for (const [i, codec] of codecs.entries()) {
      if (i > 0) {
        // Scattered 4 KiB writes, text and random, some into holes.
        for (let k = 0; k < 40; k++) {
          const at = Math.floor(Math.random() * (SIZE / 4096)) * 4096;
          await dev.write(at, k % 2 ? randomBytes(4096) : text(4096));
        }
      }
      const r = await backupVolume(storage, 'vol', store, {
        method: i === 0 ? 'full' : 'incremental',
        compression: codec,
      });
      assert.equal(r.method, i === 0 ? 'full' : 'incremental');
      assert.equal(r.catalog.compression, codec);
      if (codec !== 'none')
        assert.ok(r.bytesStored < r.bytesRead * 0.85, `${codec} compresses the text blocks`);
      gens.push({ key: r.generationKey, bytes: await volumeBytes(storage, 'vol'), codec });
    }
    // The default codec when none is asked for.
    await dev.write(3 * BS, text(BS));
    const def = await backupVolume(storage, 'vol', store, { method: 'incremental' });
    assert.equal(def.catalog.compression, 'zstd');
    gens.push({ key: def.generationKey, bytes: await volumeBytes(storage, 'vol'), codec: 'zstd' });
  });

  it('restores every generation byte for byte, and verify passes', async () => {
    for (const [i, g] of gens.entries()) {
      const r = await restoreGeneration(storage, store, g.key, { volume: `r${i}` });
      assert.equal(r.chain.length, i + 1);
      assert.deepEqual(await volumeBytes(storage, `r${i}`), g.bytes, `generation ${i + 1} (${g.codec})`);
    }
    const v = await verifyStore(store);
    assert.ok(v.ok, JSON.stringify(v.problems));
  });

  it('merges generations of different codecs into one marked mixed that still restores', async () => {
    const del = await deleteGeneration(store, gens[0].key);
    assert.deepEqual(del.deleted, [gens[0].key]);
    const merged = await readCatalog(store, gens[1].key);
    assert.equal(merged.catalog.parent, null);
    assert.equal(merged.catalog.compression, 'mixed', 'brotli full + deflate incremental');
    for (const g of gens.slice(1)) {
      await restoreGeneration(storage, store, g.key, { volume: 'check', existing: 'overwrite' });
      assert.deepEqual(await volumeBytes(storage, 'check'), g.bytes, `after the merge: ${g.key}`);
    }
    assert.ok((await verifyStore(store)).ok);
  });

  it('refuses an unknown codec before taking a snapshot or a bitmap', async () => {
    const before = storage.getVolume('vol');
    await assert.rejects(
      backupVolume(storage, 'vol', store, { method: 'incremental', compression: 'lzma' as Compression }),
      (err: unknown) =>
        err instanceof ReboundError &&
        err.code === 'INVALID_ARGUMENT' &&
        err.detail?.field === 'compression' &&
        /zstd, brotli, deflate, none/.test(err.message),
    );
    const now = storage.getVolume('vol');
    assert.deepEqual(now.bitmaps, before.bitmaps);
    assert.deepEqual(storage.listSnapshots('vol'), []);
  });
});
