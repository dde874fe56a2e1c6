/**
 * rebound node init|run|status: set up and run a storage node on this machine.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ReboundError } from '../../errors.js';
import { createLogger } from '../../logger.js';
import {
  DEFAULT_NODE_CONFIG,
  type NodeConfig,
  type NodeTlsConfig,
  newToken,
  poolDir,
  type RunningNode,
  readNodeConfig,
  startNode,
  writeNodeConfig,
} from '../../node/index.js';
import { formatBytes, parseSize } from '../../units.js';
import { NodeStorage } from '../../volume/index.js';
import { DEFAULT_NODE_DIR, globals, nodeClient } from '../context.js';
import { emit, printRecord } from '../output.js';

export function parseListen(text: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new ReboundError('INVALID_ARGUMENT', `${what} "${text}" is not HOST:PORT`);
  return { host: m[1] ?? m[2], port };
}

export interface InitOptions {
  serial?: string;
  drive?: string[];
  blockSize: string;
  apiListen?: string;
  nbdListen?: string;
  nbdAdvertise?: string;
  restoreRate?: string;
  backupRate?: string;
  tls?: NodeTlsConfig['mode'];
  tlsPskFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsVerifyClient?: boolean;
}

/** Create a node's pool and node.json in `dataDir`. Exported for `rebound up`. */
export async function initNode(dataDir: string, opts: InitOptions): Promise<NodeConfig & { serial: string }> {
  await mkdir(dataDir, { recursive: true });
  const drives = (opts.drive ?? []).map((d) => {
    const at = d.lastIndexOf(':');
    if (at < 1) throw new ReboundError('INVALID_ARGUMENT', `--drive "${d}" is not PATH:SIZE`);
    return { path: resolve(d.slice(0, at)), sizeBytes: parseSize(d.slice(at + 1), '--drive size') };
  });
  const storage = await NodeStorage.init(poolDir(dataDir), {
    serial: opts.serial,
    drives: drives.length ? drives : undefined,
    blockSizeBytes: parseSize(opts.blockSize, '--block-size'),
  });
  const serial = storage.serial;
  await storage.close();
  const api = opts.apiListen ? parseListen(opts.apiListen, '--api-listen') : undefined;
  const nbd = opts.nbdListen ? parseListen(opts.nbdListen, '--nbd-listen') : undefined;
  const config: NodeConfig = {
    ...DEFAULT_NODE_CONFIG,
    ...(api && { apiHost: api.host, apiPort: api.port }),
    ...(nbd && { nbdHost: nbd.host, nbdPort: nbd.port }),
    ...(opts.nbdAdvertise && { nbdAdvertise: parseListen(opts.nbdAdvertise, '--nbd-advertise') }),
    ...(opts.restoreRate && { restoreBytesPerSec: parseSize(opts.restoreRate, '--restore-rate') }),
    ...(opts.backupRate && { backupBytesPerSec: parseSize(opts.backupRate, '--backup-rate') }),
    token: newToken(),
    tls: {
      mode: opts.tls ?? 'off',
      ...(opts.tlsPskFile && { pskFile: resolve(opts.tlsPskFile) }),
      ...(opts.tlsCert && { certFile: resolve(opts.tlsCert) }),
      ...(opts.tlsKey && { keyFile: resolve(opts.tlsKey) }),
      ...(opts.tlsCa && { caFile: resolve(opts.tlsCa) }),
      ...(opts.tlsVerifyClient && { requireClientCert: true }),
    },
  };
  await writeNodeConfig(dataDir, config);
  return { ...config, serial };
}

