// Requires: Ceph (ceph-mon, ceph-osd, radosgw, ceph-common), started by scripts/ceph-rgw.sh.
// Backups through a node to a real S3 server: the store is registered through the node's
// API (bucket created, secret sealed), a full and an incremental backup (encrypted) go to
// radosgw, and each generation restores byte for byte with the unique ID inherited.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type JobView, ManagerClient, startManager } from '../../src/manager/index.js';
import type { api, NodeClient } from '../../src/node/index.js';
import { registerPrimary } from '../helpers/dr-fixture.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';
import { type Rgw, startRgw, stopRgw } from '../helpers/radosgw.js';
import { startSilentEndpoint, startTcpProxy } from '../helpers/tcp-proxy.js';

const MiB = 2 ** 20;

async function finish(client: NodeClient, task: api.TaskView): Promise<api.TaskView> {
  let t = task;
  while (t.state === 'running') {
    await new Promise((r) => setTimeout(r, 50));
    t = await client.getTask(t.id);
  }
  assert.equal(t.state, 'succeeded', JSON.stringify(t.error));
  return t;
}

describe('backups through a node to radosgw', () => {
  let rgw: Rgw | undefined;
  let fx: NodeFixture;
  before(
    async () => {
      rgw = await startRgw();
      fx = await startTestNode({ poolSizeBytes: 512 * MiB });
    },
    { timeout: 90_000 },
  );
  after(async () => {
    await fx?.close();
    await stopRgw(rgw);
  });

  it('backs up full and incremental to S3, encrypted, and restores each byte for byte', async () => {
    assert.ok(rgw);
    const store = await fx.client.addStore({
      name: 's3',
      provider: 's3',
      endpoint: rgw.endpoint,
      region: rgw.region,
      accessKeyId: rgw.accessKeyId,
      secretAccessKey: rgw.secretAccessKey,
      encryption: 'aes-256-gcm',
      encryptionKey: randomBytes(32).toString('hex'),
    });
    assert.match(store.bucket ?? '', /^rebound-/, 'the bucket is named automatically when left empty');
    assert.equal(store.hasSecretKey, true);

    await fx.client.createVolume('db', 32 * MiB);
    const dev = fx.node.storage.device('db');
    await dev.write(0, Buffer.alloc(4 * MiB, 'rebound '));
    await dev.write(10 * MiB, randomBytes(2 * MiB));
    const images: Buffer[] = [];
    const keys: string[] = [];
    for (const method of ['full', 'incremental'] as const) {
      const t = await finish(fx.client, await fx.client.startBackup({ volume: 'db', store: 's3', method }));
      keys.push((t.result as { generationKey: string }).generationKey);
      images.push(await dev.read(0, 32 * MiB));
      await dev.write(20 * MiB + 4096, randomBytes(300_000));
    }
    const source = await fx.client.getVolume('db');
    for (const [i, key] of keys.entries()) {
      await finish(
        fx.client,
        await fx.client.startRestore({ store: 's3', generation: key, volume: `r${i}` }),
      );
      const restored = fx.node.storage.device(`r${i}`);
      assert.ok((await restored.read(0, 32 * MiB)).equals(images[i]), `generation ${i + 1} restores exactly`);
      assert.equal((await fx.client.getVolume(`r${i}`)).inheritedUniqueId, source.uniqueId);
    }
    const verify = await finish(fx.client, await fx.client.startVerify('s3', {}));
    assert.equal((verify.result as { ok: boolean }).ok, true);
  });

  it("rides out the store going away mid-backup, and the job's log says so while it waits", async () => {
    assert.ok(rgw);
    const proxy = await startTcpProxy();
    const rgwUrl = new URL(rgw.endpoint);
    proxy.target = { host: rgwUrl.hostname, port: Number(rgwUrl.port) };
    // Read at 8 MiB/s, the backup of 48 MiB lasts long enough to lose its store midway.
    const slow = await startTestNode({ poolSizeBytes: 512 * MiB, init: { backupRate: '8M' } });
    const m = await managerOf(slow);
    try {
      let { admin } = m;
      await admin.addStore({
        name: 'flaky',
        provider: 's3',
        endpoint: `http://127.0.0.1:${proxy.port}`,
        region: rgw.region,
        accessKeyId: rgw.accessKeyId,
        secretAccessKey: rgw.secretAccessKey,
      });
      await admin.createVolume('p1', 'db', 48 * MiB);
      const data = randomBytes(48 * MiB);
      await slow.node.storage.device('db').write(0, data);
      let job = await admin.backup({ volume: 'db', store: 'flaky', method: 'full' });
      while ((job.progress?.bytesDone ?? 0) < 8 * MiB && job.state !== 'failed') {
        await new Promise((r) => setTimeout(r, 50));
        job = await admin.getJob(job.id);
      }
      proxy.cut(5000); // a gateway restarting: connections dropped, new ones refused
      const waiting = (j: JobView) => (j.log ?? []).find((l) => /stopped answering/.test(l.message));
      const cutAt = Date.now();
      while (job.state === 'running' && !waiting(job) && Date.now() - cutAt < 15_000) {
        await new Promise((r) => setTimeout(r, 100));
        job = await admin.getJob(job.id);
      }
      assert.equal(job.state, 'running', `the backup waits for its store: ${JSON.stringify(job.error)}`);
      assert.match(waiting(job)?.message ?? '', /stopped answering \(\w+\); waiting up to 120 s/);
      // The manager restarts meanwhile: the job follows the same node task again, and the
      // notes already in its log are not copied twice.
      admin = await m.restart();
      job = await admin.waitJob(job.id, { intervalMs: 50, timeoutMs: 120_000 });
      assert.ok(
        (job.log ?? []).some((l) => l.message === 'resumed after a manager restart'),
        'the job went on after the restart',
      );
      assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
      const lines = (job.log ?? []).map((l) => l.message);
      assert.equal(lines.filter((l) => /stopped answering/.test(l)).length, 1, lines.join('\n'));
      assert.ok(
        lines.some((l) => /answers again after \d+ s/.test(l)),
        lines.join('\n'),
      );
      const key = String(job.result?.generationKey);
      const back = await slow.client.startRestore({ store: 'flaky', generation: key, volume: 'back' });
      await finish(slow.client, back);
      assert.ok(
        (await slow.node.storage.device('back').read(0, 48 * MiB)).equals(data),
        'every byte backed up',
      );

      // A job that starts while the store (which answered this node before) is away waits for it too.
      await slow.node.storage.device('db').write(0, Buffer.alloc(MiB, 7));
      proxy.cut(4000);
      const second = await admin.backup({ volume: 'db', store: 'flaky', method: 'incremental' });
      job = await admin.waitJob(second.id, { intervalMs: 50, timeoutMs: 120_000 });
      assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
      assert.ok(
        (job.log ?? []).some((l) => /stopped answering/.test(l.message)),
        'the wait is in its log',
      );
    } finally {
      await m.close();
      await slow.close();
      await proxy.close();
    }
  });

  it('fails a backup to an endpoint that never answers with STORE_UNREACHABLE, without taking the node for gone', async () => {
    const silent = await startSilentEndpoint();
    const m = await managerOf(fx);
    try {
      await m.admin.addStore({
        name: 'void',
        provider: 's3',
        endpoint: `http://127.0.0.1:${silent.port}`,
        region: 'default',
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'not-a-secret-that-matters',
      });
      await m.admin.createVolume('p1', 'quiet', 8 * MiB);
      const started = Date.now();
      const job = await m.admin.waitJob(
        (await m.admin.backup({ volume: 'quiet', store: 'void', method: 'full' })).id,
        { intervalMs: 100, timeoutMs: 60_000 },
      );
      assert.equal(job.state, 'failed', JSON.stringify(job.log));
      assert.equal(job.error?.code, 'STORE_UNREACHABLE', job.error?.message);
      assert.match(job.error?.message ?? '', /sent nothing for 5 s/);
      assert.ok(!(job.log ?? []).some((l) => l.status === 'paused'), 'never paused as if the node were down');
      assert.ok(Date.now() - started < 40_000, `failed in ${Date.now() - started} ms`);
    } finally {
      await m.close();
      await silent.close();
    }
  });
});

/** A manager (on the real clock) with `node` registered as p1 at primary site dc1 (registerPrimary). */
async function managerOf(node: NodeFixture) {
  const dir = await mkdtemp(join(tmpdir(), 'rebound-s3-manager-'));
  const start = () =>
    startManager(
      dir,
      { apiPort: 0, secretKey: 'ab'.repeat(32), pollIntervalMs: 3_600_000 },
      { jobPollMs: 20 },
    );
  let m = await start();
  const token = m.bootstrap!.token;
  const admin = new ManagerClient(m.apiUrl, token);
  await registerPrimary(admin, node, join(dir, 'store'));
  return {
    admin,
    /** Stop the manager and start it again on its data: the client of the new one. */
    async restart(): Promise<ManagerClient> {
      await m.close();
      m = await start();
      return new ManagerClient(m.apiUrl, token);
    },
    async close() {
      await m.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
