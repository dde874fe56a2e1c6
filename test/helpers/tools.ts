/**
 * Running the real peers (qemu-io, qemu-img, nbdinfo, nbdcopy, psktool...) from tests,
 * asynchronously: the server under test often runs in this same process, so spawnSync
 * would deadlock. A missing tool fails the test with the package to install; it never
 * skips.
 */
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** /usr/bin first: a pyenv python3 on PATH breaks Debian's nbdsh. */
const TOOL_ENV = { ...process.env, PATH: `/usr/bin:/usr/sbin:${process.env.PATH ?? ''}` };

const PACKAGES: Record<string, string> = {
  'qemu-io': 'qemu-utils',
  'qemu-img': 'qemu-utils',
  'qemu-nbd': 'qemu-utils',
  nbdinfo: 'libnbd-bin',
  nbdcopy: 'libnbd-bin',
  nbdsh: 'python3-libnbd',
  nbdkit: 'nbdkit',
  fio: 'fio',
  psktool: 'gnutls-bin',
  certtool: 'gnutls-bin',
  openssl: 'openssl',
};

/** Fail (never skip) with what to install when a tool is missing. */
export function requireTools(...tools: string[]): void {
  for (const tool of tools) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { env: TOOL_ENV }).status === 0;
    if (!found) {
      throw new Error(
        `test needs ${tool}: apt-get install ${PACKAGES[tool] ?? tool} (or run scripts/test.sh)`,
      );
    }
  }
}

export interface RunResult {
  /** Exit code; null when killed (timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a tool; resolves with its output and exit code (a non-zero exit is not an exception). */
export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  requireTools(cmd);
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { env: TOOL_ENV, timeout: timeoutMs, maxBuffer: 64 * 2 ** 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export function describeRun(r: RunResult): string {
  return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Run a tool and fail with its output unless it exits 0. */
export async function runOk(cmd: string, args: string[], timeoutMs?: number): Promise<string> {
  const r = await run(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${describeRun(r)}`);
  return r.stdout;
}

const REBOUND_CLI = fileURLToPath(new URL('../../../bin/rebound.js', import.meta.url));

/** `rebound --manager URL --token T ...args`, as an operator runs it; its stdout (exit 0 or fail). */
export function runCli(manager: { url: string; token: string }, ...args: string[]): Promise<string> {
  return runOk(process.execPath, [REBOUND_CLI, '--manager', manager.url, '--token', manager.token, ...args]);
}

/** qemu-io commands against an NBD URI (raw format). */
export function qemuIo(
  uri: string,
  commands: string[],
  options: { readOnly?: boolean } = {},
): Promise<RunResult> {
  const args = ['-f', 'raw', ...(options.readOnly ? ['-r'] : [])];
  for (const c of commands) args.push('-c', c);
  args.push(uri);
  return run('qemu-io', args);
}

export interface MapEntry {
  offset: number;
  length: number;
  type: number;
  description: string;
}

/** `nbdinfo --map[=CONTEXT] --json`. */
export async function nbdinfoMap(uri: string, context?: string): Promise<MapEntry[]> {
  const out = await runOk('nbdinfo', [context ? `--map=${context}` : '--map', '--json', uri]);
  return JSON.parse(out) as MapEntry[];
}