/** Run until SIGINT/SIGTERM; resolves when stopped. */
export async function runUntilSignalled(node: RunningNode): Promise<void> {
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      node.close().then(done, done);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export function nodeCommands(program: Command): Command {
  const node = program.command('node').description('a storage node: pool, volumes, NBD server, control API');

  node
    .command('init')
    .description('create a pool and a node identity (serial number, API token) in the data directory')
    .option('--serial <serial>', 'serial number (default: random, 8 hex digits)')
    .option(
      '--drive <path:size...>',
      'drive files of the pool (default: one 64 GiB sparse file in the data directory)',
    )
    .option('--block-size <size>', 'pool block size: granularity of allocation, bitmaps and backups', '64K')
    .option(
      '--api-listen <host:port>',
      'control API address',
      `${DEFAULT_NODE_CONFIG.apiHost}:${DEFAULT_NODE_CONFIG.apiPort}`,
    )
    .option(
      '--nbd-listen <host:port>',
      'NBD address',
      `${DEFAULT_NODE_CONFIG.nbdHost}:${DEFAULT_NODE_CONFIG.nbdPort}`,
    )
    .option(
      '--nbd-advertise <host:port>',
      'where other nodes and hosts reach the NBD server, if not at --nbd-listen (NAT, port forward, proxy)',
    )
    .option(
      '--restore-rate <size>',
      'write restores into this pool at most this fast, per second (e.g. 200M), to leave hosts I/O',
    )
    .option(
      '--backup-rate <size>',
      'read volumes for backups at most this fast, per second (e.g. 200M), to leave hosts I/O',
    )
    .option('--tls <mode>', 'NBD TLS: off, optional or require', 'off')
    .option('--tls-psk-file <file>', 'TLS pre-shared keys, username:hexkey per line (psktool format)')
    .option('--tls-cert <file>', 'x509 server certificate (PEM)')
    .option('--tls-key <file>', 'x509 server key (PEM)')
    .option('--tls-ca <file>', 'x509 CA certificate for client certificates (PEM)')
    .option('--tls-verify-client', 'x509: require a client certificate signed by --tls-ca')
    .action(async (opts: InitOptions, cmd: Command) => {
      const dataDir = globals(cmd).dataDir ?? DEFAULT_NODE_DIR;
      if (!['off', 'optional', 'require'].includes(opts.tls ?? 'off')) {
        throw new ReboundError(
          'INVALID_ARGUMENT',
          `--tls must be off, optional or require, not "${opts.tls}"`,
        );
      }
      const config = await initNode(dataDir, opts);
      emit(globals(cmd), { dataDir, serial: config.serial, token: config.token }, () => {
        console.log(`initialised node ${config.serial} in ${dataDir}`);
        console.log(`API token (also in ${dataDir}/node.json): ${config.token}`);
        console.log(`start it with: rebound node run --data-dir ${dataDir}`);
      });
    });

  node
    .command('run')
    .description('run the node: serve volumes over NBD and the control API until stopped')
    .option('--api-listen <host:port>', 'override the control API address')
    .option('--nbd-listen <host:port>', 'override the NBD address')
    .option('--nbd-advertise <host:port>', 'override the NBD address reported to the manager and hosts')
    .option(
      '--ready-file <file>',
      'once listening, write {pid, serial, apiUrl, nbd} there as JSON (removed at a clean stop)',
    )
    .action(
      async (
        opts: { apiListen?: string; nbdListen?: string; nbdAdvertise?: string; readyFile?: string },
        cmd: Command,
      ) => {
        const dataDir = globals(cmd).dataDir ?? DEFAULT_NODE_DIR;
        const config = await readNodeConfig(dataDir);
        if (opts.apiListen)
          Object.assign(config, renameListen(parseListen(opts.apiListen, '--api-listen'), 'api'));
        if (opts.nbdListen)
          Object.assign(config, renameListen(parseListen(opts.nbdListen, '--nbd-listen'), 'nbd'));
        if (opts.nbdAdvertise) config.nbdAdvertise = parseListen(opts.nbdAdvertise, '--nbd-advertise');
        const running = await startNode(dataDir, config, createLogger('rebound-node'));
        emit(globals(cmd), { serial: running.serial, api: running.apiUrl, nbd: running.nbd }, () => {
          console.log(`node ${running.serial} running`);
          console.log(`  control API  ${running.apiUrl}`);
          console.log(`  NBD          ${running.nbd.host}:${running.nbd.port} (TLS ${running.nbd.tls})`);
        });
        if (opts.readyFile) await writeReadyFile(opts.readyFile, running);
        await runUntilSignalled(running);
        if (opts.readyFile) await rm(opts.readyFile, { force: true });
      },
    );

  node
    .command('status')
    .description("the node's identity, pool capacity and health")
    .action(async (_opts, cmd: Command) => {
      const client = await nodeClient(cmd);
      const [id, health] = await Promise.all([client.identity(), client.health()]);
      emit(globals(cmd), { ...id, health }, () =>
        printRecord({
          serial: id.serial,
          health: health.status,
          version: id.version,
          nbd: `${id.nbd.host}:${id.nbd.port} (TLS ${id.nbd.tls})`,
          'pool block size': formatBytes(id.pool.blockSizeBytes),
          'pool capacity': formatBytes(id.pool.capacityBytes),
          'pool used': formatBytes(id.pool.usedBytes),
          'pool free': formatBytes(id.pool.freeBytes),
          'drives on disk': formatBytes(id.pool.diskBytes),
          volumes: health.volumes,
          'nbd connections': health.nbdConnections,
        }),
      );
    });
  return node;
}

/**
 * The ready file: how a parent that started `node run` with port 0 (the manager's local
 * site provider) learns the bound addresses. Written whole (rename) after both listeners
 * are up, so its presence means "answering"; a crash leaves it behind, hence the pid.
 */
async function writeReadyFile(path: string, node: RunningNode): Promise<void> {
  const ready = { pid: process.pid, serial: node.serial, apiUrl: node.apiUrl, nbd: node.nbd };
  await writeFile(`${path}.tmp`, `${JSON.stringify(ready)}\n`);
  await rename(`${path}.tmp`, path);
}

function renameListen(l: { host: string; port: number }, prefix: 'api' | 'nbd'): Partial<NodeConfig> {
  return prefix === 'api' ? { apiHost: l.host, apiPort: l.port } : { nbdHost: l.host, nbdPort: l.port };
}
