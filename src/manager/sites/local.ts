/**
 * The `local` site provider (the embedded default, DESIGN.md "Processes"): the
 * secondary storage system is a `rebound node` process on the manager's machine, with
 * its own data directory and its own ports.
 *
 *   <managerData>/sites/<site>/
 *     node/         the node's data directory (node.json, pool, secret.key)
 *     node.pid      pid of the running node, written right after the spawn
 *     ready.json    written by the node once listening: {pid, serial, apiUrl, nbd}
 *     node.log      the node's stdout and stderr (one older copy: node.log.1)
 *     init.started  present while `rebound node init` runs (an interrupted init is redone)
 *
 * The node is detached (its own session) with its pid on disk, so it outlives the
 * manager: a restarted manager calling build() again finds it by pid (checked against
 * its command line, which carries the ready file's path) and its health, or starts it
 * again on the same data. It listens on 127.0.0.1, port 0 at first; a restart asks for
 * the ports it had before (hosts keep their address) and takes new ones only when those
 * are taken. Teardown: SIGTERM, SIGKILL after stopTimeoutSeconds; `purge` deletes the
 * site directory. `poolSizeBytes`, `blockSizeBytes`, the two rates and `tls` are used at the first build only (they go
 * into the node's pool and node.json); changing them takes a teardown with purge.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, writeFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ReboundError } from '../../errors.js';
import { type Logger, silentLogger } from '../../logger.js';
import { readNodeConfig } from '../../node/config.js';
import { probeNode, waitForNode } from './probe.js';
import { findByArgument, isAlive, isOurs, reboundCommand, stopProcess } from './processes.js';
import type { LocalSiteConfig } from './schema.js';
import { childEnv, tail } from './shell.js';
import { siteDirectory } from './site-dir.js';
import type {
  BuiltNode,
  BuiltNodeTls,
  SiteProvider,
  SiteRef,
  SiteStatus,
  TeardownOptions,
  TeardownOutcome,
} from './types.js';

const DEFAULT_START_TIMEOUT_S = 60;
const DEFAULT_STOP_TIMEOUT_S = 20;
const INIT_TIMEOUT_MS = 120_000;
const LOG_ROTATE_BYTES = 16 * 2 ** 20;
const POLL_MS = 50;

export interface LocalProviderContext {
  /** The manager's data directory; sites live under `<dataDir>/sites/`. */
  dataDir: string;
  logger?: Logger;
  /** argv prefix that runs `rebound` (default: this Node and this package's bin/rebound.js). */
  executable?: string[];
}

interface Ready {
  pid: number;
  serial: string;
  apiUrl: string;
  nbd: { host: string; port: number; tls: string };
}

interface Paths {
  siteDir: string;
  nodeDir: string;
  pidFile: string;
  readyFile: string;
  logFile: string;
  initMarker: string;
}

/** One build or teardown at a time per site directory, across provider objects of this process. */
const siteLocks = new Map<string, Promise<unknown>>();

function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = siteLocks.get(key) ?? Promise.resolve();
  const next = previous.then(fn, fn);
  const settled = next.catch(() => {});
  siteLocks.set(key, settled);
  void settled.then(() => {
    if (siteLocks.get(key) === settled) siteLocks.delete(key);
  });
  return next;
}

export class LocalSiteProvider implements SiteProvider {
  readonly type = 'local' as const;
  private readonly logger: Logger;
  private readonly executable: string[] | undefined;
  private readonly startTimeoutMs: number;
  private readonly stopTimeoutMs: number;

  constructor(
    private readonly config: LocalSiteConfig,
    private readonly context: LocalProviderContext,
  ) {
    this.logger = context.logger ?? silentLogger;
    this.executable = context.executable;
    this.startTimeoutMs = (config.startTimeoutSeconds ?? DEFAULT_START_TIMEOUT_S) * 1000;
    this.stopTimeoutMs = (config.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_S) * 1000;
  }

  /** Where a site's node lives (for operators and tests: the log is there). */
  paths(site: SiteRef): Paths {
    const siteDir = resolve(siteDirectory(this.context.dataDir, site.name));
    return {
      siteDir,
      nodeDir: join(siteDir, 'node'),
      pidFile: join(siteDir, 'node.pid'),
      readyFile: join(siteDir, 'ready.json'),
      logFile: join(siteDir, 'node.log'),
      initMarker: join(siteDir, 'init.started'),
    };
  }

