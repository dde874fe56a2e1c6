/**
 * The manager's configuration: `manager.json` in its data directory when present, over
 * these defaults. The master key for secrets at rest comes from `secretKey` here, else
 * REBOUND_SECRET_KEY, else `secret.key` beside the database (made at first start, 0600).
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ManagerConfig {
  /** API listen address. */
  apiHost: string;
  apiPort: number;
  /** How often every node is asked for its health and volumes. */
  pollIntervalMs: number;
  /** A node call slower than this counts as unreachable. */
  nodeTimeoutMs: number;
  /** How long a token from sign-in lives. */
  sessionTtlMs: number;
  /** 64 hex digits; see the top of this file. */
  secretKey?: string;
  /** Notifications (errors, node health, failed or paused jobs) are POSTed here as JSON. */
  webhookUrl?: string;
}

export const MANAGER_CONFIG_FILE = 'manager.json';
export const MANAGER_SECRET_KEY_FILE = 'secret.key';

export const DEFAULT_MANAGER_CONFIG: ManagerConfig = {
  apiHost: '127.0.0.1',
  apiPort: 7600,
  pollIntervalMs: 10_000,
  nodeTimeoutMs: 5_000,
  sessionTtlMs: 12 * 3600_000,
};

/** manager.json over the defaults; the defaults alone when there is no file. */
export async function readManagerConfig(dataDir: string): Promise<ManagerConfig> {
  let parsed: Partial<ManagerConfig> = {};
  try {
    parsed = JSON.parse(await readFile(join(dataDir, MANAGER_CONFIG_FILE), 'utf8')) as Partial<ManagerConfig>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { ...DEFAULT_MANAGER_CONFIG, ...parsed };
}

export async function writeManagerConfig(dataDir: string, config: ManagerConfig): Promise<void> {
  const path = join(dataDir, MANAGER_CONFIG_FILE);
  await writeFile(`${path}.tmp`, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}
