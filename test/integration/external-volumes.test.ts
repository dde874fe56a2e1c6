// Requires: qemu-utils (qemu-io, qemu-img).
// Virtual volumes between two real nodes on loopback (SPEC "Failback, method 2", S702-S708):
// attach reads the destination's unique ID from the primary itself; bad input is refused
// with a clear error and leaves nothing behind; a local copy by-id copies everything when
// the IDs differ and only the frozen bitmap's blocks when they are equal; a node restarted
// with a virtual volume attached dials it again; block hashes refuse a range past the end.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BlockSet } from '../../src/block/index.js';
import { isReboundError } from '../../src/errors.js';
import type { TaskView } from '../../src/node/api-schema.js';
import type { NodeClient } from '../../src/node/client.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';
import { qemuIo, requireTools, runOk } from '../helpers/tools.js';

const MiB = 2 ** 20;
const code = (c: string) => (e: unknown) => isReboundError(e) && e.code === c;

async function finished(client: NodeClient, task: TaskView): Promise<TaskView> {
  for (;;) {
    const t = await client.getTask(task.id);
    if (t.state !== 'running') return t;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('virtual volumes and local copy', () => {
  let primary: NodeFixture;
  let secondary: NodeFixture;
  let target: { host: string; port: number; export: string };
  let primaryId: string;

  before(async () => {
    requireTools('qemu-io', 'qemu-img');
    [primary, secondary] = await Promise.all([startTestNode(), startTestNode()]);
    primaryId = (await primary.client.createVolume('dst', 16 * MiB)).uniqueId;
    await secondary.client.createVolume('src', 16 * MiB);
    await secondary.client.createBitmap('src', 'since-restore');
    target = { host: '127.0.0.1', port: primary.node.nbd.port, export: 'dst' };
  });
  after(async () => {
    await secondary?.close();
    await primary?.close();
  });

  it('attaches with the ID the primary gives, refuses bad input, and keeps nothing of a failed attach', async () => {
    const x = await secondary.client.attachExternal({ name: 'home', target });
    assert.deepEqual([x.uniqueId, x.sizeBytes, x.connected, x.tls], [primaryId, 16 * MiB, true, false]);
    assert.deepEqual(
      await secondary.client.attachExternal({ name: 'home', target }),
      x,
      'idempotent on the name',
    );
    await assert.rejects(
      secondary.client.attachExternal({ name: 'home', target: { ...target, export: 'other' } }),
      code('CONFLICT'),
    );
    await assert.rejects(
      secondary.client.attachExternal({ name: 'nowhere', target: { ...target, export: 'missing' } }),
      code('NOT_FOUND'),
    );
    await primary.client.createSnapshot('dst', 's1');
    await assert.rejects(
      secondary.client.attachExternal({ name: 'ro', target: { ...target, export: 'dst@s1' } }),
      (e: unknown) => code('INVALID_ARGUMENT')(e) && /read-only/.test((e as Error).message),
    );
    assert.deepEqual(
      (await secondary.client.listExternals()).map((e) => e.name),
      ['home'],
    );
    await assert.rejects(
      secondary.client.startLocalCopy({
        volume: 'src',
        external: 'nowhere',
        mode: 'full',
        bitmap: 'b',
        freezeFrom: 'since-restore',
      }),
      code('NOT_FOUND'),
    );
    await assert.rejects(
      secondary.client.hashes('src', { startBlock: 250, count: 10, hashBlockBytes: 65536 }),
      (e: unknown) => code('OUT_OF_RANGE')(e) && /past the end/.test((e as Error).message),
    );
    await assert.rejects(
      secondary.client.hashes('src', { startBlock: 0, count: 20000, hashBlockBytes: 65536 }),
      code('INVALID_ARGUMENT'),
    );
    // A set of the wrong length, or not a set at all, is refused by name.
    const set = new BlockSet(8);
    set.add(3);
    await assert.rejects(
      secondary.client.hashes('src', {
        startBlock: 0,
        count: 16,
        hashBlockBytes: 65536,
        only: set.encode().toString('base64'),
      }),
      (e: unknown) =>
        code('INVALID_ARGUMENT')(e) && /only: a set of 8 blocks for a range of 16/.test((e as Error).message),
    );
    await assert.rejects(
      secondary.client.hashes('src', {
        startBlock: 0,
        count: 8,
        hashBlockBytes: 65536,
        only: 'bm90IGEgc2V0',
      }),
      (e: unknown) =>
        code('INVALID_ARGUMENT')(e) && /only: not an encoded block set/.test((e as Error).message),
    );
    // Only the marked blocks are hashed: their hashes are those of the whole range.
    assert.equal((await qemuIo(secondary.uri('src'), ['write -P 0x3c 192k 64k'])).code, 0);
    const whole = await secondary.client.hashes('src', { startBlock: 0, count: 8, hashBlockBytes: 65536 });
    const one = await secondary.client.hashes('src', {
      startBlock: 0,
      count: 8,
      hashBlockBytes: 65536,
      only: set.encode().toString('base64'),
    });
    assert.equal(one.hashed, 1);
    // Premark: the set's blocks land in the active bitmaps, at the volume's grain.
    await assert.rejects(
      secondary.client.premark('src', {
        blockSizeBytes: 65536,
        startBlock: 0,
        count: 16,
        set: set.encode().toString('base64'),
      }),
      (e: unknown) =>
        code('INVALID_ARGUMENT')(e) && /set: 8 blocks for a range of 16/.test((e as Error).message),
    );
    const far = new BlockSet(4);
    far.add(2); // block 202 of 64 KiB
    const pm = await secondary.client.premark('src', {
      blockSizeBytes: 65536,
      startBlock: 200,
      count: 4,
      set: far.encode().toString('base64'),
    });
    assert.deepEqual(pm, { marked: 1, blockSizeBytes: 65536 });
    const bits = BlockSet.decode(await secondary.client.bitmapBits('src', 'since-restore'));
    assert.ok(bits.has(202));
    assert.deepEqual(
      Buffer.from(one.hashes, 'base64'),
      Buffer.from(whole.hashes, 'base64').subarray(3 * 32, 4 * 32),
    );
  });

  it('copies everything when the IDs differ, then only the frozen blocks when they are equal', async () => {
    assert.equal(
      (await qemuIo(secondary.uri('src'), ['write -P 0x5a 1M 3M', 'write -P 0x5b 9M 64k'])).code,
      0,
    );
    assert.equal((await qemuIo(primary.uri('dst'), ['write -P 0x99 12M 64k'])).code, 0); // old data: must go
    const full = await finished(
      secondary.client,
      await secondary.client.startLocalCopy({
        volume: 'src',
        external: 'home',
        mode: 'by-id',
        bitmap: 'fb.1',
        freezeFrom: 'since-restore',
        taskId: 't1',
      }),
    );
    assert.equal(full.state, 'succeeded', JSON.stringify(full.error));
    const r1 = full.result as { mode: string; why: string; blocksCopied: number; destinationId: string };
    assert.deepEqual([r1.mode, r1.blocksCopied, r1.destinationId], ['full', 256, primaryId]);
    assert.match(r1.why, /not /);
    await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', primary.uri('dst'), secondary.uri('src')]);

    // The lineage equal to the primary's ID: a delta of what changed since the first freeze.
    await secondary.client.setInheritedUniqueId('src', primaryId);
    assert.equal((await qemuIo(secondary.uri('src'), ['write -P 0x5c 5M 128k'])).code, 0);
    // A node restarted with the virtual volume attached dials it again on use.
    await secondary.stop();
    secondary = await startTestNode({ dataDir: secondary.dataDir });
    assert.equal((await secondary.client.listExternals())[0].connected, false);
    const delta = await finished(
      secondary.client,
      await secondary.client.startLocalCopy({
        volume: 'src',
        external: 'home',
        mode: 'by-id',
        bitmap: 'fb.2',
        freezeFrom: 'since-restore',
      }),
    );
    assert.equal(delta.state, 'succeeded', JSON.stringify(delta.error));
    // The two 64 KiB blocks the write touched, counted in 4 KiB grains (the restart made
    // them whole: a node forgets which grains changed).
    assert.deepEqual(
      [(delta.result as { mode: string }).mode, (delta.result as { blocksCopied: number }).blocksCopied],
      ['delta', 32],
    );
    await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', primary.uri('dst'), secondary.uri('src')]);
    await secondary.client.detachExternal('home');
    assert.deepEqual(await secondary.client.listExternals(), []);
    await assert.rejects(secondary.client.detachExternal('home'), code('NOT_FOUND'));
  });
});