  build(site: SiteRef): Promise<BuiltNode> {
    const p = this.paths(site);
    return serialized(p.siteDir, () => this.buildLocked(site, p));
  }

  teardown(site: SiteRef, options: TeardownOptions = {}): Promise<TeardownOutcome> {
    const p = this.paths(site);
    return serialized(p.siteDir, () => this.teardownLocked(site, p, options));
  }

  async status(site: SiteRef): Promise<SiteStatus> {
    const p = this.paths(site);
    const pid = await this.findPid(p, false);
    if (pid === undefined) {
      return existsSync(join(p.nodeDir, 'node.json'))
        ? { state: 'stopped', detail: `not running; data in ${p.nodeDir}` }
        : { state: 'absent' };
    }
    const ready = await readReady(p.readyFile, pid);
    if (!ready) return { state: 'unreachable', detail: `pid ${pid} has not reported ready (starting?)` };
    try {
      return { state: 'running', node: await probeNode(await this.target(p, ready)), detail: `pid ${pid}` };
    } catch (err) {
      return { state: 'unreachable', detail: `pid ${pid}: ${(err as Error).message}` };
    }
  }

  private async buildLocked(site: SiteRef, p: Paths): Promise<BuiltNode> {
    const log = this.logger.child({ site: site.name });
    const pid = await this.findPid(p, true);
    if (pid !== undefined) {
      // Running already (a manager restarted mid-failover), or still starting.
      try {
        const node = await this.awaitReady(p, pid, this.startTimeoutMs, 0);
        log.info({ nodePid: pid, url: node.url }, 'secondary node already running');
        return node;
      } catch (err) {
        log.warn(
          { nodePid: pid, err: (err as Error).message },
          'secondary node not answering; restarting it',
        );
        await stopProcess(pid, this.stopTimeoutMs, `the node of site ${site.name}`);
      }
    }
    await this.initialise(site, p);
    const previous = await readReady(p.readyFile);
    if (previous) {
      try {
        return await this.start(site, p, previous);
      } catch (err) {
        // Most likely one of the old ports is taken now: take new ones.
        log.warn({ err: (err as Error).message }, 'restart on the previous ports failed; trying new ports');
      }
    }
    return this.start(site, p, undefined);
  }

  /** `rebound node init` unless node.json exists (init writes it last). */
  private async initialise(site: SiteRef, p: Paths): Promise<void> {
    if (existsSync(join(p.nodeDir, 'node.json'))) {
      await rm(p.initMarker, { force: true });
      return;
    }
    if (existsSync(p.nodeDir) && !existsSync(p.initMarker)) {
      throw new ReboundError(
        'SITE_PROVIDER_FAILED',
        `${p.nodeDir} exists but has no node.json: it was not made by this provider, or node.json was removed. ` +
          `Move it away (or tear the site down with purge if it holds nothing you need) and build again`,
      );
    }
    await mkdir(p.siteDir, { recursive: true, mode: 0o700 });
    await writeFile(p.initMarker, `${new Date().toISOString()}\n`);
    await rm(p.nodeDir, { recursive: true, force: true }); // an interrupted init of ours
    const args = [
      '--data-dir',
      p.nodeDir,
      'node',
      'init',
      '--api-listen',
      '127.0.0.1:0',
      '--nbd-listen',
      '127.0.0.1:0',
      ...(this.config.poolSizeBytes
        ? ['--drive', `${join(p.nodeDir, 'drive0.img')}:${this.config.poolSizeBytes}`]
        : []),
      ...(this.config.blockSizeBytes ? ['--block-size', String(this.config.blockSizeBytes)] : []),
      ...(this.config.restoreBytesPerSec ? ['--restore-rate', String(this.config.restoreBytesPerSec)] : []),
      ...(this.config.backupBytesPerSec ? ['--backup-rate', String(this.config.backupBytesPerSec)] : []),
      ...tlsArgs(this.config.tls),
    ];
    const [exe, ...pre] = this.reboundArgv();
    const result = await new Promise<{ code: number | string | null; stderr: string }>((done) => {
      execFile(
        exe,
        [...pre, ...args],
        {
          env: childEnv({ UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '16' }),
          timeout: INIT_TIMEOUT_MS,
          maxBuffer: 4 * 2 ** 20,
        },
        (err, _stdout, stderr) => done({ code: err ? (err.code ?? 'killed') : 0, stderr: String(stderr) }),
      );
    });
    if (result.code !== 0) {
      throw new ReboundError(
        'SITE_PROVIDER_FAILED',
        `rebound node init for site ${site.name} failed (${result.code}): ${tail(result.stderr, 10)}`,
        { detail: { site: site.name } },
      );
    }
    await rm(p.initMarker, { force: true });
    this.logger.info({ site: site.name, dataDir: p.nodeDir }, 'secondary node initialised');
  }

