/**
 * Which node a CLI verb talks to: `--node URL` or REBOUND_NODE, with `--token` or
 * REBOUND_TOKEN; otherwise the node whose data directory is `--data-dir` (default
 * ./rebound-data/node, what `rebound up` makes), whose node.json has its address and token.
 */
import type { Command } from 'commander';
import { ReboundError } from '../errors.js';
import { NodeClient, readNodeConfig } from '../node/index.js';

export const DEFAULT_DATA_DIR = 'rebound-data';
export const DEFAULT_NODE_DIR = `${DEFAULT_DATA_DIR}/node`;

export interface GlobalOptions {
  node?: string;
  token?: string;
  dataDir?: string;
  json?: boolean;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

export async function nodeClient(cmd: Command): Promise<NodeClient> {
  const g = globals(cmd);
  const url = g.node ?? process.env.REBOUND_NODE;
  const token = g.token ?? process.env.REBOUND_TOKEN;
  if (url) {
    if (!token)
      throw new ReboundError(
        'UNAUTHORIZED',
        'a node URL was given without a token: pass --token or set REBOUND_TOKEN',
      );
    return new NodeClient(url, token);
  }
  const dataDir = g.dataDir ?? DEFAULT_NODE_DIR;
  const config = await readNodeConfig(dataDir).catch((err) => {
    throw new ReboundError(
      'INVALID_ARGUMENT',
      `no node given: pass --node URL --token T (or REBOUND_NODE/REBOUND_TOKEN), or --data-dir of a local node (${dataDir} has none)`,
      { cause: err },
    );
  });
  const host = config.apiHost === '0.0.0.0' || config.apiHost === '::' ? '127.0.0.1' : config.apiHost;
  return new NodeClient(
    `http://${host.includes(':') ? `[${host}]` : host}:${config.apiPort}`,
    token ?? config.token,
  );
}
