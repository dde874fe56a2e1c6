/**
 * One process at a time in a pool: `<dir>/lock` names the process that has it open.
 *
 * Why: opening a pool writes a checkpoint and starts a new log (metalog.ts). A second
 * process opening a pool that a running node has open (a second `rebound node run` on the
 * same data directory, which then fails on its ports) would leave the running node
 * appending to a log file that is no longer the pool's: everything it acknowledged after
 * that (volumes created, blocks mapped) is gone at its next start.
 *
 * The lock file appears whole (written aside, then linked in) and holds who took it:
 * pid, the process's start time (field 22 of /proc/<pid>/stat), the host name and the
 * kernel's boot ID. A lock left by a process that is gone (kill -9, a crash, a reboot) is stale and taken over, so
 * a node restarts after a crash with nothing to clean up by hand: the pid no longer runs,
 * or runs as another process (another start time), or the machine booted since; or it is
 * this process, which no longer has the pool open (a copy of the directory taken while it
 * was, as the crash tests make). A lock from another host (a data directory on shared
 * storage) is never judged stale here.
 *
 * Two processes judging the same stale lock at the same moment could both take it over;
 * the lock is re-read just before it is removed, so the window is a few microseconds
 * after a crash, not the life of a node. Like PostgreSQL's postmaster.pid, this is a
 * guard against mistakes, not a cluster lock manager.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, open, readFile, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { ReboundError, toReboundError } from '../errors.js';

const FILE = 'lock';

interface LockOwner {
  pid: number;
  /** Clock ticks after boot at which the process started (Linux), or null. */
  startTime: number | null;
  host: string;
  bootId: string | null;
  /** Ours alone: release removes the file only while it still holds this. */
  nonce: string;
  since: string;
}

/** Field 22 of /proc/<pid>/stat (after the command name, which may hold spaces), or null. */
function startTimeOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isSafeInteger(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // runs, as another user
  }
}

/** The lock files this process holds (a pool open twice in one process corrupts it as well). */
const held = new Set<string>();

/** Is the lock's owner gone? Never for another host's: it cannot be checked from here. */
function isStale(o: LockOwner, path: string): boolean {
  if (o.host !== hostname()) return false;
  // This process: it holds the pool now, or it left the lock in a copy of the directory
  // taken while the pool was open (what a crash leaves, as the crash tests make it).
  if (o.pid === process.pid) return !held.has(path);
  const boot = bootId();
  if (o.bootId && boot && o.bootId !== boot) return true; // the machine booted since
  if (!alive(o.pid)) return true;
  const start = startTimeOf(o.pid); // the pid runs as another process now
  return o.startTime !== null && start !== null && start !== o.startTime;
}

function parse(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as LockOwner;
    return Number.isSafeInteger(o.pid) && typeof o.host === 'string' && typeof o.nonce === 'string'
      ? o
      : null;
  } catch {
    return null; // unreadable: see acquire
  }
}

export class PoolLock {
  private constructor(
    private readonly path: string,
    private readonly nonce: string,
  ) {}

  /** Take the lock of the pool in `dir`, or fail with POOL_IN_USE naming who has it. */
  static async acquire(dir: string): Promise<PoolLock> {
    const path = resolve(dir, FILE);
    const me: LockOwner = {
      pid: process.pid,
      startTime: startTimeOf(process.pid),
      host: hostname(),
      bootId: bootId(),
      nonce: randomBytes(8).toString('hex'),
      since: new Date().toISOString(),
    };
    const mine = `${JSON.stringify(me)}\n`;
    for (let attempt = 0; ; attempt++) {
      // Written whole to a file of our own, then linked in: `lock` never exists half
      // written, so another process never mistakes a lock being taken for a torn one.
      const tmp = `${path}.${me.nonce}.tmp`;
      try {
        const fh = await open(tmp, 'wx', 0o644);
        try {
          await fh.writeFile(mine);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await link(tmp, path).catch(async (err) => {
          const code = (err as NodeJS.ErrnoException).code;
          // A file system without hard links: create it in place instead.
          if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
          await writeFile(path, mine, { flag: 'wx', mode: 0o644 });
        });
        held.add(path);
        return new PoolLock(path, me.nonce);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw toReboundError(err);
      } finally {
        await unlink(tmp).catch(() => undefined);
      }
      const text = await readFile(path, 'utf8').catch(() => null);
      if (text === null) continue; // removed meanwhile: try again
      const owner = parse(text);
      // An unreadable lock is a torn one (it is never written in place): nobody holds it.
      if (attempt > 0 || (owner !== null && !isStale(owner, path))) {
        const who = owner
          ? `process ${owner.pid} on ${owner.host} (since ${owner.since})`
          : 'another process';
        throw new ReboundError(
          'POOL_IN_USE',
          `the pool in ${dir} is open in ${who}: stop that node first (if it is gone, remove ${path})`,
        );
      }
      // Stale: remove it, if it is still the one judged, and create ours.
      if ((await readFile(path, 'utf8').catch(() => null)) === text)
        await unlink(path).catch(() => undefined);
    }
  }

  /** Remove the lock file, if it is still ours. */
  async release(): Promise<void> {
    held.delete(this.path);
    const owner = parse((await readFile(this.path, 'utf8').catch(() => null)) ?? '');
    if (owner?.nonce === this.nonce) await unlink(this.path).catch(() => undefined);
  }
}
