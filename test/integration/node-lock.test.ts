/**
 * One node process per data directory (src/pool/lock.ts). Opening a pool writes a
 * checkpoint and starts a new log, so a second `rebound node run` on a directory a running
 * node has open used to cost that node everything it acknowledged afterwards, lost at its
 * next start (a volume created, a write flushed). Now the second one is refused with
 * POOL_IN_USE; a node killed with SIGKILL leaves a lock that the next start takes over.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NodeClient } from '../../src/node/client.js';
import { qemuIo, requireTools, run, runOk } from '../helpers/tools.js';

const CLI = fileURLToPath(new URL('../../../bin/rebound.js', import.meta.url));
const MiB = 1024 * 1024;

interface Running {
  child: ChildProcess;
  client: NodeClient;
  uri: (volume: string) => string;
}

describe('a pool is open in one node process at a time', () => {
  requireTools('qemu-io');
  let dir = '';
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** `rebound node run` on the data directory, ports chosen by the system; resolves once it listens. */
  async function startNode(data: string, token: string): Promise<Running> {
    const ready = join(dir, `ready-${children.length}.json`);
    const child = spawn(process.execPath, [CLI, 'node', 'run', '--data-dir', data, '--ready-file', ready], {
      stdio: 'ignore',
    });
    children.push(child);
    for (let i = 0; i < 300 && !existsSync(ready); i++) await new Promise((r) => setTimeout(r, 50));
    const r = JSON.parse(await readFile(ready, 'utf8')) as {
      apiUrl: string;
      nbd: { host: string; port: number };
    };
    return {
      child,
      client: new NodeClient(r.apiUrl, token),
      uri: (v) => `nbd://${r.nbd.host}:${r.nbd.port}/${v}`,
    };
  }

  it('refuses a second `node run` on the same data directory, and the first one loses nothing', async () => {
    dir = await mkdtemp(join(tmpdir(), 'rebound-lock-'));
    const data = join(dir, 'node');
    await runOk(process.execPath, [
      CLI,
      'node',
      'init',
      '--data-dir',
      data,
      '--drive',
      `${join(data, 'drive0.img')}:1G`,
      '--api-listen',
      '127.0.0.1:0',
      '--nbd-listen',
      '127.0.0.1:0',
    ]);
    const token = (JSON.parse(await readFile(join(data, 'node.json'), 'utf8')) as { token: string }).token;
    const a = await startNode(data, token);
    await a.client.createVolume('v', 256 * MiB);
    assert.equal((await qemuIo(a.uri('v'), ['write -P 0x11 0 1M', 'flush'])).code, 0);

    // The second node: ports 0 too, so nothing but the lock can stop it.
    const b = await run(process.execPath, [CLI, 'node', 'run', '--data-dir', data], 30_000);
    assert.notEqual(b.code, 0, 'the second node must not start');
    const said = b.stdout + b.stderr;
    assert.match(said, /POOL_IN_USE/, said);
    assert.match(said, new RegExp(`open in process ${a.child.pid} `), said);

    // The first node goes on; what it acknowledges now survives its crash.
    await a.client.createVolume('w', 64 * MiB);
    assert.equal((await qemuIo(a.uri('v'), ['write -P 0x22 8M 1M', 'flush'])).code, 0);
    a.child.kill('SIGKILL');
    await new Promise((r) => a.child.once('exit', r));
    assert.ok(existsSync(join(data, 'pool', 'lock')), 'a killed node leaves its lock');

    const c = await startNode(data, token); // takes the stale lock over: its owner is gone
    assert.deepEqual((await c.client.listVolumes()).map((v) => v.name).sort(), ['v', 'w']);
    const check = await qemuIo(c.uri('v'), ['read -P 0x11 0 1M', 'read -P 0x22 8M 1M'], { readOnly: true });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.doesNotMatch(check.stdout, /Pattern verification failed/);

    // A clean stop removes the lock.
    c.child.kill('SIGTERM');
    await new Promise((r) => c.child.once('exit', r));
    assert.ok(!existsSync(join(data, 'pool', 'lock')), 'a clean stop removes its lock');
  });
});
