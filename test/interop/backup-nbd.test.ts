// Requires: qemu-utils (qemu-io, qemu-img).
// Backups end to end through a real node and real clients: qemu-io writes patterns over
// NBD, the node backs the volume up (full, then incremental, then differential), every
// generation is restored into a fresh volume and `qemu-img compare` finds it identical
// to an image taken at backup time; a generation served over NBD reads the same; a
// flipped byte in a data object is caught by verify and by restore.
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isReboundError } from '../../src/errors.js';
import type { api, NodeClient } from '../../src/node/index.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';
import { qemuIo, runOk } from '../helpers/tools.js';

const MiB = 2 ** 20;

async function finish(client: NodeClient, task: api.TaskView): Promise<api.TaskView> {
  let t = task;
  while (t.state === 'running') {
    await new Promise((r) => setTimeout(r, 50));
    t = await client.getTask(t.id);
  }
  return t;
}

describe('backups through a node, checked with real NBD clients', () => {
  let fx: NodeFixture;
  let storeDir: string;
  const refs: { key: string; image: string; method: string }[] = [];

  before(async () => {
    fx = await startTestNode({ poolSizeBytes: 1024 * MiB });
    storeDir = join(fx.dataDir, 'store');
    await fx.client.addStore({ name: 'dir', provider: 'directory', path: storeDir });
    await fx.client.createVolume('app', 64 * MiB);
  });
  after(() => fx.close());

  async function backupAndRef(method: 'full' | 'incremental' | 'differential'): Promise<void> {
    const t = await finish(fx.client, await fx.client.startBackup({ volume: 'app', store: 'dir', method }));
    assert.equal(t.state, 'succeeded', JSON.stringify(t.error));
    const r = t.result as { generationKey: string; method: string };
    assert.equal(r.method, method);
    const image = join(fx.dataDir, `ref-${refs.length}.raw`);
    await runOk('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', fx.uri('app'), image]);
    refs.push({ key: r.generationKey, image, method });
  }

  it('backs up full, incremental and differential generations of data written over NBD', async () => {
    await qemuIo(fx.uri('app'), ['write -P 0x11 0 8M', 'write -P 0x22 20M 3M', 'write -P 0x33 63M 1M']);
    await backupAndRef('full');
    await qemuIo(fx.uri('app'), ['write -P 0x44 1M 64k', 'write -z 20M 1M', 'write -P 0x55 40M 4096']);
    await backupAndRef('incremental');
    await qemuIo(fx.uri('app'), ['write -P 0x66 2M 2M', 'discard 63M 1M']);
    await backupAndRef('differential');
    const list = await fx.client.listGenerations('dir', { volume: 'app' });
    assert.deepEqual(
      list.map((g) => [g.generation, g.method]),
      [
        [1, 'full'],
        [2, 'incremental'],
        [3, 'differential'],
      ],
    );
    assert.equal(list[1].parent, list[0].key);
  });

  it('restores every generation into a fresh volume identical to the image taken at backup time', async () => {
    const source = await fx.client.getVolume('app');
    for (const [i, ref] of refs.entries()) {
      const t = await finish(
        fx.client,
        await fx.client.startRestore({ store: 'dir', generation: ref.key, volume: `restored-${i}` }),
      );
      assert.equal(t.state, 'succeeded', JSON.stringify(t.error));
      await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', ref.image, fx.uri(`restored-${i}`)]);
      const v = await fx.client.getVolume(`restored-${i}`);
      assert.equal(
        v.inheritedUniqueId,
        source.uniqueId,
        'S209-S210: the restored volume inherits the unique ID',
      );
      assert.ok(v.bitmaps.includes('since-restore'), 'S211: changes are tracked from the restore on');
    }
  });

  it('serves a generation over NBD without restoring it', async () => {
    const m = await fx.client.serve('dir', refs[1].key, 'g2');
    assert.equal(m.nbdUri, fx.uri('backup-g2'));
    await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', refs[1].image, m.nbdUri]);
    const w = await qemuIo(m.nbdUri, ['write -P 1 0 4096']);
    assert.match(w.stdout + w.stderr, /read-only|not permitted|denied/i);
    await fx.client.unmount('backup-g2');
  });

  it('a flipped byte in a data object is caught by verify and by restore', async () => {
    const clean = await finish(fx.client, await fx.client.startVerify('dir', {}));
    assert.equal((clean.result as { ok: boolean }).ok, true);
    const files: string[] = [];
    for (const e of await readdir(storeDir, { recursive: true, withFileTypes: true })) {
      if (e.isFile() && e.parentPath.includes('/data')) files.push(join(e.parentPath, e.name));
    }
    const victim = files.sort()[0];
    assert.ok(victim, 'a data object exists');
    const bytes = await readFile(victim);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    await rm(victim);
    await writeFile(victim, bytes);
    const report = await finish(fx.client, await fx.client.startVerify('dir', {}));
    const r = report.result as { ok: boolean; problems: { key: string; code: string; generation: string }[] };
    assert.equal(r.ok, false);
    const problem = r.problems.find((p) => p.code === 'BACKUP_OBJECT_CORRUPT' && victim.endsWith(p.key));
    assert.ok(problem, JSON.stringify(r.problems));
    const restore = await finish(
      fx.client,
      await fx.client.startRestore({ store: 'dir', generation: problem.generation, volume: 'from-damaged' }),
    );
    assert.equal(restore.state, 'failed');
    assert.equal(restore.error?.code, 'BACKUP_OBJECT_CORRUPT');
  });

  it('answers a backup of an unknown volume or store with NOT_FOUND', async () => {
    await assert.rejects(fx.client.startBackup({ volume: 'nope', store: 'dir', method: 'full' }), (e) =>
      isReboundError(e, 'NOT_FOUND'),
    );
    await assert.rejects(fx.client.startBackup({ volume: 'app', store: 'nope', method: 'full' }), (e) =>
      isReboundError(e, 'NOT_FOUND'),
    );
  });
});
