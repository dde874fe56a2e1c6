// Node health on the manager's clock: a node that stops answering becomes `unreachable`
// at the next poll (an event says so, last seen stays at the last answer), and `ok`
// again when it answers. The clock is a ManualClock: no sleeping.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManagerClient, ManualClock, type RunningManager, startManager } from '../../src/manager/index.js';
import { readNodeConfig, startNode } from '../../src/node/index.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';

const POLL_MS = 30_000;

describe('manager health poller', () => {
  let fx: NodeFixture;
  let dir: string;
  let m: RunningManager;
  let admin: ManagerClient;
  const clock = new ManualClock();

  before(async () => {
    fx = await startTestNode();
    dir = await mkdtemp(join(tmpdir(), 'rebound-manager-'));
    m = await startManager(
      dir,
      { apiPort: 0, secretKey: '7a'.repeat(32), pollIntervalMs: POLL_MS },
      { clock },
    );
    admin = new ManagerClient(m.apiUrl, m.bootstrap!.token);
    await admin.addSite({ name: 'dc1', role: 'primary' });
    await admin.registerNode({ name: 'n1', site: 'dc1', url: fx.node.apiUrl, token: fx.node.token });
  });
  after(async () => {
    await m?.close();
    await fx?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function tick(): Promise<void> {
    clock.advance(POLL_MS);
    await m.poller.settled();
  }

  it('stays ok while the node answers, last seen moving with the clock', async () => {
    await tick();
    const n = await admin.getNode('n1');
    assert.equal(n.health, 'ok');
    assert.equal(n.lastSeenAt, new Date(clock.now()).toISOString());
  });

  it('marks a node that stops answering unreachable at the next poll, with an event', async () => {
    const lastSeen = (await admin.getNode('n1')).lastSeenAt;
    await fx.stop();
    await tick();
    const n = await admin.getNode('n1');
    assert.equal(n.health, 'unreachable');
    assert.equal(n.lastSeenAt, lastSeen, 'last seen stays at the last answer');
    assert.equal(n.healthChangedAt, new Date(clock.now()).toISOString());
    assert.match(n.healthReason ?? '', /cannot reach the node/);
    const ev = (await admin.events({ kind: 'node.health' })).items;
    assert.equal(ev.length, 1);
    assert.equal(ev[0].level, 'warning');
    assert.equal(ev[0].subject, 'n1');
    assert.equal(ev[0].at, new Date(clock.now()).toISOString());
    assert.equal((await admin.listVolumes())[0]?.nodeHealth ?? 'unreachable', 'unreachable');
    assert.equal((await admin.health()).nodes.unreachable, 1);

    await tick();
    assert.equal((await admin.events({ kind: 'node.health' })).items.length, 1, 'no event without a change');
  });

  it('marks it ok again when it answers, with an event', async () => {
    // Same data directory, same API port: the node comes back where it was.
    const config = await readNodeConfig(fx.dataDir);
    const port = Number(new URL(fx.node.apiUrl).port);
    const back = await startNode(fx.dataDir, { ...config, apiPort: port });
    try {
      await tick();
      const n = await admin.getNode('n1');
      assert.equal(n.health, 'ok');
      assert.equal(n.healthReason, null);
      const ev = (await admin.events({ kind: 'node.health' })).items;
      assert.equal(ev.length, 2);
      assert.equal(ev[0].level, 'info');
    } finally {
      await back.close();
    }
  });
});
