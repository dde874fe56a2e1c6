// The node control API on loopback with a real pool: what an operator or the manager
// does through it, and how it answers bad requests.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isReboundError } from '../../src/errors.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';

/** A directory store `waits` in `dir`, a volume of random bytes, and its full backup started. */
async function startFullBackup(fx: NodeFixture, dir: string, volume: string, bytes: number) {
  await fx.client.addStore({ name: 'waits', provider: 'directory', path: dir });
  await fx.client.createVolume(volume, bytes);
  await fx.node.storage.hostDevice(volume).write(0, randomBytes(bytes));
  return fx.client.startBackup({ volume, store: 'waits', method: 'full' });
}

describe('node control API', () => {
  let fx: NodeFixture;
  before(async () => {
    fx = await startTestNode();
  });
  after(() => fx.close());

  async function raw(method: string, path: string, body?: unknown, token = fx.node.token) {
    const res = await fetch(new URL(path, fx.node.apiUrl), {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { error: { code: string; message: string } } };
  }

  it('reports identity and health', async () => {
    const id = await fx.client.identity();
    assert.match(id.serial, /^[0-9A-F]{8}$/);
    assert.equal(id.pool.blockSizeBytes, 65536);
    assert.equal(id.pool.capacityBytes, 8 * 2 ** 30);
    assert.ok(
      id.pool.diskBytes < id.pool.capacityBytes,
      `a sparse drive: ${id.pool.diskBytes} bytes on disk`,
    );
    const health = await fx.client.health();
    assert.equal(health.status, 'ok');
    assert.equal(health.serial, id.serial);
  });

  it('creates, shows, grows and deletes a volume with a unique ID of serial + number', async () => {
    const v = await fx.client.createVolume('db1', 2 ** 30);
    assert.equal(v.uniqueId, `${v.serial}:${v.number}`);
    assert.equal(v.usedBytes, 0);
    assert.equal(v.inheritedUniqueId, null);
    assert.equal(v.nbdUri, fx.uri('db1'));
    const grown = await fx.client.growVolume('db1', 2 * 2 ** 30);
    assert.equal(grown.sizeBytes, 2 * 2 ** 30);
    const listed = await fx.client.listVolumes();
    assert.ok(listed.some((x) => x.name === 'db1' && x.sizeBytes === 2 * 2 ** 30));
    const inherited = await fx.client.setInheritedUniqueId('db1', 'ABCDEF01:7');
    assert.equal(inherited.inheritedUniqueId, 'ABCDEF01:7');
    await fx.client.deleteVolume('db1');
    await assert.rejects(fx.client.getVolume('db1'), (e) => isReboundError(e, 'NOT_FOUND'));
    const again = await fx.client.createVolume('db1', 2 ** 20);
    assert.ok(again.number > v.number, 'volume numbers are never reused');
    await fx.client.deleteVolume('db1');
  });

  it('snapshots, bitmaps and the fence', async () => {
    await fx.client.createVolume('v2', 2 ** 26);
    const snap = await fx.client.createSnapshot('v2', 's1');
    assert.equal(snap.nbdUri, fx.uri('v2@s1'));
    assert.deepEqual(
      (await fx.client.listSnapshots('v2')).map((s) => s.name),
      ['s1'],
    );
    const b = await fx.client.createBitmap('v2', 'since-backup');
    assert.deepEqual([b.active, b.dirtyBlocks], [true, 0]);
    const frozen = await fx.client.freezeBitmap('v2', 'since-backup', 'backup-1');
    assert.equal(frozen.active, false);
    assert.deepEqual((await fx.client.listBitmaps('v2')).map((x) => x.name).sort(), [
      'backup-1',
      'since-backup',
    ]);
    assert.equal((await fx.client.fence('v2')).fenced, true);
    assert.equal((await fx.client.unfence('v2')).fenced, false);
    await assert.rejects(fx.client.deleteVolume('v2'), (e) => isReboundError(e, 'BUSY'));
    await fx.client.deleteSnapshot('v2', 's1');
    await fx.client.deleteBitmap('v2', 'backup-1');
    await fx.client.deleteVolume('v2');
  });

  it('a GET of a task with waitMs answers when the task ends, not a poll interval later', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rebound-wait-'));
    try {
      const task = await startFullBackup(fx, dir, 'waited', 32 * 2 ** 20);
      const asked = Date.now();
      const ended = await fx.client.getTask(task.id, 30_000);
      const waited = Date.now() - asked;
      assert.equal(ended.state, 'succeeded', JSON.stringify(ended.error));
      assert.ok(waited < 20_000, `answered at the end (${waited} ms), not at the 30 s limit`);
      // An ended task answers at once, whatever the wait.
      const again = Date.now();
      assert.equal((await fx.client.getTask(task.id, 30_000)).state, 'succeeded');
      assert.ok(Date.now() - again < 5_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses waits out of range, by name', async () => {
    for (const q of ['waitMs=-1', 'waitMs=30001', 'waitMs=soon']) {
      const r = await raw('GET', `/v1/tasks/some-task?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.error.code, 'INVALID_ARGUMENT');
      assert.match(r.body.error.message, /waitMs/);
    }
    const asked = Date.now();
    const missing = await raw('GET', '/v1/tasks/some-task?waitMs=10000');
    assert.equal(missing.status, 404, 'an unknown task is not waited for');
    assert.ok(Date.now() - asked < 5_000);
  });

  it('answers bad requests with 4xx and a message naming the field', async () => {
    const bad = await raw('POST', '/v1/volumes', { name: 'ok', sizeBytes: 'ten' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'INVALID_ARGUMENT');
    assert.match(bad.body.error.message, /sizeBytes/);
    const badName = await raw('POST', '/v1/volumes', { name: 'no/slash', sizeBytes: 4096 });
    assert.equal(badName.status, 400);
    assert.match(badName.body.error.message, /name/);
    const odd = await raw('POST', '/v1/volumes', { name: 'odd', sizeBytes: 1000 });
    assert.equal(odd.status, 400);
    assert.match(odd.body.error.message, /sizeBytes/);
    const missing = await raw('GET', '/v1/volumes/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'NOT_FOUND');
    const dup1 = await raw('POST', '/v1/volumes', { name: 'dup', sizeBytes: 4096 });
    const dup2 = await raw('POST', '/v1/volumes', { name: 'dup', sizeBytes: 4096 });
    assert.deepEqual([dup1.status, dup2.status, dup2.body.error.code], [201, 409, 'ALREADY_EXISTS']);
    const unauth = await raw('GET', '/v1/volumes', undefined, 'wrong');
    assert.equal(unauth.status, 401);
    assert.equal((await fx.client.health()).status, 'ok', 'the node goes on');
  });
});

describe('a node stopping with long polls held', () => {
  it('answers them and stops at once; a paced restore is cancelled mid-wait', async () => {
    const fx = await startTestNode({ init: { restoreRate: '1M' } });
    const dir = await mkdtemp(join(tmpdir(), 'rebound-wait-'));
    try {
      const backup = await startFullBackup(fx, dir, 'src', 32 * 2 ** 20);
      const done = await fx.client.getTask(backup.id, 30_000);
      assert.equal(done.state, 'succeeded');
      const generation = (done.result as { generationKey: string }).generationKey;
      // 32 MiB at 1 MiB/s, in chunks of 8 MiB: the second starts 8 s in, unless it is stopped.
      const restore = await fx.client.startRestore({ store: 'waits', generation, volume: 'copy' });
      const asked = Date.now();
      const held = fx.client.getTask(restore.id, 30_000).then(
        (t) => t.state,
        (e: Error) => `refused: ${e.message}`,
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await fx.client.getTask(restore.id)).state, 'running', 'paced, so still running');
      await fx.close();
      const stoppedIn = Date.now() - asked;
      assert.ok(stoppedIn < 10_000, `the node stopped in ${stoppedIn} ms with a 30 s poll held`);
      assert.ok(['running', 'cancelled'].includes(await held) || /refused/.test(await held), await held);
    } finally {
      await fx.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a node's backup rate", () => {
  it('paces the reads of a backup; the backup is whole', async () => {
    const fx = await startTestNode({ init: { backupRate: '4M' } });
    const dir = await mkdtemp(join(tmpdir(), 'rebound-rate-'));
    try {
      const started = Date.now();
      const backup = await startFullBackup(fx, dir, 'paced', 8 * 2 ** 20);
      const done = await fx.client.getTask(backup.id, 30_000);
      const took = Date.now() - started;
      assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
      // 8 MiB read in 1 MiB batches at 4 MiB/s: the last batch may start 1.75 s in.
      assert.ok(took >= 1700, `the backup took ${took} ms`);
      const result = done.result as { blocks: number };
      assert.equal(result.blocks, (8 * 2 ** 20) / (64 * 1024), 'every block of the volume is in it');
    } finally {
      await fx.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
