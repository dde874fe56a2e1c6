// Requires: Ceph (ceph-mon, ceph-osd, radosgw, ceph-common), started by scripts/ceph-rgw.sh.
// Backups through a node to a real S3 server: the store is registered through the node's
// API (bucket created, secret sealed), a full and an incremental backup (encrypted) go to
// radosgw, and each generation restores byte for byte with the unique ID inherited.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { api, NodeClient } from '../../src/node/index.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';
import { type Rgw, startRgw, stopRgw } from '../helpers/radosgw.js';

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
});
