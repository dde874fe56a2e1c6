// Site providers against real nodes (SPEC S101 "build the secondary storage system",
// S408/S710/S906 "stop the secondary's machines"): a local node process that outlives a
// manager restart and a kill -9, operator scripts that start a node with the rebound CLI,
// and a static node started by the test fixture. Ports are all 0 (chosen by the kernel).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isReboundError } from '../../src/errors.js';
import {
  type LocalSiteProvider,
  openSiteProvider,
  type SiteProvider,
} from '../../src/manager/sites/index.js';
import { isAlive, waitForExit } from '../../src/manager/sites/processes.js';
import { NodeClient } from '../../src/node/client.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';

const GiB = 2 ** 30;

/** Resolves when nothing listens on the URL's port any more. */
function portClosed(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = connect(Number(port), hostname);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

/** A port nobody listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(isReboundError(err), `not a ReboundError: ${err}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('local site provider', () => {
  let dataDir: string;
  let provider: LocalSiteProvider;
  const site = { name: 'dr' };
  const config = { type: 'local', poolSizeBytes: GiB, startTimeoutSeconds: 30, stopTimeoutSeconds: 5 };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rebound-sites-'));
    provider = openSiteProvider(config, { dataDir }) as LocalSiteProvider;
  });
  after(async () => {
    for (const name of ['dr', 'tls', 'broken']) await provider.teardown({ name }, { purge: true });
    await rm(dataDir, { recursive: true, force: true });
  });

  const pidOf = async () => Number((await readFile(provider.paths(site).pidFile, 'utf8')).trim());

  it('builds a node that answers its health check and creates a volume', async () => {
    assert.deepEqual(await provider.status(site), { state: 'absent' });
    const built = await provider.build(site);
    assert.match(built.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(built.nbd.port > 0);
    assert.deepEqual(built.tls, { mode: 'off' });
    const client = new NodeClient(built.url, built.token);
    assert.equal((await client.health()).status, 'ok');
    assert.equal((await client.identity()).serial, built.serial);
    const v = await client.createVolume('restored', GiB);
    assert.equal(v.uniqueId, `${built.serial}:${v.number}`);
    const status = await provider.status(site);
    assert.equal(status.state, 'running');
    assert.equal(status.node?.url, built.url);
    assert.ok(existsSync(join(provider.paths(site).siteDir, 'node.log')));
  });

  it('build again returns the same running node', async () => {
    const pid = await pidOf();
    const first = await provider.status(site);
    const again = await provider.build(site);
    assert.equal(again.url, first.node?.url);
    assert.equal(again.serial, first.node?.serial);
    assert.equal(await pidOf(), pid);
  });

  it('a restarted manager (a new provider on the same directory) finds the node alive', async () => {
    const pid = await pidOf();
    const before = await provider.status(site);
    const restarted = openSiteProvider(config, { dataDir });
    assert.equal((await restarted.status(site)).state, 'running');
    const found = await restarted.build(site);
    assert.equal(found.url, before.node?.url);
    assert.equal(await pidOf(), pid);
  });

  it('a node killed with SIGKILL is started again on its data, on its old ports', async () => {
    const pid = await pidOf();
    const before = await provider.build(site);
    process.kill(pid, 'SIGKILL');
    assert.ok(await waitForExit(pid, 5_000));
    assert.equal((await provider.status(site)).state, 'stopped');
    const after = await provider.build(site);
    assert.notEqual(await pidOf(), pid);
    assert.equal(after.serial, before.serial);
    assert.equal(after.url, before.url, 'the API port is asked for again');
    assert.deepEqual(after.nbd, before.nbd);
    const volumes = await new NodeClient(after.url, after.token).listVolumes();
    assert.deepEqual(
      volumes.map((v) => v.name),
      ['restored'],
    );
  });

  it('teardown stops the process and closes its port; a second teardown succeeds', async () => {
    const pid = await pidOf();
    const built = await provider.build(site);
    assert.equal(await provider.teardown(site), 'stopped');
    assert.equal(isAlive(pid), false);
    assert.ok(await portClosed(built.url));
    assert.equal(await provider.teardown(site), 'absent');
    assert.equal((await provider.status(site)).state, 'stopped');
    // Not purged: a later build brings the same node back.
    const again = await provider.build(site);
    assert.equal(again.serial, built.serial);
    assert.equal(await provider.teardown(site, { purge: true }), 'stopped');
    assert.equal(existsSync(provider.paths(site).siteDir), false);
    assert.deepEqual(await provider.status(site), { state: 'absent' });
    assert.equal(await provider.teardown(site, { purge: true }), 'absent');
  });

  it('passes TLS settings to the node and reports the PSK identity, never the key', async () => {
    const key = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const pskFile = join(dataDir, 'keys.psk');
    await writeFile(pskFile, `rebound-dr:${key}\n`, { mode: 0o600 });
    const tlsProvider = openSiteProvider(
      { ...config, tls: { mode: 'require', pskFile } },
      { dataDir },
    ) as LocalSiteProvider;
    const built = await tlsProvider.build({ name: 'tls' });
    assert.deepEqual(built.tls, { mode: 'require', pskIdentity: 'rebound-dr', pskFile });
    assert.equal((await new NodeClient(built.url, built.token).identity()).nbd.tls, 'require');
    assert.ok(!JSON.stringify(built).includes(key));
    assert.equal(await tlsProvider.teardown({ name: 'tls' }, { purge: true }), 'stopped');
  });

  it("builds the node's pool with the block size asked for (the grain of its bitmaps)", async () => {
    const small = openSiteProvider({ ...config, blockSizeBytes: 4096 }, { dataDir });
    const built = await small.build({ name: 'small' });
    assert.equal((await new NodeClient(built.url, built.token).identity()).pool.blockSizeBytes, 4096);
    assert.equal(await small.teardown({ name: 'small' }, { purge: true }), 'stopped');
  });

  it('a node that exits at start fails the build with the tail of its log', async () => {
    const broken = openSiteProvider(
      { ...config, tls: { mode: 'require', pskFile: join(dataDir, 'missing.psk') } },
      { dataDir },
    );
    const err = await rejectsWith(
      broken.build({ name: 'broken' }),
      'SITE_PROVIDER_FAILED',
      /exited before it was ready[\s\S]*node\.log ends:/,
    );
    assert.match(err.message, /missing\.psk/);
    assert.equal((await broken.status({ name: 'broken' })).state, 'stopped');
  });
});

describe('command site provider', () => {
  let dataDir: string;
  let scripts: string;
  let fx: NodeFixture;
  const site = { name: 'cloud' };

  // A build script as an operator would write one: idempotent, starts a node with the
  // rebound CLI in the background (its output redirected), prints {url, token} when up.
  const BUILD = `set -e
cd "$REBOUND_SITE_DIR"
rebound() { "$REBOUND_EXECPATH" "$REBOUND_BIN" "$@"; }
if [ ! -f node/node.json ]; then
  rebound node init --data-dir node --api-listen 127.0.0.1:0 --nbd-listen 127.0.0.1:0 --drive "$PWD/node/drive0.img:1G" >&2
fi
if ! { [ -f pid ] && kill -0 "$(cat pid)" 2>/dev/null; }; then
  rm -f ready.json
  "$REBOUND_EXECPATH" "$REBOUND_BIN" --data-dir node node run --ready-file "$PWD/ready.json" >node.log 2>&1 &
  echo $! > pid
  echo "started node pid $(cat pid)" >&2
fi
i=0
while [ ! -f ready.json ]; do
  i=$((i+1)); [ $i -lt 300 ] || { echo "node did not start" >&2; exit 1; }
  sleep 0.1
done
echo "progress lines before the answer are fine"
"$REBOUND_EXECPATH" -e '
const fs = require("fs");
const r = JSON.parse(fs.readFileSync("ready.json", "utf8"));
const c = JSON.parse(fs.readFileSync("node/node.json", "utf8"));
console.log(JSON.stringify({ url: r.apiUrl, token: c.token }));'
`;
  const TEARDOWN = `cd "$REBOUND_SITE_DIR"
if [ -f pid ]; then
  kill "$(cat pid)" 2>/dev/null || true
  while kill -0 "$(cat pid)" 2>/dev/null; do sleep 0.1; done
  rm -f pid
fi
echo "$REBOUND_ACTION purge=$REBOUND_PURGE" >> actions.log
if [ "$REBOUND_PURGE" = 1 ]; then rm -rf node; fi
exit 0
`;
  const STATUS = `cd "$REBOUND_SITE_DIR"
{ [ -f pid ] && kill -0 "$(cat pid)" 2>/dev/null; } || exit 3
"$REBOUND_EXECPATH" -e '
const fs = require("fs");
const r = JSON.parse(fs.readFileSync("ready.json", "utf8"));
const c = JSON.parse(fs.readFileSync("node/node.json", "utf8"));
console.log(JSON.stringify({ url: r.apiUrl, token: c.token }));'
`;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rebound-sites-'));
    scripts = await mkdtemp(join(tmpdir(), 'rebound-scripts-'));
    await writeFile(join(scripts, 'build.sh'), BUILD);
    await writeFile(join(scripts, 'teardown.sh'), TEARDOWN);
    await writeFile(join(scripts, 'status.sh'), STATUS);
    fx = await startTestNode({ poolSizeBytes: GiB });
  });
  after(async () => {
    await scripted().teardown(site, { purge: true });
    await fx.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(scripts, { recursive: true, force: true });
  });

  const scripted = (overrides: Record<string, unknown> = {}): SiteProvider =>
    openSiteProvider(
      {
        type: 'command',
        build: `sh ${join(scripts, 'build.sh')}`,
        teardown: `sh ${join(scripts, 'teardown.sh')}`,
        status: `sh ${join(scripts, 'status.sh')}`,
        timeoutSeconds: 60,
        ...overrides,
      },
      { dataDir },
    );

  it("builds a real node with the operator's script; build again returns the same node", async () => {
    const provider = scripted();
    assert.equal((await provider.status(site)).state, 'stopped');
    const built = await provider.build(site);
    const client = new NodeClient(built.url, built.token);
    assert.equal((await client.health()).status, 'ok');
    await client.createVolume('restored', GiB);
    assert.equal(built.serial, (await client.identity()).serial);
    assert.equal(built.nbd.port, (await client.identity()).nbd.port);
    const again = await provider.build(site);
    assert.equal(again.url, built.url);
    const status = await provider.status(site);
    assert.equal(status.state, 'running');
    assert.equal(status.node?.serial, built.serial);
  });

  it('teardown runs the script (with REBOUND_PURGE); running it twice is fine', async () => {
    const provider = scripted();
    const built = await provider.build(site);
    assert.equal(await provider.teardown(site), 'stopped');
    assert.ok(await portClosed(built.url));
    assert.equal((await provider.status(site)).state, 'stopped');
    assert.equal(await provider.teardown(site, { purge: true }), 'stopped');
    const actions = await readFile(join(dataDir, 'sites', 'cloud', 'actions.log'), 'utf8');
    assert.equal(actions, 'teardown purge=0\nteardown purge=1\n');
  });

  it('a failing script is an error with its exit code and the tail of its stderr', async () => {
    const provider = scripted({
      build: 'echo "starting VMs" >&2; echo "error: no cloud credentials" >&2; exit 7',
    });
    const err = await rejectsWith(
      provider.build(site),
      'SITE_PROVIDER_FAILED',
      /build script of site cloud failed \(exit 7\)/,
    );
    assert.match(err.message, /starting VMs\nerror: no cloud credentials/);
  });

  it('bad output is an error that names the problem and never echoes a token', async () => {
    await rejectsWith(
      scripted({ build: 'true' }).build(site),
      'SITE_PROVIDER_FAILED',
      /printed nothing on stdout/,
    );
    const err = await rejectsWith(
      scripted({ build: 'echo "token=s3cr3t-value"' }).build(site),
      'SITE_PROVIDER_FAILED',
      /not JSON \(not shown/,
    );
    assert.ok(!err.message.includes('s3cr3t-value'));
    await rejectsWith(
      scripted({ build: `echo '{"url": "ftp://x", "token": "t"}'` }).build(site),
      'SITE_PROVIDER_FAILED',
      /JSON is wrong at \/url/,
    );
  });

  it('a script past its timeout is stopped, with what it started', async () => {
    const marker = join(scripts, 'sleeper.pid');
    const provider = scripted({ build: `sleep 30 & echo $! > ${marker}; wait`, timeoutSeconds: 1 });
    const started = Date.now();
    const err = await rejectsWith(provider.build(site), 'SITE_PROVIDER_FAILED', /timed out after 1 s/);
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
    assert.equal((err as { detail?: { timedOut?: boolean } }).detail?.timedOut, true);
    const sleeper = Number((await readFile(marker, 'utf8')).trim());
    assert.ok(await waitForExit(sleeper, 5_000), 'the process group was killed');
  });

  it("a background process holding the script's stdout does not hang the build", async () => {
    const provider = scripted({
      build: `sleep 3 & echo "{\\"url\\": \\"$NODE_URL\\", \\"token\\": \\"$NODE_TOKEN\\"}"`,
      env: { NODE_URL: fx.node.apiUrl, NODE_TOKEN: fx.node.token },
    });
    const started = Date.now();
    const built = await provider.build({ name: 'held' });
    assert.ok(Date.now() - started < 2_500, `took ${Date.now() - started} ms`);
    assert.equal(built.serial, fx.node.serial);
  });

  it('a script that prints a node that does not answer: NODE_UNREACHABLE, after a while', async () => {
    const port = await closedPort();
    const provider = scripted({
      build: `echo '{"url": "http://127.0.0.1:${port}", "token": "t"}'`,
      timeoutSeconds: 1,
    });
    await rejectsWith(provider.build(site), 'NODE_UNREACHABLE', /no node answered there/);
  });
});

describe('static site provider', () => {
  let fx: NodeFixture;
  before(async () => {
    fx = await startTestNode({ poolSizeBytes: GiB });
  });
  after(() => fx.close());
  const site = { name: 'standby' };

  it('build checks the node answers; teardown leaves it running', async () => {
    const provider = openSiteProvider(
      { type: 'static', url: fx.node.apiUrl, token: fx.node.token },
      { dataDir: '/nonexistent' },
    );
    const built = await provider.build(site);
    assert.equal(built.serial, fx.node.serial);
    assert.deepEqual(built.nbd, { host: '127.0.0.1', port: fx.node.nbd.port });
    assert.equal((await provider.status(site)).state, 'running');
    assert.equal(await provider.teardown(site), 'skipped');
    assert.equal((await fx.client.health()).status, 'ok');
  });

  it('takes the NBD address and TLS view from the config when given', async () => {
    const provider = openSiteProvider(
      {
        type: 'static',
        url: fx.node.apiUrl,
        token: fx.node.token,
        nbd: { host: 'dr.example.net', port: 10809 },
        tls: { mode: 'require', pskIdentity: 'rebound' },
      },
      { dataDir: '/nonexistent' },
    );
    const built = await provider.build(site);
    assert.deepEqual(built.nbd, { host: 'dr.example.net', port: 10809 });
    assert.deepEqual(built.tls, { mode: 'require', pskIdentity: 'rebound' });
  });

  it('a wrong token is NODE_AUTH; a node that is not there is NODE_UNREACHABLE', async () => {
    const wrong = openSiteProvider(
      { type: 'static', url: fx.node.apiUrl, token: 'wrong' },
      { dataDir: '/nonexistent' },
    );
    await rejectsWith(wrong.build(site), 'NODE_AUTH', /refused the token/);
    const url = `http://127.0.0.1:${await closedPort()}`;
    const gone = openSiteProvider({ type: 'static', url, token: 't' }, { dataDir: '/nonexistent' });
    await rejectsWith(gone.build(site), 'NODE_UNREACHABLE', /does not answer at .*start it there/);
    assert.equal((await gone.status(site)).state, 'unreachable');
  });
});
