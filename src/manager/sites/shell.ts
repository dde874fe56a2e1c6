/**
 * Running the operator's commands (site build/teardown/status scripts, host hooks):
 * `/bin/sh -c COMMAND` in its own process group, with a time limit, output kept to a
 * bounded tail (TigerBeetle: put a limit on everything).
 *
 *   timeout ──► SIGTERM to the whole group ──(killGraceMs)──► SIGKILL to the group
 *
 * The run ends when the shell exits, not when its pipes close: a build script that
 * leaves a node running in the background must not hang us because the node inherited
 * stdout. We wait a moment for the pipes to drain, then stop reading.
 */
import { spawn } from 'node:child_process';

/** Output kept per stream: the last this many bytes. */
const OUTPUT_LIMIT_BYTES = 256 * 1024;
/** After the shell exits, how long its pipes may stay open (held by a background child). */
const DRAIN_MS = 300;

export interface ShellResult {
  /** Exit code, or null when ended by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they came (the step log shows this). */
  output: string;
  durationMs: number;
}

export interface ShellOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs: number;
  /** Between SIGTERM and SIGKILL after a timeout (default 5 s). */
  killGraceMs?: number;
}

/** Environment variables of the manager that no child of it gets (its master key, its caller's token). */
const WITHHELD = ['REBOUND_SECRET_KEY', 'REBOUND_TOKEN', 'REBOUND_NODE', 'REBOUND_MANAGER'];

/** The manager's environment minus its secrets, plus `extra` (undefined values are left out). */
export function childEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of WITHHELD) delete env[name];
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

/** Rejects only when the shell cannot be started at all (a missing cwd, say). */
export function runShell(command: string, options: ShellOptions): Promise<ShellResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: options.cwd,
      env: options.env,
      detached: true, // its own process group, so a timeout stops what it started too
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout = new Tail();
    const stderr = new Tail();
    const output = new Tail();
    child.stdout.on('data', (b: Buffer) => {
      stdout.push(b);
      output.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr.push(b);
      output.push(b);
    });

    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, signal);
      } catch {} // already gone
    };
    const timer = setTimeout(() => {
      timedOut = true;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), options.killGraceMs ?? 5_000);
    }, options.timeoutMs);

    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (exitCode, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        child.stdout.destroy();
        child.stderr.destroy();
        resolve({
          exitCode,
          signal,
          timedOut,
          stdout: stdout.text(),
          stderr: stderr.text(),
          output: output.text(),
          durationMs: Date.now() - started,
        });
      };
      child.once('close', finish);
      setTimeout(finish, DRAIN_MS).unref();
    });
  });
}

/** The last lines of some output, for an error message or a step log. */
export function tail(text: string, maxLines = 20, maxChars = 4000): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  let out = lines.slice(-maxLines).join('\n');
  if (out.length > maxChars) out = `…${out.slice(-maxChars)}`;
  return out;
}

/** What a finished run looks like in one phrase: "exit 3", "killed by SIGKILL", "timed out after 5 s". */
export function describeExit(r: ShellResult, timeoutMs: number): string {
  if (r.timedOut) return `timed out after ${Math.round(timeoutMs / 1000)} s`;
  return r.exitCode === null ? `killed by ${r.signal}` : `exit ${r.exitCode}`;
}

/** Keeps the last OUTPUT_LIMIT_BYTES of a stream. */
class Tail {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private dropped = false;

  push(b: Buffer): void {
    this.chunks.push(b);
    this.bytes += b.length;
    while (this.bytes - this.chunks[0].length >= OUTPUT_LIMIT_BYTES) {
      this.bytes -= this.chunks.shift()!.length;
      this.dropped = true;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    const kept = all.length > OUTPUT_LIMIT_BYTES ? all.subarray(all.length - OUTPUT_LIMIT_BYTES) : all;
    return (this.dropped || kept.length < all.length ? '…' : '') + kept.toString('utf8');
  }
}
