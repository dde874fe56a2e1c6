/**
 * `rebound node run`: the storage node daemon. Opens the pool and volumes, serves them
 * to hosts over NBD, and answers the control API. Stops cleanly on SIGINT/SIGTERM (a
 * crash is fine too: the pool is crash-safe, a clean stop only saves replay time).
 *
 *   hosts ──NBD──► NbdServer ──► storageExports ──► Storage (volume/ over pool/)
 *   manager, CLI ──HTTP──► buildNodeApi ─────────────┘   ▲ journal hook
 *                               ├──► PairManager (replication/) ──NBD──► another node
 *                               └──► ExternalVolumes (virtual volumes) ──NBD──► another node
 *
 * Copy pairs found on disk resume at start (after the storage opens, before hosts can
 * write) and stop at close after the NBD server and the tasks, so no write slips past
 * their journals.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type Logger, silentLogger } from '../logger.js';
import { NbdServer } from '../nbd/index.js';
import { ExternalVolumes, PairManager, type PairManagerOptions } from '../replication/index.js';
import { SecretBox } from '../secrets.js';
import { VERSION } from '../version.js';
import { NodeStorage } from '../volume/index.js';
import type { Storage } from '../volume/types.js';
import { buildNodeApi } from './api.js';
import type { NodeConfig } from './config.js';
import { type MountedGeneration, storageExports } from './exports.js';
import { PairKeys } from './pair-keys.js';
import { StoreRegistry } from './stores.js';
import { TaskRunner } from './tasks.js';
import { nbdTlsOptions } from './tls.js';

export interface RunningNode {
  serial: string;
  storage: Storage;
  apiUrl: string;
  /** The address the NBD server is bound to (the API reports `config.nbdAdvertise` when set). */
  nbd: { host: string; port: number; tls: string };
  token: string;
  close(): Promise<void>;
}

/** The node's master key for secrets at rest (unless REBOUND_SECRET_KEY is set). */
export const SECRET_KEY_FILE = 'secret.key';

/** Where the pool lives inside a node's data directory. */
export function poolDir(dataDir: string): string {
  return join(dataDir, 'pool');
}

/** Knobs for tests (and benchmarks): the pairs' journal size, retries, release wait. */
export interface StartNodeOptions {
  pairs?: Omit<Partial<PairManagerOptions>, 'dataDir' | 'storage' | 'secrets' | 'logger'>;
}

export async function startNode(
  dataDir: string,
  config: NodeConfig,
  logger: Logger = silentLogger,
  options: StartNodeOptions = {},
): Promise<RunningNode> {
  const storage = await NodeStorage.open(poolDir(dataDir));
  // A failback's verify hashes on both nodes right after the copy, and its copy is the
  // primary's first burst of small scattered writes: workers started then would add their
  // start-up to the job (two take 40 ms and 70 ms of CPU here).
  storage.startWorkers();
  let stores: StoreRegistry;
  let pairs: PairManager;
  let pairKeys: PairKeys;
  let externals: ExternalVolumes;
  try {
    const secrets = await SecretBox.open(join(dataDir, SECRET_KEY_FILE));
    stores = await StoreRegistry.open(dataDir, secrets);
    pairKeys = await PairKeys.open(dataDir, secrets);
    pairs = await PairManager.open({ ...options.pairs, dataDir, storage, secrets, logger });
    externals = await ExternalVolumes.open({ dataDir, secrets, logger });
  } catch (err) {
    await storage.close();
    throw err;
  }
  const mounts = new Map<string, MountedGeneration>();
  const tasks = new TaskRunner(logger.child({ part: 'tasks' }));
  const nbdServer = new NbdServer({
    provider: storageExports(storage, mounts, pairKeys),
    tls: await nbdTlsOptions(config.tls).catch(async (err) => {
      await pairs.close();
      await storage.close();
      throw err;
    }),
    logger: logger.child({ part: 'nbd' }),
    onTransmission: (info) => pairKeys.noteSession(info, new Date().toISOString()),
  });
  pairKeys.attach(nbdServer);
  let api: FastifyInstance | undefined;
  let apiUrl: string;
  const stopping = new AbortController();
  let nbd: RunningNode['nbd'];
  try {
    const nbdAddress = await nbdServer.listen(config.nbdPort, config.nbdHost);
    nbd = { host: config.nbdHost, port: nbdAddress.port, tls: config.tls.mode };
    api = buildNodeApi({
      storage,
      stores,
      tasks,
      pairs,
      pairKeys,
      externals,
      mounts,
      token: config.token,
      nbd: config.nbdAdvertise ? { ...config.nbdAdvertise, tls: config.tls.mode } : nbd,
      version: VERSION,
      startedAt: Date.now(),
      nbdConnections: () => nbdServer.connectionCount,
      restoreBytesPerSec: config.restoreBytesPerSec,
      backupBytesPerSec: config.backupBytesPerSec,
      stopping: stopping.signal,
      // Per-request lines only at debug: an operator's log should show changes and errors.
      logger: logger.child(
        { part: 'api' },
        { level: ['debug', 'trace', 'silent'].includes(logger.level) ? logger.level : 'warn' },
      ),
    });
    apiUrl = await api.listen({ port: config.apiPort, host: config.apiHost });
  } catch (err) {
    // Half a node is worse than none: release the ports and the pool before failing.
    await api?.close();
    await nbdServer.close();
    await pairs.close();
    await storage.close();
    throw err;
  }
  const app = api;
  logger.info({ serial: storage.serial, apiUrl, nbd }, 'node running');

  let closing: Promise<void> | undefined;
  return {
    serial: storage.serial,
    storage,
    apiUrl,
    nbd,
    token: config.token,
    close() {
      closing ??= (async () => {
        stopping.abort(); // held long polls answer now: the API waits for requests in flight
        await app.close();
        await nbdServer.close();
        await tasks.close();
        await pairs.close();
        await externals.close();
        for (const m of mounts.values()) await m.store.close();
        await storage.close();
        logger.info('node stopped');
      })();
      return closing;
    },
  };
}
