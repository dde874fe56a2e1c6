/**
 * Real NBD servers for the client's tests: qemu-nbd and nbdkit started as child
 * processes on a unix socket or a free TCP port, waited for until they accept, and
 * killed (SIGKILL, for the reconnect tests) or stopped. Never a fixed port.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { requireTools } from './tools.js';

export type Endpoint = { path: string } | { host: string; port: number };

export interface PeerProcess {
  /** Where to connect: the unix socket or 127.0.0.1 and the port. */
  endpoint: Endpoint;
  /** What the process said on stderr (for failure messages). */
  readonly stderr: string;
  /** SIGKILL, as a crash would; resolves once it is gone. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL if it lingers. */
  stop(): Promise<void>;
}

const TOOL_ENV = { ...process.env, PATH: `/usr/bin:/usr/sbin:${process.env.PATH ?? ''}` };

/** A TCP port nobody listens on right now (the kernel picks it; we release it for the peer). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** `qemu-nbd ARGS` serving on `endpoint` (adds -k or -b/-p, --persistent and --shared). */
export function startQemuNbd(endpoint: Endpoint, args: string[]): Promise<PeerProcess> {
  requireTools('qemu-nbd');
  const where =
    'path' in endpoint ? ['-k', endpoint.path] : ['-b', endpoint.host, '-p', String(endpoint.port)];
  return startPeer('qemu-nbd', [...where, '--persistent', '--shared=8', ...args], endpoint);
}

/** `nbdkit ARGS` in the foreground on `endpoint` (adds -U or -i/-p, -f and --exit-with-parent). */
export function startNbdkit(endpoint: Endpoint, args: string[]): Promise<PeerProcess> {
  requireTools('nbdkit');
  const where =
    'path' in endpoint ? ['-U', endpoint.path] : ['-i', endpoint.host, '-p', String(endpoint.port)];
  return startPeer('nbdkit', ['-f', '--exit-with-parent', ...where, ...args], endpoint);
}

async function startPeer(cmd: string, args: string[], endpoint: Endpoint): Promise<PeerProcess> {
  const child = spawn(cmd, args, { env: TOOL_ENV, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const peer: PeerProcess = {
    endpoint,
    get stderr() {
      return stderr;
    },
    kill: async () => {
      if (!gone) child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (gone) throw new Error(`${cmd} ${args.join(' ')} exited at start: ${stderr}`);
    if (await accepts(endpoint)) return peer;
    if (Date.now() > deadline) {
      await peer.kill();
      throw new Error(`${cmd} did not start listening within 10 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Does something accept connections there? (The probe connection is closed at once.) */
function accepts(endpoint: Endpoint): Promise<boolean> {
  if ('path' in endpoint && !existsSync(endpoint.path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const s = 'path' in endpoint ? net.connect(endpoint.path) : net.connect(endpoint.port, endpoint.host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
