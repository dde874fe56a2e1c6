/**
 * Running the real peers (qemu-io, qemu-img, nbdinfo, nbdcopy) from tests. A missing tool
 * fails the test with the package to install; it never skips.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

const PACKAGES: Record<string, string> = {
  'qemu-io': 'qemu-utils',
  'qemu-img': 'qemu-utils',
  'qemu-nbd': 'qemu-utils',
  nbdinfo: 'libnbd-bin',
  nbdcopy: 'libnbd-bin',
  nbdkit: 'nbdkit',
  fio: 'fio',
  psktool: 'gnutls-bin',
  openssl: 'openssl',
};

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Run a tool; resolves with its output and exit code (non-zero is not an exception). */
export async function run(
  tool: string,
  args: string[],
  options: { timeoutMs?: number } = {},
): Promise<RunResult> {
  try {
    const { stdout, stderr } = await exec(tool, args, {
      timeout: options.timeoutMs ?? 60_000,
      maxBuffer: 64 * 2 ** 20,
    });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string; code?: number | string };
    if (e.code === 'ENOENT') {
      throw new Error(
        `${tool} is not installed: apt-get install ${PACKAGES[tool] ?? tool} (or run scripts/test.sh)`,
      );
    }
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : 1 };
  }
}

/** Run a tool and fail with its output unless it exits 0. */
export async function runOk(
  tool: string,
  args: string[],
  options: { timeoutMs?: number } = {},
): Promise<string> {
  const r = await run(tool, args, options);
  if (r.code !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** qemu-io commands against an NBD URI; fails on any pattern mismatch or error. */
export async function qemuIo(
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

export async function nbdinfoMap(uri: string, context?: string): Promise<MapEntry[]> {
  const out = await runOk('nbdinfo', [context ? `--map=${context}` : '--map', '--json', uri]);
  return JSON.parse(out) as MapEntry[];
}
