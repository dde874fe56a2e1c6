// The manager API on loopback with a real node: register it (serial learned), its
// volumes synced with SPEC Fig. 7's fields, a volume created through the manager lands
// on the node, bad registrations refused, roles and the audit log, a bad field named,
// secrets never returned nor stored in clear, and a restart that keeps everything.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isReboundError } from '../../src/errors.js';
import { ManagerClient, ManualClock, type RunningManager, startManager } from '../../src/manager/index.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const SECRET_KEY = '5e'.repeat(32);
const S3_SECRET = 'S3-SECRET-never-shown-9f8e7d';
const ENC_KEY = 'c0ffee00'.repeat(8);
const PASSWORD = 'viewer-password-123';

describe('manager API with a real node', () => {
  let fx: NodeFixture;
  let dir: string;
  let m: RunningManager;
  let admin: ManagerClient;
  let adminToken: string;
  const clock = new ManualClock();
  const start = () =>
    startManager(dir, { apiPort: 0, secretKey: SECRET_KEY, pollIntervalMs: 60_000 }, { clock });

  before(async () => {
    fx = await startTestNode();
    await fx.client.createVolume('pre', 2 ** 30);
    dir = await mkdtemp(join(tmpdir(), 'rebound-manager-'));
    m = await start();
    assert.ok(m.bootstrap, 'first start makes the bootstrap admin');
    adminToken = m.bootstrap.token;
    admin = new ManagerClient(m.apiUrl, adminToken);
  });
  after(async () => {
    await m?.close();
    await fx?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers health without a token and serves its OpenAPI document', async () => {
    const anon = new ManagerClient(m.apiUrl);
    const h = await anon.health();
    assert.equal(h.status, 'ok');
    assert.ok(h.schemaVersion >= 1);
    await assert.rejects(anon.listNodes(), (e) => isReboundError(e, 'UNAUTHORIZED'));
    const doc = (await anon.openapi()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.match(doc.openapi, /^3\./);
    for (const p of ['/v1/nodes', '/v1/volumes', '/v1/volumes/{volume}', '/v1/stores', '/v1/audit']) {
      assert.ok(doc.paths[p], `OpenAPI lists ${p}`);
    }
    const create = doc.paths['/v1/volumes'].post as {
      requestBody: { content: Record<string, { schema: unknown }> };
    };
    assert.match(JSON.stringify(create.requestBody.content['application/json'].schema), /sizeBytes/);
    assert.equal((await admin.whoami()).role, 'admin');
  });

  it('registers a node, learning its serial, and syncs its volumes with Fig. 7 fields', async () => {
    await admin.addSite({ name: 'dc1', role: 'primary' });
    const n = await admin.registerNode({
      name: 'n1',
      site: 'dc1',
      url: fx.node.apiUrl,
      token: fx.node.token,
    });
    assert.equal(n.serial, fx.node.serial);
    assert.equal(n.health, 'ok');
    assert.equal(n.lastSeenAt, new Date(clock.now()).toISOString(), 'times come from the manager clock');
    assert.equal(n.volumes, 1);
    const [v] = await admin.listVolumes();
    const onNode = await fx.client.getVolume('pre');
    assert.deepEqual(
      {
        name: v.name,
        node: v.node,
        site: v.site,
        serial: v.serial,
        number: v.number,
        uniqueId: v.uniqueId,
        inheritedUniqueId: v.inheritedUniqueId,
        pool: v.pool,
        sizeBytes: v.sizeBytes,
        usedBytes: v.usedBytes,
        backedUp: v.backedUp,
        lastBackupAt: v.lastBackupAt,
        nodeHealth: v.nodeHealth,
      },
      {
        name: 'pre',
        node: 'n1',
        site: 'dc1',
        serial: fx.node.serial,
        number: onNode.number,
        uniqueId: `${fx.node.serial}:${onNode.number}`,
        inheritedUniqueId: null,
        pool: onNode.pool,
        sizeBytes: 2 ** 30,
        usedBytes: 0,
        backedUp: false,
        lastBackupAt: null,
        nodeHealth: 'ok',
      },
    );
    assert.equal((await admin.getVolume(v.uniqueId)).name, 'pre');
    assert.equal((await admin.getVolume('pre')).uniqueId, v.uniqueId, 'a name held by one node finds it');
    const events = await admin.events({ kind: 'node.registered' });
    assert.equal(events.items[0]?.subject, 'n1');
  });

  it('creates a volume through the manager on the node, and deletes it there', async () => {
    const v = await admin.createVolume('n1', 'db1', 2 ** 26);
    const onNode = await fx.client.getVolume('db1');
    assert.equal(v.uniqueId, onNode.uniqueId);
    assert.equal(v.sizeBytes, 2 ** 26);
    await assert.rejects(admin.createVolume('n1', 'db1', 2 ** 26), (e) =>
      isReboundError(e, 'ALREADY_EXISTS'),
    );
    await admin.deleteVolume(v.uniqueId);
    await assert.rejects(fx.client.getVolume('db1'), (e) => isReboundError(e, 'NOT_FOUND'));
    await assert.rejects(admin.getVolume(v.uniqueId), (e) => isReboundError(e, 'NOT_FOUND'));
    await admin.createVolume('n1', 'keep', 2 ** 26);
  });

  it('picks up a volume made on the node behind its back at the next check', async () => {
    await fx.client.createVolume('side', 2 ** 20);
    await admin.checkNode('n1');
    assert.ok((await admin.listVolumes({ node: 'n1' })).some((v) => v.name === 'side'));
    await fx.client.deleteVolume('side');
    await admin.checkNode('n1');
    assert.ok(!(await admin.listVolumes()).some((v) => v.name === 'side'));
  });

  it('refuses to register a node that does not answer, or refuses the token, or is registered already', async () => {
    const closed = await closedPort();
    await assert.rejects(
      admin.registerNode({ name: 'ghost', site: 'dc1', url: `http://127.0.0.1:${closed}`, token: 'x' }),
      (e) =>
        isReboundError(e, 'NODE_UNREACHABLE') && /ghost/.test(e.message) && e.message.includes(`:${closed}`),
    );
    await assert.rejects(
      admin.registerNode({ name: 'n2', site: 'dc1', url: fx.node.apiUrl, token: 'wrong-token' }),
      (e) => isReboundError(e, 'NODE_AUTH'),
    );
    await assert.rejects(
      admin.registerNode({ name: 'n1again', site: 'dc1', url: fx.node.apiUrl, token: fx.node.token }),
      (e) => isReboundError(e, 'ALREADY_EXISTS') && e.message.includes('n1'),
    );
    await assert.rejects(
      admin.registerNode({ name: 'n3', site: 'nowhere', url: fx.node.apiUrl, token: fx.node.token }),
      (e) => isReboundError(e, 'NOT_FOUND') && e.detail?.field === 'site',
    );
    assert.deepEqual(
      (await admin.listNodes()).map((n) => n.name),
      ['n1'],
    );
  });

  it('names the bad field in a 400', async () => {
    await assert.rejects(
      admin.createVolume('n1', 'odd', 1000),
      (e) =>
        isReboundError(e, 'INVALID_ARGUMENT') &&
        e.detail?.field === 'sizeBytes' &&
        /sizeBytes/.test(e.message),
    );
    const res = await fetch(new URL('/v1/nodes', m.apiUrl), {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'n9', site: 'dc1', token: 't' }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as {
      error: { code: string; message: string; detail: { field: string } };
    };
    assert.equal(body.error.detail.field, 'url');
    await assert.rejects(
      admin.addSite({ name: 'bad name!', role: 'primary' }),
      (e) => isReboundError(e, 'INVALID_ARGUMENT') && e.detail?.field === 'name',
    );
    await assert.rejects(
      admin.addSite({ name: 'dc9', role: 'tertiary' as 'primary' }),
      (e) => isReboundError(e, 'INVALID_ARGUMENT') && e.detail?.field === 'role',
    );
    // Starting a site's node again: only a secondary that a failover built.
    await assert.rejects(admin.startSite('nowhere'), (e) => isReboundError(e, 'NOT_FOUND'));
    await assert.rejects(admin.startSite('dc1'), (e) => isReboundError(e, 'INVALID_ARGUMENT'));
    await admin.addSite({ name: 'dr9', role: 'secondary' });
    await assert.rejects(
      admin.startSite('dr9'),
      (e) =>
        isReboundError(e, 'CONFLICT') &&
        /has no node to start .*: a failover to it builds one/.test(e.message),
    );
    await admin.removeSite('dr9');
  });

  it('refuses a viewer any change with a 403, and audits it', async () => {
    await admin.addUser({ name: 'vera', role: 'viewer', password: PASSWORD });
    await assert.rejects(new ManagerClient(m.apiUrl).signIn('vera', 'wrong-password'), (e) =>
      isReboundError(e, 'UNAUTHORIZED'),
    );
    const signed = await new ManagerClient(m.apiUrl).signIn('vera', PASSWORD);
    assert.equal(signed.role, 'viewer');
    assert.ok(signed.expiresAt, 'sign-in tokens expire');
    const viewer = new ManagerClient(m.apiUrl, signed.token);
    assert.ok((await viewer.listVolumes()).length > 0, 'a viewer reads');
    await assert.rejects(viewer.createVolume('n1', 'nope', 2 ** 20), (e) => isReboundError(e, 'FORBIDDEN'));
    await assert.rejects(viewer.deleteVolume('keep'), (e) => isReboundError(e, 'FORBIDDEN'));
    await assert.rejects(viewer.audit(), (e) => isReboundError(e, 'FORBIDDEN'));
    assert.ok(await fx.client.getVolume('keep'), 'nothing changed on the node');
    const audit = await admin.audit({ limit: 3 });
    assert.deepEqual(
      audit.items.map((a) => [a.actor, a.role, a.method, a.path, a.status]),
      [
        ['vera', 'viewer', 'GET', '/v1/audit', 403],
        ['vera', 'viewer', 'DELETE', '/v1/volumes/keep', 403],
        ['vera', 'viewer', 'POST', '/v1/volumes', 403],
      ],
    );
    // Pagination: the next page goes on where this one stopped.
    const next = await admin.audit({ limit: 3, before: audit.nextBefore! });
    assert.ok(next.items.every((a) => a.id < audit.items[2].id));
    assert.ok(
      next.items.some((a) => a.path === '/v1/auth/sign-in' && a.status === 201 && a.actor === 'vera'),
    );
  });

  it('never returns a secret from any endpoint, nor keeps one in clear in the database', async () => {
    await admin.addStore({
      name: 's3main',
      provider: 's3',
      endpoint: 'http://127.0.0.1:7480',
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: S3_SECRET,
      encryption: 'aes-256-gcm',
      encryptionKey: ENC_KEY,
      tags: { team: 'storage' },
    });
    const view = await admin.getStore('s3main');
    assert.equal(view.hasSecretKey, true);
    assert.match(view.bucket ?? '', /^rebound-[0-9a-f]{12}$/, 'bucket set automatically');
    const extra = await admin.createToken({ name: 'ci' });
    const secrets = [fx.node.token, S3_SECRET, ENC_KEY, PASSWORD, adminToken, extra.token];
    // A backup setting and a job, so their routes have something to show.
    await admin.addStore({ name: 'dirs', provider: 'directory', path: join(dir, 'dirs') });
    await admin.addBackupSetting({
      name: 'later',
      volume: 'keep',
      store: 'dirs',
      method: 'full',
      schedule: { kind: 'once', at: '2099-01-01T00:00:00Z' },
    });
    // A backup too: the heat map reads its update bitmap.
    const backup = await admin.backup({ volume: 'keep', store: 'dirs', method: 'full' });
    assert.equal((await admin.waitJob(backup.id, { intervalMs: 50 })).state, 'succeeded');
    const job = await admin.waitJob((await admin.verify('dirs')).id, { intervalMs: 50 });
    // Every GET route the API declares, with the parameters it has here.
    const gets = [
      '/v1/backup-settings',
      '/v1/backup-settings/later',
      '/v1/stores/dirs/generations',
      '/v1/jobs',
      `/v1/jobs/${job.id}`,
      '/v1/jobs/stream',
      '/v1/dr',
      '/v1/failbacks/estimate?volume=keep',
      '/v1/volumes/keep/heatmap?buckets=16',
      '/v1/health',
      '/v1/openapi.json',
      '/v1/auth/whoami',
      '/v1/sites',
      '/v1/sites/dc1',
      '/v1/nodes',
      '/v1/nodes/n1',
      '/v1/volumes',
      '/v1/volumes/keep',
      '/v1/stores',
      '/v1/stores/s3main',
      '/v1/users',
      '/v1/users/vera',
      '/v1/tokens',
      '/v1/audit?limit=1000',
      '/v1/events?limit=1000',
    ];
    const declared = (await admin.openapi()) as { paths: Record<string, Record<string, unknown>> };
    const getPaths = Object.entries(declared.paths)
      .filter(([, ops]) => 'get' in ops)
      .map(([p]) => p);
    assert.equal(
      getPaths.length + 1,
      new Set(gets.map((g) => g.replace(/\?.*/, ''))).size,
      'all GET routes walked',
    );
    for (const path of gets) {
      const stream = path === '/v1/jobs/stream'; // never ends: read its first bytes only
      const res = await fetch(new URL(path, m.apiUrl), {
        headers: { authorization: `Bearer ${adminToken}` },
        ...(stream ? { signal: AbortSignal.timeout(1000) } : {}),
      });
      // Nothing failed over here: the estimate's answer is its error (a body to check all the same).
      assert.equal(res.status, path.startsWith('/v1/failbacks/estimate') ? 409 : 200, path);
      const text = stream
        ? new TextDecoder().decode((await res.body!.getReader().read()).value)
        : await res.text();
      for (const s of secrets) assert.ok(!text.includes(s), `${path} leaks a secret`);
      assert.ok(!/v1:[A-Za-z0-9_-]{20,}/.test(text), `${path} shows a sealed secret`);
      assert.ok(!/scrypt\$/.test(text), `${path} shows a password hash`);
    }
    // The answers that made them carried only the new token, once.
    const files = (await readdir(dir)).filter((f) => f.startsWith('manager.db'));
    assert.ok(files.length >= 1);
    for (const f of files) {
      const bytes = await readFile(join(dir, f));
      for (const s of secrets) assert.ok(!bytes.includes(s), `${f} holds a secret in clear`);
    }
    // The manager can still open them to push the store to a node.
    const reg = await m.registry.storeRegistration('s3main');
    assert.equal(reg.secretAccessKey, S3_SECRET);
    assert.equal(reg.encryptionKey, ENC_KEY);
  });

  it('keeps everything across a restart', async () => {
    const before = {
      nodes: await admin.listNodes(),
      volumes: await admin.listVolumes(),
      stores: await admin.listStores(),
      users: await admin.listUsers(),
      sites: await admin.listSites(),
    };
    await m.close();
    m = await start();
    assert.equal(m.bootstrap, undefined, 'no second bootstrap admin');
    assert.deepEqual(m.migrated, []);
    admin = new ManagerClient(m.apiUrl, adminToken);
    assert.deepEqual(await admin.listNodes(), before.nodes);
    assert.deepEqual(await admin.listVolumes(), before.volumes);
    assert.deepEqual(await admin.listStores(), before.stores);
    assert.deepEqual(await admin.listUsers(), before.users);
    assert.deepEqual(await admin.listSites(), before.sites);
    const signed = await new ManagerClient(m.apiUrl).signIn('vera', PASSWORD);
    assert.equal((await new ManagerClient(m.apiUrl, signed.token).whoami()).user, 'vera');
    // And it still reaches the node with the token it sealed.
    const v = await admin.createVolume('n1', 'after-restart', 2 ** 20);
    assert.equal((await fx.client.getVolume('after-restart')).uniqueId, v.uniqueId);
  });
});
