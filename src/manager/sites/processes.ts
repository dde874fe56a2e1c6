/**
 * Processes the local site provider starts and must find again after a manager restart:
 * is a pid alive, is it really ours (pids get reused), stop it (SIGTERM, then SIGKILL),
 * and where the `rebound` executable is.
 *
 * "Ours" is decided by the command line (Linux /proc): a node the provider started
 * carries a path unique to its site (`--ready-file <siteDir>/ready.json`). Without /proc
 * a live pid is taken as ours.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ReboundError } from '../../errors.js';

/** How often a stopping process is looked for: a teardown ends within this of the exit. */
const POLL_MS = 10;

/** Alive and not a zombie (an exited child whose parent has not reaped it yet counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/PID/stat: "pid (comm) S ..."; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: kill(0) is all we know
  }
}

/** argv of a process, or undefined when there is no such process or no /proc. */
async function commandLine(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((a) => a !== '');
  } catch {
    return undefined;
  }
}

const HAS_PROC = existsSync('/proc/self/cmdline');

/** Is `pid` alive and a process whose arguments include `marker`? */
export async function isOurs(pid: number, marker: string): Promise<boolean> {
  if (!Number.isSafeInteger(pid) || pid <= 0 || !isAlive(pid)) return false;
  if (!HAS_PROC) return true;
  return (await commandLine(pid))?.includes(marker) ?? false;
}

/**
 * A live process with `marker` among its arguments, found by scanning /proc: the safety
 * net for a pid file that was never written (a manager killed right after the spawn).
 */
export async function findByArgument(marker: string): Promise<number | undefined> {
  if (!HAS_PROC) return undefined;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid !== process.pid && (await commandLine(pid))?.includes(marker)) return pid;
  }
  return undefined;
}

/** Wait until `pid` is gone or `timeoutMs` passed; true when gone. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= until) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL. Resolves once it is gone. */
export async function stopProcess(pid: number, graceMs: number, what: string): Promise<void> {
  signal(pid, 'SIGTERM');
  if (await waitForExit(pid, graceMs)) return;
  signal(pid, 'SIGKILL');
  if (await waitForExit(pid, 5_000)) return;
  throw new ReboundError(
    'SITE_PROVIDER_FAILED',
    `${what} (pid ${pid}) did not exit after SIGTERM and SIGKILL; stop it by hand, then run the teardown again`,
  );
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * How to run the `rebound` executable: this Node binary and bin/rebound.js of the
 * package this module belongs to, found by walking up from this file (it runs from
 * dist/src/manager/sites/ in a checkout and in an installed package alike).
 */
export function reboundCommand(): string[] {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const bin = join(dir, 'bin', 'rebound.js');
    if (existsSync(bin) && existsSync(join(dir, 'package.json'))) return [process.execPath, bin];
    dir = dirname(dir);
  }
  throw new ReboundError(
    'SITE_PROVIDER_FAILED',
    `cannot find bin/rebound.js above ${fileURLToPath(import.meta.url)}; reinstall Rebound`,
  );
}
