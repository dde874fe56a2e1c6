/**
 * `rebound node run`: the storage node daemon. Opens the pool and volumes, serves them
 * to hosts over NBD, and answers the control API. Stops cleanly on SIGINT/SIGTERM (a
 * crash is fine too: the pool is crash-safe, a clean stop only saves replay time).
 *
 *   hosts ──NBD──► NbdServer ──► storageExports ──► Storage (volume/ over pool/)
 *   manager, CLI ──HTTP──► buildNodeApi ─────────────┘
 */
import { join } from 'node:path';
import { silentLogger, type Logger } from '../logger.js';
import { NbdServer } from '../nbd/index.js';
import type { Storage } from '../volume/types.js';
import { NodeStorage } from '../volume/index.js';
import { buildNodeApi } from './api.js';
import type { NodeConfig } from './config.js';
import { storageExports } from './exports.js';
import { nbdTlsOptions } from './tls.js';
import { VERSION } from '../version.js';

export interface RunningNode {
  serial: string;
  storage: Storage;
  apiUrl: string;
  nbd: { host: string; port: number; tls: string };
  token: string;
  close(): Promise<void>;
}

/** Where the pool lives inside a node's data directory. */
export function poolDir(dataDir: string): string {
  return join(dataDir, 'pool');
}

export async function startNode(dataDir: string, config: NodeConfig, logger: Logger = silentLogger): Promise<RunningNode> {
  const storage = await NodeStorage.open(poolDir(dataDir));
  const nbdServer = new NbdServer({
    provider: storageExports(storage),
    tls: await nbdTlsOptions(config.tls),
    logger: logger.child({ part: 'nbd' }),
  });
  let nbdAddress: { port: number };
  try {
    nbdAddress = await nbdServer.listen(config.nbdPort, config.nbdHost);
  } catch (err) {
    await storage.close();
    throw err;
  }
  const nbd = { host: config.nbdHost, port: nbdAddress.port, tls: config.tls.mode };
  const api = buildNodeApi({
    storage,
    token: config.token,
    nbd,
    version: VERSION,
    startedAt: Date.now(),
    nbdConnections: () => nbdServer.connectionCount,
    logger: logger.child({ part: 'api' }),
  });
  let apiUrl: string;
  try {
    apiUrl = await api.listen({ port: config.apiPort, host: config.apiHost });
  } catch (err) {
    await nbdServer.close();
    await storage.close();
    throw err;
  }
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
        await api.close();
        await nbdServer.close();
        await storage.close();
        logger.info('node stopped');
      })();
      return closing;
    },
  };
}
