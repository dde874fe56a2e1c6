// The pool's lock file (src/pool/lock.ts): who may take it over and who may not.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isReboundError } from '../../../src/errors.js';
import { PoolLock } from '../../../src/pool/lock.js';

function startTime(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

describe('pool lock', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rebound-lock-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const inUse = (pid: number) => (err: unknown) =>
    isReboundError(err, 'POOL_IN_USE') && new RegExp(`open in process ${pid} `).test((err as Error).message);

  const lockAs = (owner: Record<string, unknown>) =>
    writeFile(
      join(dir, 'lock'),
      JSON.stringify({ startTime: null, host: hostname(), bootId, nonce: 'n', since: 'then', ...owner }),
    );

  it('one holder in a process: a second acquire is refused until the first releases', async () => {
    const first = await PoolLock.acquire(dir);
    await assert.rejects(PoolLock.acquire(dir), inUse(process.pid));
    await first.release();
    const again = await PoolLock.acquire(dir);
    await again.release();
    await assert.rejects(readFile(join(dir, 'lock')), /ENOENT/, 'release removes the file');
  });

  it("refuses a live process's lock and takes it over once that process is gone", async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const pid = child.pid!;
    await new Promise((r) => setTimeout(r, 100));
    await lockAs({ pid, startTime: startTime(pid) });
    await assert.rejects(PoolLock.acquire(dir), inUse(pid));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const taken = await PoolLock.acquire(dir);
    assert.equal(JSON.parse(await readFile(join(dir, 'lock'), 'utf8')).pid, process.pid);
    await taken.release();
  });

  it('takes over a pid that is another process now, a lock from before a reboot, a torn lock', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      const pid = child.pid!;
      await new Promise((r) => setTimeout(r, 100));
      for (const stale of [
        () => lockAs({ pid, startTime: startTime(pid) + 1 }), // the pid was reused
        () => lockAs({ pid, startTime: startTime(pid), bootId: 'another boot' }),
        () => writeFile(join(dir, 'lock'), '{"pid": 12'), // torn by a crash
      ]) {
        await stale();
        const l = await PoolLock.acquire(dir);
        await l.release();
      }
    } finally {
      child.kill('SIGKILL');
    }
  });

  it("never takes another host's lock", async () => {
    await lockAs({ pid: 1, host: 'elsewhere', bootId: 'theirs' });
    await assert.rejects(PoolLock.acquire(dir), (err: unknown) =>
      /open in process 1 on elsewhere .*remove .*lock\)/.test((err as Error).message),
    );
    await rm(join(dir, 'lock'));
  });

  it('release leaves a lock that is not its own (taken over meanwhile)', async () => {
    const mine = await PoolLock.acquire(dir);
    await lockAs({ pid: process.pid, nonce: 'someone else' });
    await mine.release();
    assert.match(await readFile(join(dir, 'lock'), 'utf8'), /someone else/);
    await rm(join(dir, 'lock'));
  });
});
