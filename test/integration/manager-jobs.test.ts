// The manager's scheduler and jobs with a real node and a directory store, time driven
// by a ManualClock: a periodic backup setting runs at its times (the first incremental
// becomes a full and says why, the next is incremental), its generations are listed,
// a run missed while the manager was down runs once at start-up and is marked late, a
// job whose node goes away pauses with the reason and resumes when the node answers
// again (also when it came back before the manager saw it gone), a due run is skipped
// (never run twice at once) while the previous job is still active, and a restore job
// brings the bytes back.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type JobView,
  ManagerClient,
  ManualClock,
  type RunningManager,
  startManager,
} from '../../src/manager/index.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';
import { freePort } from '../helpers/radosgw.js';
import { qemuIo, requireTools } from '../helpers/tools.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MiB = 2 ** 20;

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('manager scheduler and jobs with a real node', () => {
  let fx: NodeFixture;
  let dir: string;
  let storeDir: string;
  let m: RunningManager;
  let admin: ManagerClient;
  let apiPort: number;
  let nbdPort: number;
  const clock = new ManualClock(Date.parse('2026-03-01T00:00:00Z'));
  // A webhook receiver: what an operator's alerting would get.
  const notified: { kind: string; subject: string | null }[] = [];
  let webhook: Server;
  let webhookUrl = '';
  const config = () => ({ apiPort: 0, secretKey: 'ab'.repeat(32), pollIntervalMs: 10 * DAY, webhookUrl });
  const start = async () => {
    m = await startManager(dir, config(), { clock, jobPollMs: 20 });
    admin = new ManagerClient(m.apiUrl, token);
  };
  let token = '';
  const startNodeAgain = async () => {
    fx = await startTestNode({ dataDir: fx.dataDir });
  };

  before(async () => {
    requireTools('qemu-io');
    apiPort = await freePort();
    nbdPort = await freePort();
    fx = await startTestNode({
      init: { apiListen: `127.0.0.1:${apiPort}`, nbdListen: `127.0.0.1:${nbdPort}` },
    });
    webhook = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        notified.push((JSON.parse(body) as { event: { kind: string; subject: string | null } }).event);
        res.end();
      });
    });
    await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
    webhookUrl = `http://127.0.0.1:${(webhook.address() as { port: number }).port}/hook`;
    dir = await mkdtemp(join(tmpdir(), 'rebound-mjobs-'));
    storeDir = await mkdtemp(join(tmpdir(), 'rebound-mjobs-store-'));
    m = await startManager(dir, config(), { clock, jobPollMs: 20 });
    token = m.bootstrap!.token;
    admin = new ManagerClient(m.apiUrl, token);
    await admin.addSite({ name: 'dc1', role: 'primary' });
    await admin.registerNode({ name: 'n1', site: 'dc1', url: fx.node.apiUrl, token: fx.node.token });
    await admin.addStore({ name: 'local', provider: 'directory', path: storeDir });
    await admin.createVolume('n1', 'db', 64 * MiB);
  });
  after(async () => {
    await m?.close();
    await fx?.close();
    await rm(dir, { recursive: true, force: true });
    await rm(storeDir, { recursive: true, force: true });
    await new Promise((r) => webhook?.close(r));
  });

  const jobsOf = (setting: string) => admin.listJobs({ setting });
  const oneMoreJob = (setting: string, known: number) =>
    until(`job ${known + 1} of ${setting}`, async () => {
      const jobs = await jobsOf(setting);
      return jobs.length > known ? jobs[0] : undefined;
    });

  it('runs a periodic setting at its times: full first (and why), then incremental', async () => {
    assert.equal((await qemuIo(fx.uri('db'), ['write -P 0x11 0 1M'])).code, 0);
    const s = await admin.addBackupSetting({
      name: 'nightly',
      volume: 'db',
      store: 'local',
      method: 'incremental',
      schedule: { kind: 'daily', start: new Date(clock.now() + HOUR).toISOString(), interval: 1, maxRuns: 2 },
    });
    assert.equal(s.nextRunAt, new Date(clock.now() + HOUR).toISOString());
    assert.equal((await jobsOf(s.id)).length, 0, 'nothing runs before its time');

    clock.advance(HOUR);
    const first = await admin.waitJob((await oneMoreJob(s.id, 0)).id, { intervalMs: 20, timeoutMs: 60_000 });
    assert.equal(first.state, 'succeeded', JSON.stringify(first.error));
    assert.equal(first.result?.method, 'full');
    assert.match(String(first.result?.reason), /first backup/);
    assert.equal(first.late, false);
    const log = (await admin.getJob(first.id)).log ?? [];
    assert.ok(
      log.some((l) => l.spec === 'Fig. 11-14' && l.status === 'done'),
      'the step log names the spec',
    );
    assert.ok((await admin.getVolume('db')).backedUp, 'Fig. 7: the volume is marked backed up');

    assert.equal((await qemuIo(fx.uri('db'), ['write -P 0x22 2M 64k'])).code, 0);
    clock.advance(DAY);
    const second = await admin.waitJob((await oneMoreJob(s.id, 1)).id, { intervalMs: 20, timeoutMs: 60_000 });
    assert.equal(second.state, 'succeeded', JSON.stringify(second.error));
    assert.equal(second.result?.method, 'incremental');
    assert.equal(second.result?.blocks, 1, 'one 64 KiB block changed');

    const gens = await admin.listGenerations('local', { volume: 'db' });
    assert.deepEqual(gens.map((g) => g.method).sort(), ['full', 'incremental']);
    const after2 = await admin.getBackupSetting('nightly');
    assert.equal(after2.runs, 2);
    assert.equal(after2.nextRunAt, null, 'maxRuns reached');
    clock.advance(DAY);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await jobsOf(s.id)).length, 2, 'no third run');
  });

  it('runs a run missed while the manager was down once at start-up, marked late', async () => {
    const s = await admin.addBackupSetting({
      name: 'hourly',
      volume: 'db',
      store: 'local',
      method: 'incremental',
      schedule: {
        kind: 'daily',
        start: new Date(clock.now() + HOUR).toISOString(),
        interval: 1,
        maxRuns: null,
      },
    });
    await m.close();
    clock.advance(3 * DAY); // three runs fall due while nothing runs
    await start();
    const job = await admin.waitJob((await oneMoreJob(s.id, 0)).id, { intervalMs: 20, timeoutMs: 60_000 });
    assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.late, true);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await jobsOf(s.id)).length, 1, 'the missed runs are not made up one by one');
    const after1 = await admin.getBackupSetting(s.id);
    assert.ok(Date.parse(after1.nextRunAt!) > clock.now(), 'the next run is in the future');
    const events = await admin.events({ kind: 'backup.late' });
    assert.ok(events.items.some((e) => e.subject === 'hourly'));
    await admin.updateBackupSetting(s.id, { enabled: false });
  });

  it('pauses a job whose node is gone, skips runs meanwhile, and resumes when the node is back', async () => {
    const s = await admin.addBackupSetting({
      name: 'paused',
      volume: 'db',
      store: 'local',
      method: 'full',
      schedule: {
        kind: 'daily',
        start: new Date(clock.now() + HOUR).toISOString(),
        interval: 1,
        maxRuns: null,
      },
    });
    await fx.stop();
    await admin.checkNode('n1'); // the manager sees it unreachable
    clock.advance(HOUR);
    const job = await until('a paused job', async () => {
      const [j] = await jobsOf(s.id);
      return j?.state === 'paused' ? j : undefined;
    });
    assert.match(job.pausedReason ?? '', /n1/);
    await m.events.drain();
    assert.ok(
      notified.some((e) => e.kind === 'node.health' && e.subject === 'n1'),
      'the webhook hears of the node',
    );
    assert.ok(
      notified.some((e) => e.kind === 'job.paused' && e.subject === job.id),
      'and of the paused job',
    );

    clock.advance(DAY); // due again while the first run is still active
    await until('the skip event', async () => {
      const ev = await admin.events({ kind: 'backup.skipped' });
      return ev.items.find((e) => e.subject === 'paused');
    });
    assert.equal((await jobsOf(s.id)).length, 1, 'never two runs of one setting at once');

    await startNodeAgain();
    await admin.checkNode('n1'); // answers again: the paused job resumes
    const done: JobView = await admin.waitJob(job.id, { intervalMs: 20, timeoutMs: 60_000 });
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    await admin.removeBackupSetting(s.id);
  });

  it('resumes a job paused on a node that came back before the manager saw it gone', async () => {
    const s = await admin.addBackupSetting({
      name: 'blip',
      volume: 'db',
      store: 'local',
      method: 'full',
      schedule: {
        kind: 'daily',
        start: new Date(clock.now() + HOUR).toISOString(),
        interval: 1,
        maxRuns: null,
      },
    });
    await fx.stop(); // no health check while it is away: to the manager it never looked down
    clock.advance(HOUR);
    const job = await until('a paused job', async () => {
      const [j] = await jobsOf(s.id);
      return j?.state === 'paused' ? j : undefined;
    });
    await startNodeAgain();
    await admin.checkNode('n1'); // health unchanged ('ok'), but it answers: the job goes on
    const done: JobView = await admin.waitJob(job.id, { intervalMs: 20, timeoutMs: 60_000 });
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    await admin.removeBackupSetting(s.id);
  });

  it('restores a generation into a new volume through a job, byte for byte', async () => {
    const [latest] = (await admin.listGenerations('local', { volume: 'db' })).sort(
      (a, b) => b.generation - a.generation,
    );
    const job = await admin.restore({
      store: 'local',
      generation: latest.key,
      node: 'n1',
      volume: 'db-copy',
    });
    const done = await admin.waitJob(job.id, { intervalMs: 20, timeoutMs: 60_000 });
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const copy = await admin.getVolume('db-copy');
    assert.equal(
      copy.inheritedUniqueId,
      (await admin.getVolume('db')).uniqueId,
      'S210: the unique ID is inherited',
    );
    for (const [pattern, off, len] of [
      ['0x11', '0', '1M'],
      ['0x22', '2M', '64k'],
      ['0x00', '4M', '1M'],
    ]) {
      const r = await qemuIo(fx.uri('db-copy'), [`read -P ${pattern} ${off} ${len}`], { readOnly: true });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout, /Pattern verification failed/);
    }
  });

  it('a site start whose node was torn down meanwhile fails and builds nothing', async () => {
    // As when a failback tears the site down between the start's request and its step.
    await admin.addSite({ name: 'gone', role: 'secondary' });
    await m.registry.saveSiteProvider('gone', { type: 'local' }, null);
    const job = await m.runner.submit(
      'site-start',
      { site: 'gone', nodeName: 'gone-node' },
      { createdBy: 'test' },
    );
    const end = await admin.waitJob(job!.id, { intervalMs: 20 });
    assert.equal(end.state, 'failed');
    assert.equal(end.error?.code, 'CONFLICT');
    assert.match(end.error?.message ?? '', /no node to start any more/);
    assert.equal(existsSync(join(dir, 'sites', 'gone')), false, 'no new node was built');
    await admin.removeSite('gone');
  });

  it('refuses a second backup of a volume while one is active, and cancels on request', async () => {
    const a = await admin.backup({ volume: 'db', store: 'local', method: 'full' });
    await assert.rejects(admin.backup({ volume: 'db', store: 'local', method: 'full' }), /still active/);
    const c = await admin.cancelJob(a.id).catch(() => undefined);
    const end = await admin.waitJob(a.id, { intervalMs: 20, timeoutMs: 60_000 });
    // A small volume may finish before the cancel lands; either way it ended cleanly.
    assert.ok(['cancelled', 'succeeded'].includes(end.state), end.state);
    if (c && end.state === 'cancelled') assert.ok((end.log ?? []).some((l) => /cancel/.test(l.message)));
    await assert.rejects(admin.cancelJob(a.id), /already ended/);
  });
});
