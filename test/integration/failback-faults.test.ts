// Failback under faults (DESIGN "Promises": a failback interrupted at any point finishes
// with the primary byte-identical to the secondary). Real parts throughout: the manager
// is a `rebound manager run` process (killed with SIGKILL and started again on its data),
// the secondary a `rebound node` process built by the local site provider, the primary a
// node on fixed ports (so it can stop and start again where the manager knows it), hosts
// are qemu-io. The primary advertises a TCP proxy as its NBD address (nbdAdvertise), so
// the failback pair's link can be slowed (a window to interrupt the initial copy) and
// cut. The secondary's stop-hosts hook waits for a gate file: while the gate is shut the
// job holds at that step with the pair streaming the journal and a host still writing.
//
// Each case fails a volume over, writes at the secondary, keeps a reference image of
// what the secondary holds (with the same host writes applied to it), interrupts the
// failback, and ends with qemu-img compare of the primary against the reference:
//   1. remote copy, the manager killed during the initial copy and during streaming
//   2. remote copy, the NBD link cut during the initial copy and during streaming
//   3. the primary stopped and started again: during a remote copy's initial copy (the
//      pair reconnects), and before an object-store failback's apply (the job pauses
//      with a reason and resumes when the node answers)
//   4. the secondary killed (SIGKILL) during a remote copy's initial copy, an external
//      volume's copy and an object-store generation N+1: the job pauses until `rebound
//      site start` brings the node back on its data and ports
//   5. object store, the manager killed during generation N+1 and the primary's apply
//   6. destinations with other IDs (S401, S505): every block moves, by both methods; the
//      secondary, holding another failed-over volume, is kept until that one is back
//   7. consistency owed (the primary was down at failover, written after its backup):
//      the failback runs S301-S303 first, then a delta
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type JobView, ManagerClient } from '../../src/manager/index.js';
import {
  assertIdentical,
  backUp,
  doneSpecs,
  failOver,
  hostWrites,
  imageOf,
  MiB,
  readsAs,
  registerPrimary,
  teardownLocalSites,
} from '../helpers/dr-fixture.js';
import { type ManagerProcess, startManagerProcess } from '../helpers/manager-process.js';
import { freePort } from '../helpers/nbd-peers.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { requireTools, runCli } from '../helpers/tools.js';

const SIZE = 32 * MiB;
const BLOCK = 64 * 1024;

interface Moved {
  [key: string]: unknown;
  delta: boolean;
  why?: string;
  blocksMoved: number;
  movedBlockBytes: number;
  changedBlocks: number | null;
}