  /** Spawn `rebound node run`, detached, and wait until it answers. */
  private async start(site: SiteRef, p: Paths, previous: Ready | undefined): Promise<BuiltNode> {
    await rm(p.readyFile, { force: true });
    const logOffset = await rotateLog(p.logFile);
    const listen = previous
      ? [
          '--api-listen',
          `${new URL(previous.apiUrl).host}`,
          '--nbd-listen',
          `${hostPort(previous.nbd.host, previous.nbd.port)}`,
        ]
      : [];
    const [exe, ...pre] = this.reboundArgv();
    const fd = openSync(p.logFile, 'a', 0o600);
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(
        exe,
        [...pre, '--data-dir', p.nodeDir, 'node', 'run', '--ready-file', p.readyFile, ...listen],
        {
          cwd: p.siteDir,
          detached: true,
          stdio: ['ignore', fd, fd],
          env: childEnv({ UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '16' }),
        },
      );
    } finally {
      closeSync(fd);
    }
    const pid = child.pid;
    if (pid === undefined) {
      const err = await new Promise<Error>((done) => child.once('error', done));
      throw new ReboundError('SITE_PROVIDER_FAILED', `cannot start ${exe}: ${err.message}`, { cause: err });
    }
    // Recorded at once: a manager killed from here on finds the child by this file.
    writeFileSync(p.pidFile, `${pid}\n`);
    child.unref();
    let exit: string | undefined;
    child.once('exit', (code, signal) => {
      exit = code === null ? `killed by ${signal}` : `exit ${code}`;
    });
    this.logger.info(
      { site: site.name, nodePid: pid, ports: previous ? 'previous' : 'new' },
      'secondary node started',
    );
    try {
      return await this.awaitReady(p, pid, this.startTimeoutMs, logOffset, () => exit);
    } catch (err) {
      if (isAlive(pid)) await stopProcess(pid, 2_000, `the node of site ${site.name}`).catch(() => {});
      await rm(p.pidFile, { force: true });
      throw err;
    }
  }

  /** Wait for ready.json from `pid`, then for its API to answer. */
  private async awaitReady(
    p: Paths,
    pid: number,
    timeoutMs: number,
    logOffset: number,
    exited: () => string | undefined = () => undefined,
  ): Promise<BuiltNode> {
    const until = Date.now() + timeoutMs;
    const gone = () => exited() !== undefined || !isAlive(pid);
    const fail = async (what: string, cause?: unknown) =>
      new ReboundError(
        'SITE_PROVIDER_FAILED',
        `the secondary node (pid ${pid}) ${what}; its log ${p.logFile} ends:\n${await logTail(p.logFile, logOffset)}`,
        { cause },
      );
    for (;;) {
      const ready = await readReady(p.readyFile, pid);
      if (ready) {
        try {
          return await waitForNode(await this.target(p, ready), Math.max(until - Date.now(), 1_000), gone);
        } catch (err) {
          throw await fail(`reported ready but its API does not answer (${(err as Error).message})`, err);
        }
      }
      if (gone()) throw await fail(`exited before it was ready (${exited() ?? 'gone'})`);
      if (Date.now() >= until) throw await fail(`was not ready after ${Math.round(timeoutMs / 1000)} s`);
      await sleep(POLL_MS);
    }
  }

  private async teardownLocked(site: SiteRef, p: Paths, options: TeardownOptions): Promise<TeardownOutcome> {
    const pid = await this.findPid(p, true);
    if (pid !== undefined) await stopProcess(pid, this.stopTimeoutMs, `the node of site ${site.name}`);
    await rm(p.pidFile, { force: true });
    await rm(p.readyFile, { force: true });
    if (options.purge) await rm(p.siteDir, { recursive: true, force: true });
    this.logger.info(
      { site: site.name, nodePid: pid, purge: options.purge === true },
      'secondary node torn down',
    );
    return pid === undefined ? 'absent' : 'stopped';
  }

  /**
   * The pid of this site's running node: the pid file, else the one in ready.json, else
   * (when `scan`) any process carrying our ready file's path.
   */
  private async findPid(p: Paths, scan: boolean): Promise<number | undefined> {
    for (const pid of [await readPid(p.pidFile), (await readReady(p.readyFile))?.pid]) {
      if (pid !== undefined && (await isOurs(pid, p.readyFile))) return pid;
    }
    if (!scan) return undefined;
    const found = await findByArgument(p.readyFile);
    if (found !== undefined) writeFileSync(p.pidFile, `${found}\n`);
    return found;
  }

  private async target(p: Paths, ready: Ready) {
    const config = await readNodeConfig(p.nodeDir);
    return { url: ready.apiUrl, token: config.token, tls: await tlsView(config.tls) };
  }

  private reboundArgv(): string[] {
    return this.executable ?? reboundCommand();
  }
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function tlsArgs(tls: LocalSiteConfig['tls']): string[] {
  if (!tls) return [];
  return [
    '--tls',
    tls.mode,
    ...(tls.pskFile ? ['--tls-psk-file', tls.pskFile] : []),
    ...(tls.certFile ? ['--tls-cert', tls.certFile] : []),
    ...(tls.keyFile ? ['--tls-key', tls.keyFile] : []),
    ...(tls.caFile ? ['--tls-ca', tls.caFile] : []),
    ...(tls.verifyClient ? ['--tls-verify-client'] : []),
  ];
}

