/** The pool's metadata: CRC, superblock, log replay with torn tails, corruption, checkpoints. */
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isReboundError } from '../../../src/errors.js';
import { crc32c, frameRecord, MetaLog, Pool } from '../../../src/pool/index.js';
import { decodeSuperblock, encodeSuperblock } from '../../../src/pool/superblock.js';
import { NodeStorage } from '../../../src/volume/index.js';

const code = (c: string) => (e: unknown) => isReboundError(e) && e.code === c;

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'rebound-pool-'));
}

const noSync = { dataSync: async () => {} };

describe('crc32c', () => {
  it('matches the standard check value', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
    const b = Buffer.from('hello, world: a longer buffer to cross the 4-byte loop');
    assert.equal(crc32c(b, 7, b.length, crc32c(b, 0, 7)), crc32c(b));
  });
});

describe('superblock', () => {
  it('round-trips and rejects a flipped bit', () => {
    const sb = {
      blockSizeBytes: 65536,
      serial: '0123ABCD',
      poolName: 'pool0',
      createdAt: '2025-01-01T00:00:00.000Z',
      drives: [{ path: 'drives/drive0.img', sizeBytes: 2 ** 36 }],
    };
    const buf = encodeSuperblock(sb);
    assert.deepEqual(decodeSuperblock(buf), sb);
    buf[10] ^= 1;
    assert.throws(() => decodeSuperblock(buf), code('POOL_CORRUPT'));
  });

  it('a pool is created with the default block size and one sparse drive', async () => {
    const dir = await tempDir();
    try {
      await Pool.init(dir, { drives: [{ sizeBytes: 1024 ** 3 }] });
      const st = await stat(join(dir, 'drives/drive0.img'));
      assert.equal(st.size, 1024 ** 3);
      assert.ok(st.blocks * 512 < 1024 * 1024, 'the drive file is sparse');
      const s = await NodeStorage.open(dir);
      assert.equal(s.pool().blockSizeBytes, 65536);
      assert.equal(s.pool().capacityBytes, 1024 ** 3);
      assert.match(s.serial, /^[0-9A-F]{8}$/);
      await s.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('metadata log', () => {
  async function withLog(fn: (dir: string, log: MetaLog) => Promise<void>) {
    const dir = await tempDir();
    await MetaLog.create(dir, []);
    const log = await MetaLog.open(dir, () => {}, noSync);
    try {
      await fn(dir, log);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  function replay(dir: string): Promise<number[]> {
    const seen: number[] = [];
    return MetaLog.open(dir, (_t, p) => seen.push(p.readUInt32BE(0)), noSync).then(async (l) => {
      await l.close();
      return seen;
    });
  }

  const r = (n: number) => frameRecord(6, Buffer.from([0, 0, 0, n]));

  it('replays committed records in order', () =>
    withLog(async (dir, log) => {
      for (let i = 1; i <= 5; i++) log.append(r(i));
      await log.commit();
      await log.close();
      assert.deepEqual(await replay(dir), [1, 2, 3, 4, 5]);
    }));

  it('group commit: concurrent commits share rounds', () =>
    withLog(async (dir, log) => {
      let syncs = 0;
      await log.close();
      const l2 = await MetaLog.open(dir, () => {}, {
        dataSync: async () => {
          syncs++;
        },
      });
      const waits = [];
      for (let i = 0; i < 100; i++) waits.push(l2.commit(l2.append(r(i), true)));
      await Promise.all(waits);
      assert.ok(syncs <= 2, `100 commits took ${syncs} rounds`);
      await l2.close();
    }));

  it('ignores a torn tail and keeps appending after it', () =>
    withLog(async (dir, log) => {
      log.append(r(1));
      log.append(r(2));
      await log.close();
      const full = r(3);
      await appendFile(join(dir, 'meta/log'), full.subarray(0, full.length - 2)); // a crash mid-write
      assert.deepEqual(await replay(dir), [1, 2]);
      const l2 = await MetaLog.open(dir, () => {}, noSync);
      l2.append(r(4));
      await l2.close();
      assert.deepEqual(await replay(dir), [1, 2, 4]);
    }));

  it('a bad record followed by a good one is POOL_CORRUPT', () =>
    withLog(async (dir, log) => {
      log.append(r(1));
      log.append(r(2));
      log.append(r(3));
      await log.close();
      const path = join(dir, 'meta/log');
      const buf = await readFile(path);
      buf[32 + 12 + 3] ^= 0xff; // payload byte of record 1
      await writeFile(path, buf);
      await assert.rejects(replay(dir), code('POOL_CORRUPT'));
    }));

  it('a damaged checkpoint is POOL_CORRUPT', () =>
    withLog(async (dir, log) => {
      log.setSnapshotter(() => [r(7)]);
      await log.checkpoint();
      await log.close();
      const path = join(dir, 'meta/checkpoint');
      const buf = await readFile(path);
      buf[buf.length - 1] ^= 1;
      await writeFile(path, buf);
      await assert.rejects(replay(dir), code('POOL_CORRUPT'));
    }));

  it('a checkpoint replaces the log; a log of an older epoch is ignored', () =>
    withLog(async (dir, log) => {
      log.append(r(1));
      await log.commit();
      const oldLog = await readFile(join(dir, 'meta/log'));
      log.setSnapshotter(() => [r(9)]);
      log.append(r(2));
      await log.checkpoint();
      log.append(r(3));
      await log.close();
      assert.deepEqual(await replay(dir), [9, 3]);
      // A crash between the checkpoint rename and the new log leaves the old log behind.
      await writeFile(join(dir, 'meta/log'), oldLog);
      assert.deepEqual(await replay(dir), [9]);
    }));
});
