/**
 * The node's configuration file, `node.json` in its data directory: written by
 * `rebound node init`, read by `rebound node run`. Flags and REBOUND_* environment
 * variables override it at run time. It holds the API token, so it is mode 0600.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ReboundError } from '../errors.js';

export interface NodeTlsConfig {
  /** off: plain NBD; optional: STARTTLS offered; require: NBD only inside TLS (between sites). */
  mode: 'off' | 'optional' | 'require';
  /** PSK file, `username:hexkey` per line (what psktool writes and qemu's tls-creds-psk reads). */
  pskFile?: string;
  /** x509: PEM files. */
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  /** x509: ask for and verify a client certificate signed by caFile. */
  requireClientCert?: boolean;
}

export interface NodeConfig {
  /** Control API listen address. */
  apiHost: string;
  apiPort: number;
  /** NBD listen address. */
  nbdHost: string;
  nbdPort: number;
  /**
   * Where other nodes and hosts reach this NBD server, when that is not the listen
   * address: behind NAT, a port forward or a proxy, or listening on 0.0.0.0. The node
   * reports it as its NBD address (GET /v1/node, volumes' nbdUri), so the manager points
   * copy pairs (failback by remote copy) and host hooks at it. Unset: the listen address.
   */
  nbdAdvertise?: { host: string; port: number };
  /**
   * Restores (and a failback's apply through the object store) write at most this many
   * bytes per second into this node's pool, so hosts of other volumes keep their I/O.
   * Unset: as fast as the drives take it.
   */
  restoreBytesPerSec?: number;
  /**
   * Backups read this node's volumes at most this many bytes per second (a failback's
   * generation N+1 too), so hosts keep their share of the drives. Unset: no limit.
   */
  backupBytesPerSec?: number;
  /** Bearer token for the control API. */
  token: string;
  tls: NodeTlsConfig;
}

export const NODE_CONFIG_FILE = 'node.json';

export const DEFAULT_NODE_CONFIG: Omit<NodeConfig, 'token'> = {
  apiHost: '127.0.0.1',
  apiPort: 7700,
  nbdHost: '127.0.0.1',
  nbdPort: 10809,
  tls: { mode: 'off' },
};

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

export async function readNodeConfig(dataDir: string): Promise<NodeConfig> {
  let text: string;
  try {
    text = await readFile(join(dataDir, NODE_CONFIG_FILE), 'utf8');
  } catch (err) {
    throw new ReboundError(
      'POOL_NOT_INITIALISED',
      `no ${NODE_CONFIG_FILE} in ${dataDir}: run \`rebound node init --data-dir ${dataDir}\` first`,
      { cause: err },
    );
  }
  const parsed = JSON.parse(text) as Partial<NodeConfig>;
  return {
    ...DEFAULT_NODE_CONFIG,
    ...parsed,
    tls: { ...DEFAULT_NODE_CONFIG.tls, ...parsed.tls },
  } as NodeConfig;
}

export async function writeNodeConfig(dataDir: string, config: NodeConfig): Promise<void> {
  const path = join(dataDir, NODE_CONFIG_FILE);
  await writeFile(`${path}.tmp`, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}
