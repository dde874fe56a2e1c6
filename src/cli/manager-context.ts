/**
 * Which manager a CLI verb talks to, and with what token:
 *
 *   1. `--manager URL` or REBOUND_MANAGER, with `--token` or REBOUND_TOKEN, or the token
 *      `rebound login` saved for that URL;
 *   2. else the manager `rebound login` last signed in to;
 *   3. else the local quick start: `rebound up` in this directory (./rebound-data) wrote
 *      the manager's address and an admin token there.
 *
 * Saved credentials live in $REBOUND_CONFIG_DIR, else $XDG_CONFIG_HOME/rebound, else
 * ~/.config/rebound, in credentials.json (mode 0600): { current, managers: { url: token } }.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ReboundError } from '../errors.js';
import { ManagerClient } from '../manager/client.js';
import { DEFAULT_DATA_DIR, globals } from './context.js';

export interface Credentials {
  current: string | null;
  managers: Record<string, string>;
}

/** Written by `rebound up` beside its data: where its manager listens and an admin token. */
export const QUICKSTART_FILE = 'quickstart.json';

export function configDir(): string {
  return (
    process.env.REBOUND_CONFIG_DIR ??
    join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'rebound')
  );
}

export async function readCredentials(): Promise<Credentials> {
  try {
    return JSON.parse(await readFile(join(configDir(), 'credentials.json'), 'utf8')) as Credentials;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { current: null, managers: {} };
    throw err;
  }
}

export async function saveCredentials(c: Credentials): Promise<string> {
  const dir = configDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'credentials.json');
  await writeFile(`${path}.tmp`, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
  return path;
}

export async function readQuickstart(
  dataDir: string,
): Promise<{ manager: string; token: string } | undefined> {
  try {
    return JSON.parse(await readFile(join(dataDir, QUICKSTART_FILE), 'utf8')) as {
      manager: string;
      token: string;
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** `--manager` or REBOUND_MANAGER, without a trailing slash (the key credentials are saved under). */
export function managerUrl(cmd: Command): string | undefined {
  const url = (globals(cmd) as { manager?: string }).manager || process.env.REBOUND_MANAGER;
  return url ? url.replace(/\/+$/, '') : undefined;
}

export async function managerClient(cmd: Command): Promise<ManagerClient> {
  const g = globals(cmd);
  const explicitToken = g.token || process.env.REBOUND_TOKEN || undefined;
  const creds = await readCredentials();
  let url = managerUrl(cmd);
  if (!url && creds.current) url = creds.current;
  if (!url) {
    const qs = await readQuickstart(g.dataDir ?? DEFAULT_DATA_DIR);
    if (qs) return new ManagerClient(qs.manager, explicitToken ?? qs.token);
    throw new ReboundError(
      'INVALID_ARGUMENT',
      'no manager given: pass --manager URL (or set REBOUND_MANAGER) and sign in with `rebound login`, or run `rebound up` here first',
      { detail: { field: 'manager' } },
    );
  }
  const token = explicitToken ?? creds.managers[url];
  if (!token)
    throw new ReboundError(
      'UNAUTHORIZED',
      `no token for ${url}: sign in with \`rebound login --manager ${url}\`, or pass --token (REBOUND_TOKEN)`,
    );
  return new ManagerClient(url, token);
}
