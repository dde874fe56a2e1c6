/**
 * `rebound manager run` as a child process, for tests that kill it (SIGKILL, as a crash
 * would) and start it again on the same data directory and port: the jobs it was driving
 * must resume. `manager.json` is written first when `config` is given (a short health
 * poll, say, so a paused job resumes soon after its node answers again).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ManagerConfig } from '../../src/manager/config.js';
import { freePort } from './nbd-peers.js';

const BIN = resolve(import.meta.dirname, '../../../bin/rebound.js');

export interface ManagerProcess {
  /** http://127.0.0.1:PORT, the same across restarts. */
  readonly url: string;
  readonly dataDir: string;
  /** The bootstrap admin token printed at the first start. */
  readonly token: string;
  /** The environment the manager runs with (REBOUND_SECRET_KEY set, no REBOUND_TOKEN). */
  readonly env: NodeJS.ProcessEnv;
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
  /** Start again on the same data directory and port. */
  restart(): Promise<void>;
  /** Last lines of its stderr (its log), for failure messages. */
  logTail(): string;
}

export async function startManagerProcess(
  dataDir: string,
  config: Partial<ManagerConfig> = {},
): Promise<ManagerProcess> {
  const port = await freePort();
  const env = { ...process.env, REBOUND_SECRET_KEY: 'cd'.repeat(32), REBOUND_MANAGER: '', REBOUND_TOKEN: '' };
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (Object.keys(config).length > 0)
    await writeFile(join(dataDir, 'manager.json'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  let child: ChildProcess | undefined;
  let log = '';

  async function start(): Promise<string | null> {
    const c = spawn(
      process.execPath,
      [BIN, '--json', '--data-dir', dataDir, 'manager', 'run', '--listen', `127.0.0.1:${port}`],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = c;
    let out = '';
    c.stdout!.on('data', (d) => {
      out += d;
    });
    c.stderr!.on('data', (d) => {
      log = (log + d).slice(-8000);
    });
    for (let i = 0; i < 300; i++) {
      try {
        const parsed = JSON.parse(out) as { bootstrap: { token: string } | null };
        return parsed.bootstrap?.token ?? null;
      } catch {
        if (c.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`manager did not start: ${out}\n${log}`);
  }

  const token = await start();
  if (!token) throw new Error(`no bootstrap token: ${dataDir} was used before`);
  return {
    url: `http://127.0.0.1:${port}`,
    dataDir,
    token,
    env,
    async kill() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    },
    async restart() {
      await start();
    },
    logTail: () => log,
  };
}