/** The node's TLS as clients need it: the PSK identity is the first username of its PSK file. */
async function tlsView(tls: {
  mode: BuiltNodeTls['mode'];
  pskFile?: string;
  caFile?: string;
}): Promise<BuiltNodeTls> {
  let pskIdentity: string | undefined;
  if (tls.pskFile) {
    const first = (await readFile(tls.pskFile, 'utf8').catch(() => '')).split('\n')[0] ?? '';
    pskIdentity = first.includes(':') ? first.slice(0, first.indexOf(':')) : undefined;
  }
  return {
    mode: tls.mode,
    ...(pskIdentity && { pskIdentity }),
    ...(tls.pskFile && { pskFile: tls.pskFile }),
    ...(tls.caFile && { caFile: tls.caFile }),
  };
}

async function readPid(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  const pid = text === undefined ? Number.NaN : Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** ready.json when it is whole (and, given `pid`, written by that process). */
async function readReady(file: string, pid?: number): Promise<Ready | undefined> {
  try {
    const ready = JSON.parse(await readFile(file, 'utf8')) as Ready;
    if (typeof ready.apiUrl !== 'string' || typeof ready.nbd?.port !== 'number') return undefined;
    return pid === undefined || ready.pid === pid ? ready : undefined;
  } catch {
    return undefined;
  }
}

/** Keep one older log when it grew large; the size to read a new run's output from. */
async function rotateLog(logFile: string): Promise<number> {
  const size = (await stat(logFile).catch(() => undefined))?.size ?? 0;
  if (size < LOG_ROTATE_BYTES) return size;
  await rename(logFile, `${logFile}.1`);
  return 0;
}

/** The last lines the node wrote since `offset`. */
async function logTail(logFile: string, offset: number): Promise<string> {
  const fh = await open(logFile, 'r').catch(() => undefined);
  if (!fh) return '(no log)';
  try {
    const { size } = await fh.stat();
    const from = Math.max(offset, size - 16_384);
    const buf = Buffer.alloc(Math.max(0, size - from));
    await fh.read(buf, 0, buf.length, from);
    return tail(buf.toString('utf8'), 15) || '(empty)';
  } finally {
    await fh.close();
  }
}