describe('failback under faults', () => {
  let dir: string;
  let proxy: TcpProxy;
  let primary: NodeFixture;
  let manager: ManagerProcess;
  let admin: ManagerClient;
  let gate: string;
  let hooks: Record<string, unknown>;
  let app: string;
  let refs = 0;

  async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = await probe();
      if (got !== undefined) return got;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${manager.logTail()}`);
      await new Promise((r) => setTimeout(r, 40));
    }
  }

  /** The job once `test` holds for it (the manager must answer). */
  function jobWhen(id: string, what: string, test: (j: JobView) => boolean): Promise<JobView> {
    return until(what, async () => {
      const j = await admin.getJob(id);
      assert.ok(
        !['failed', 'cancelled'].includes(j.state),
        `${what}: job ${j.state} ${JSON.stringify(j.error)}`,
      );
      return test(j) ? j : undefined;
    });
  }

  async function pair() {
    return (await admin.drStatus()).find((d) => d.state === 'failing-back')?.pair ?? null;
  }

  async function finished(id: string): Promise<JobView> {
    const end = await admin.waitJob(id, { intervalMs: 50, timeoutMs: 120_000 });
    assert.equal(end.state, 'succeeded', `${JSON.stringify(end.error)} ${end.pausedReason ?? ''}`);
    return end;
  }

  /** A host write at the secondary, applied to the reference image too. */
  async function write(uri: string, ref: string, ...commands: string[]): Promise<void> {
    await hostWrites(uri, ...commands);
    await hostWrites(ref, ...commands);
  }

  /** A fresh backup, a failover of `app` to site dr, host writes there; the reference of what it holds. */
  async function failedOver(...commands: string[]): Promise<{ uri: string; ref: string }> {
    await backUp(admin, app, 'incremental');
    // Generation N+1 of 12 MiB then takes 1.5 s at the secondary, long enough for a test to
    // kill the manager in the middle of it (unpaced it is over in some 30 ms).
    const provider = { type: 'local', backupBytesPerSec: 8 * MiB };
    const { secondaryUri } = await failOver(admin, [app], { hooks, provider });
    await hostWrites(secondaryUri, ...commands);
    return { uri: secondaryUri, ref: await imageOf(secondaryUri, join(dir, `ref${++refs}.raw`)) };
  }

  async function startPrimary(dataDir?: string): Promise<NodeFixture> {
    if (dataDir) return startTestNode({ dataDir });
    const [api, nbd] = [await freePort(), await freePort()];
    const fx = await startTestNode({
      init: {
        apiListen: `127.0.0.1:${api}`,
        nbdListen: `127.0.0.1:${nbd}`,
        nbdAdvertise: `127.0.0.1:${proxy.port}`,
        // The apply of a generation at the primary then lasts long enough (12 MiB: 1.5 s)
        // for a test to kill the manager in the middle of it.
        restoreRate: '8M',
      },
    });
    proxy.target = { host: '127.0.0.1', port: nbd };
    const id = await fx.client.identity();
    assert.deepEqual([id.nbd.host, id.nbd.port], ['127.0.0.1', proxy.port], 'the node reports nbdAdvertise');
    assert.equal(fx.node.nbd.port, nbd, 'and listens where told');
    return fx;
  }

  const gateOpen = () => writeFile(gate, '');
  const gateShut = () => rm(gate, { force: true });

  before(async () => {
    requireTools('qemu-io', 'qemu-img');
    dir = await mkdtemp(join(tmpdir(), 'rebound-fbfaults-'));
    proxy = await startTcpProxy();
    primary = await startPrimary();
    // A short health poll: a job paused on the primary resumes soon after it answers again.
    manager = await startManagerProcess(join(dir, 'manager'), { pollIntervalMs: 300, nodeTimeoutMs: 2000 });
    admin = new ManagerClient(manager.url, manager.token);
    await registerPrimary(admin, primary, join(dir, 'store'));
    gate = join(dir, 'hosts-stopped');
    await gateOpen();
    hooks = { stopHosts: { command: `while [ ! -e '${gate}' ]; do sleep 0.05; done`, timeoutSeconds: 120 } };
    app = (await admin.createVolume('p1', 'app', SIZE)).uniqueId;
    await hostWrites(primary.uri('app'), `write -P 0x11 0 ${SIZE}`);
    await backUp(admin, app, 'full');
  });
  after(async () => {
    await teardownLocalSites(join(dir, 'manager'), 'dr');
    await manager?.kill();
    await primary?.close();
    await proxy?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('remote copy: the manager killed during the initial copy and during streaming resumes and ends identical', async () => {
    const { uri, ref } = await failedOver('write -P 0x21 0 8M');
    proxy.rateBytesPerSec = 2 * MiB; // 8 MiB to copy: about 4 s
    await gateShut();
    const fb = await admin.failback({ volume: app, method: 'remote-copy' });
    await jobWhen(fb.id, 'the initial copy under way', (j) => j.step === 'copy');
    await until('blocks copied', async () => ((await pair())?.blocksCopied ?? 0) > 0 || undefined);
    assert.equal((await pair())?.state, 'initial-copy');
    assert.equal((await pair())?.blockBytes, 4096, 'a delta pair counts 4 KiB grains');
    await manager.kill();
    await write(uri, ref, 'write -P 0x22 16M 1M'); // journaled while the manager is down
    await manager.restart();
    proxy.rateBytesPerSec = null;
    await jobWhen(fb.id, 'the copy done, hosts being stopped', (j) => j.step === 'stop');
    proxy.rateBytesPerSec = MiB;
    await write(uri, ref, 'write -P 0x23 20M 2M');
    await until('journal lag', async () => ((await pair())?.lagEntries ?? 0) > 0 || undefined);
    assert.equal((await pair())?.state, 'streaming');
    await manager.kill();
    proxy.rateBytesPerSec = null;
    await manager.restart();
    await gateOpen();
    const end = await finished(fb.id);
    const resumed = (end.log ?? []).filter((l) => /resumed after a manager restart/.test(l.message));
    assert.deepEqual(
      resumed.map((l) => l.step),
      ['copy', 'stop'],
    );
    const r = end.result as Moved & { journalEntries: number };
    assert.equal(r.delta, true);
    assert.ok(r.blocksMoved >= 128, `the 128 changed blocks were copied (${r.blocksMoved})`);
    assert.ok(r.journalEntries > 0, 'the writes after the freeze went through the journal');
    await assertIdentical(primary.uri('app'), ref);
  });

  it('remote copy: the NBD link cut during the initial copy and during streaming, a host writing; the pair reconnects', async () => {
    const { uri, ref } = await failedOver('write -P 0x31 0 8M');
    proxy.rateBytesPerSec = 2 * MiB;
    await gateShut();
    const links = proxy.connections;
    const fb = await admin.failback({ volume: app, method: 'remote-copy' });
    await until('blocks copied', async () => ((await pair())?.blocksCopied ?? 0) > 0 || undefined);
    proxy.cut(2000);
    await write(uri, ref, 'write -P 0x32 12M 1M');
    await jobWhen(fb.id, 'the copy done, hosts being stopped', (j) => j.step === 'stop');
    const cutAt = proxy.connections;
    await write(uri, ref, 'write -P 0x33 24M 2M');
    await until('journal lag', async () => ((await pair())?.lagEntries ?? 0) > 0 || undefined);
    proxy.cut(2000);
    await write(uri, ref, 'write -P 0x34 28M 64k', 'write -P 0x35 12M 4k');
    await until('the pair connected again', async () => proxy.connections > cutAt || undefined);
    proxy.rateBytesPerSec = null;
    await gateOpen();
    const end = await finished(fb.id);
    assert.ok(
      proxy.connections >= links + 3,
      `connected, then again after each cut (${proxy.connections - links})`,
    );
    assert.equal((end.result as Moved).delta, true);
    await assertIdentical(primary.uri('app'), ref);
  });

  it('the primary stopped during a failback: the pair reconnects; a step on the primary pauses the job until it answers', async () => {
    // Remote copy: the primary goes away in the middle of the initial copy.
    let { uri, ref } = await failedOver('write -P 0x41 0 6M');
    proxy.rateBytesPerSec = 2 * MiB;
    const fb = await admin.failback({ volume: app, method: 'remote-copy' });
    await until('blocks copied', async () => ((await pair())?.blocksCopied ?? 0) > 0 || undefined);
    await primary.stop();
    await write(uri, ref, 'write -P 0x42 8M 64k');
    // dr status says why the pair is not moving, and when it tries again.
    const retrying = await until(
      'the pair says it is retrying',
      async () => (await pair())?.retrying ?? undefined,
    );
    assert.ok(retrying.attempt >= 1 && retrying.message.length > 0, JSON.stringify(retrying));
    assert.ok(Date.parse(retrying.nextAttemptAt) >= Date.parse(retrying.since));
    // So does the job's log, under the copy step.
    const told = (j: JobView, what: RegExp) =>
      (j.log ?? []).some((l) => l.step === 'copy' && l.status === 'info' && what.test(l.message));
    await jobWhen(fb.id, 'the log says the pair waits', (j) =>
      told(j, /the pair cannot reach app at .*; it tries again \(attempt \d+/),
    );
    primary = await startPrimary(primary.dataDir);
    proxy.rateBytesPerSec = null;
    const rc = await finished(fb.id);
    assert.ok(
      told(rc, /the pair reached app at .* again after \d+ failed attempts?/),
      JSON.stringify(rc.log),
    );
    await assertIdentical(primary.uri('app'), ref);

    // Object store: the primary is down when the job reaches it (after generation N+1).
    ({ uri, ref } = await failedOver('write -P 0x43 2M 1M'));
    await gateShut();
    const os = await admin.failback({ volume: app, method: 'object-store' });
    await jobWhen(os.id, 'hosts being stopped', (j) => j.step === 'stop');
    await primary.stop();
    await gateOpen();
    const paused = await jobWhen(os.id, 'paused', (j) => j.state === 'paused');
    assert.match(paused.pausedReason ?? '', /resumes when node p1 answers again/);
    primary = await startPrimary(primary.dataDir);
    const end = await finished(os.id);
    assert.ok(
      (end.log ?? []).some((l) => l.status === 'paused'),
      'the step log shows the pause',
    );
    await assertIdentical(primary.uri('app'), ref);
  });

  it('the secondary killed during a failback: the job pauses until `site start` brings its node back; identical', async () => {
    const { uri, ref } = await failedOver('write -P 0x51 0 6M');
    proxy.rateBytesPerSec = 2 * MiB;
    const fb = await admin.failback({ volume: app, method: 'remote-copy' });
    await until('blocks copied', async () => ((await pair())?.blocksCopied ?? 0) > 0 || undefined);
    const pidFile = join(dir, 'manager', 'sites', 'dr', 'node.pid');
    process.kill(Number((await readFile(pidFile, 'utf8')).trim()), 'SIGKILL');
    const paused = await jobWhen(fb.id, 'paused', (j) => j.state === 'paused');
    assert.match(paused.pausedReason ?? '', /resumes when node dr-node answers again/);
    // dr status says the secondary does not answer, and how to bring it back.
    const down = (await admin.drStatus()).find((d) => d.lineage === app);
    assert.match(down?.secondaryProblem ?? '', /cannot reach the node at http/);
    const status = await runCli(manager, 'dr', 'status');
    assert.match(status, /the secondary dr-node \(site dr\) cannot be asked: .*\n.*rebound site start dr/);

    const start = await admin.startSite('dr');
    await assert.rejects(
      admin.startSite('dr'),
      /still active on the same site/,
      'one start of a site at a time',
    );
    const started = await admin.waitJob(start.id, { intervalMs: 50, timeoutMs: 60_000 });
    assert.equal(started.state, 'succeeded', JSON.stringify(started.error));
    // The node is back on its ports: the host reconnects where it was, and its write is journaled.
    await write(uri, ref, 'write -P 0x52 8M 64k');
    proxy.rateBytesPerSec = null;
    const end = await finished(fb.id);
    assert.ok(
      (end.log ?? []).some((l) => l.step === 'copy' && l.status === 'paused'),
      'the step log shows the pause',
    );
    assert.equal((end.result as Moved).delta, true);
    await assertIdentical(primary.uri('app'), ref);
    assert.equal((await admin.drStatus()).find((d) => d.lineage === app)?.secondaryProblem, null);
  });

  it('the secondary killed during an external-volume copy and during generation N+1: each job pauses until `site start`; identical', async () => {
    const pidFile = join(dir, 'manager', 'sites', 'dr', 'node.pid');
    for (const [method, step] of [
      ['external', 'copy.task'],
      ['object-store', 'n.task'],
    ] as const) {
      const { ref } = await failedOver('write -P 0x53 0 12M');
      // The virtual volume's link runs through the proxy: slowed, the copy into it takes 6 s.
      // Generation N+1 is paced by the site's backupBytesPerSec (1.5 s for 12 MiB).
      proxy.rateBytesPerSec = 2 * MiB;
      const fb = await admin.failback({ volume: app, method });
      await jobWhen(fb.id, `${method}: ${step} under way`, (j) => j.step === step);
      process.kill(Number((await readFile(pidFile, 'utf8')).trim()), 'SIGKILL');
      const paused = await jobWhen(fb.id, `${method}: paused`, (j) => j.state === 'paused');
      assert.match(paused.pausedReason ?? '', /resumes when node dr-node answers again/, method);
      const started = await admin.waitJob((await admin.startSite('dr')).id, {
        intervalMs: 50,
        timeoutMs: 60_000,
      });
      assert.equal(started.state, 'succeeded', `${method}: ${JSON.stringify(started.error)}`);
      proxy.rateBytesPerSec = null;
      // The node forgot its task: the step starts it again, on the virtual volume the node
      // dialled again from its record (external), or from the since-restore bitmap (N+1).
      const end = await finished(fb.id);
      assert.ok(
        (end.log ?? []).some((l) => l.step === step && l.status === 'paused'),
        `${method}: the step log shows the pause at ${step}`,
      );
      assert.equal((end.result as Moved).delta, true, method);
      await assertIdentical(primary.uri('app'), ref);
    }
  });

  it('object store: the manager killed during generation N+1 and during the apply at the primary', async () => {
    const { ref } = await failedOver('write -P 0x51 0 12M', 'write -P 0x52 30M 64k');
    const fb = await admin.failback({ volume: app, method: 'object-store' });
    await jobWhen(fb.id, 'generation N+1 under way', (j) => j.step === 'n.task');
    await manager.kill();
    await manager.restart();
    await jobWhen(fb.id, 'the apply at the primary', (j) => j.step === 'back.task');
    await manager.kill();
    await manager.restart();
    const end = await finished(fb.id);
    const resumed = (end.log ?? []).filter((l) => /resumed after a manager restart/.test(l.message));
    assert.deepEqual(
      resumed.map((l) => l.step),
      ['n.task', 'back.task'],
    );
    const r = end.result as Moved;
    assert.deepEqual([r.delta, r.blocksMoved], [true, 193]);
    await assertIdentical(primary.uri('app'), ref);
  });

  it('destinations with other unique IDs get every block, by both methods; the secondary stays while it holds another volume', async () => {
    const ids: string[] = [];
    for (const name of ['five', 'six']) {
      ids.push((await admin.createVolume('p1', name, 16 * MiB)).uniqueId);
      await hostWrites(primary.uri(name), `write -P 0x61 0 16M`);
      await backUp(admin, ids.at(-1)!, 'full');
      // The destinations hold other data: a full copy must leave none of it.
      await admin.createVolume('p1', `${name}-new`, 16 * MiB);
      await hostWrites(primary.uri(`${name}-new`), 'write -P 0xee 0 16M');
    }
    await failOver(admin, ids, { hooks });
    const uris = (await admin.drStatus())
      .filter((d) => ids.includes(d.lineage))
      .map((d) => d.secondaryNbdUri!);
    const refs5: string[] = [];
    for (const [i, uri] of uris.entries()) {
      await hostWrites(uri, `write -P 0x6${i + 2} 1M 64k`, 'write -z 2M 64k');
      refs5.push(await imageOf(uri, join(dir, `dest${i}.raw`)));
    }
    const all = (16 * MiB) / BLOCK;
    let i = 0;
    for (const method of ['remote-copy', 'object-store'] as const) {
      const name = i === 0 ? 'five' : 'six';
      await assert.rejects(
        admin.failback({ volume: ids[i], method, destination: 'nothing-here' }),
        /destination: no volume nothing-here/,
      );
      const fb = await admin.failback({ volume: ids[i], method, destination: `${name}-new` });
      const end = await finished(fb.id);
      const r = end.result as Moved;
      assert.equal(r.delta, false, method);
      assert.match(r.why ?? '', /unique IDs differ/);
      assert.deepEqual(
        [r.blocksMoved, r.movedBlockBytes],
        [all, BLOCK],
        `${method}: every block of the volume moves`,
      );
      await assertIdentical(primary.uri(`${name}-new`), refs5[i]);
      const [dr] = (await admin.drStatus()).filter((d) => d.lineage === ids[i]);
      assert.deepEqual([dr.active, dr.volume], ['primary', `${name}-new`]);
      i++;
      if (i === 1) {
        // The other volume is still failed over: its secondary must still serve it.
        await readsAs(uris[1], '0x63', '1M', '64k');
        const teardown = end.log?.find((l) => l.step === 'teardown' && l.status === 'done');
        assert.match(teardown?.message ?? '', /the secondary is kept: six/);
      }
    }
  });

  it('consistency owed: the primary was down at failover; the failback assures consistency first, then moves only the changes', async () => {
    await backUp(admin, app, 'incremental');
    // The primary drifts after its backup, then is down while the failover runs.
    await hostWrites(primary.uri('app'), 'write -P 0x99 8M 128k', 'write -P 0x98 26M 64k');
    await primary.stop();
    const { secondaryUri } = await failOver(admin, [app], { hooks });
    const [dr] = (await admin.drStatus()).filter((d) => d.lineage === app);
    assert.equal(dr.consistency, 'owed');
    primary = await startPrimary(primary.dataDir);
    await hostWrites(secondaryUri, 'write -P 0x71 8M 64k', 'write -P 0x72 12M 64k');
    const ref = await imageOf(secondaryUri, join(dir, 'owed.raw'));
    await until('the primary answers the manager', async () =>
      (await admin.getNode('p1')).health === 'ok' ? true : undefined,
    );
    const fb = await admin.failback({ volume: app, method: 'remote-copy' });
    const end = await finished(fb.id);
    const specs = doneSpecs(end);
    assert.ok(specs.indexOf('S301-S303') >= 0, 'S301-S303 ran');
    assert.ok(
      specs.indexOf('S301-S303') < specs.indexOf('S403, S501-S504'),
      'consistency assurance before the delta copy',
    );
    const r = end.result as Moved;
    // Two 64 KiB blocks written at the secondary: 32 grains of 4 KiB.
    assert.deepEqual([r.delta, r.blocksMoved], [true, 32]);
    // The verify compares the drift that consistency assurance rewrote as well: 8M-8M+128k
    // and 26M+64k (48 grains) and 12M+64k, which only the secondary wrote.
    const v = r.verify as {
      identical: boolean;
      scope: string;
      blocksCompared: number;
      hashesFromCopy: number;
    };
    assert.deepEqual([v.identical, v.scope, v.blocksCompared], [true, 'changed', 64]);
    // The secondary answers for the 32 grains its pair copied with the hashes taken as
    // they were read; the drift's grains, which it did not copy, it reads again.
    assert.equal(v.hashesFromCopy, 32);
    // The drift is undone except where the secondary wrote (8M); 26M reads the base again.
    await assertIdentical(primary.uri('app'), ref);
    await readsAs(primary.uri('app'), '0x11', '26M', '64k');
  });
});
