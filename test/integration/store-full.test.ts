/**
 * A directory store whose file system fills up mid-backup: a real tmpfs of 4 MiB (mounted
 * by the test; it needs root, as CI has, and fails saying so otherwise). The backup fails
 * with STORE_FULL naming the store, the generation before it stays whole, and once the
 * store has room the next incremental carries every block the failed one did not.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { backupVolume, restoreGeneration, verifyGeneration } from '../../src/backup/index.js';
import { isReboundError } from '../../src/errors.js';
import { DirectoryStore } from '../../src/objectstore/index.js';
import { NodeStorage } from '../../src/volume/index.js';
import { volumeBytes } from '../helpers/volume-bytes.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

describe('a directory store that runs out of space', () => {
  let dir: string;
  let mount: string;
  let mounted = false;
  let storage: NodeStorage;
  let store: DirectoryStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rebound-store-full-'));
    mount = join(dir, 'store');
    await mkdir(mount);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount]).catch((err) => {
      throw new Error(`this test mounts a 4 MiB tmpfs and needs root: ${(err as Error).message}`);
    });
    mounted = true;
    storage = await NodeStorage.init(join(dir, 'pool'), { drives: [{ sizeBytes: 256 * MiB }] });
    await storage.createVolume('db', 16 * MiB);
    store = new DirectoryStore(mount);
  });
  after(async () => {
    await storage?.close();
    if (mounted) await run('umount', [mount]);
    await rm(dir, { recursive: true, force: true });
  });

  it('fails the backup with STORE_FULL, keeps the earlier generation, and loses no changed block', async () => {
    const dev = storage.device('db');
    await dev.write(0, randomBytes(MiB)); // incompressible: what the store holds is what was written
    const full = await backupVolume(storage, 'db', store, { method: 'full' });

    await dev.write(4 * MiB, randomBytes(8 * MiB)); // twice what the store has left
    const wanted = await volumeBytes(storage, 'db');
    await assert.rejects(backupVolume(storage, 'db', store, { method: 'incremental' }), (err) => {
      assert.ok(isReboundError(err), String(err));
      assert.equal(err.code, 'STORE_FULL', err.message);
      assert.match(err.message, /store is full/);
      assert.ok(err.message.includes(mount), `"${err.message}" names the store`);
      return true;
    });

    const report = await verifyGeneration(store, full.generationKey);
    assert.deepEqual(report.problems, [], 'the full generation is whole');

    await run('mount', ['-o', 'remount,size=64m', mount]); // the operator makes room
    const next = await backupVolume(storage, 'db', store, { method: 'incremental' });
    await restoreGeneration(storage, store, next.generationKey, { volume: 'back' });
    assert.ok((await volumeBytes(storage, 'back')).equals(wanted), 'the restore holds every write');
  });
});
