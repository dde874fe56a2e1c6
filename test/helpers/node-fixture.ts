/**
 * A real storage node on loopback for tests: a pool in a temp directory, the NBD server
 * and control API on port 0. `close()` stops it and removes the directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type InitOptions, initNode } from '../../src/cli/commands/node.js';
import type { Logger } from '../../src/logger.js';
import { NodeClient } from '../../src/node/client.js';
import { readNodeConfig } from '../../src/node/config.js';
import { type RunningNode, type StartNodeOptions, startNode } from '../../src/node/daemon.js';

export interface NodeFixture {
  node: RunningNode;
  client: NodeClient;
  dataDir: string;
  /** nbd://127.0.0.1:PORT/NAME */
  uri(exportName: string): string;
  /** Stop the node, keeping the data directory (to restart it). */
  stop(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestNode(
  options: {
    poolSizeBytes?: number;
    dataDir?: string;
    init?: Partial<InitOptions>;
    start?: StartNodeOptions;
    /** The node's log (default: silent). */
    logger?: Logger;
  } = {},
): Promise<NodeFixture> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'rebound-node-')));
  if (!options.dataDir) {
    await initNode(dataDir, {
      blockSize: '64K',
      apiListen: '127.0.0.1:0',
      nbdListen: '127.0.0.1:0',
      drive: [`${join(dataDir, 'drive0.img')}:${options.poolSizeBytes ?? 8 * 2 ** 30}`],
      ...options.init,
    });
  }
  const node = await startNode(dataDir, await readNodeConfig(dataDir), options.logger, options.start);
  let stopped = false;
  return {
    node,
    client: new NodeClient(node.apiUrl, node.token),
    dataDir,
    uri: (name) => `nbd://127.0.0.1:${node.nbd.port}/${name}`,
    async stop() {
      if (!stopped) await node.close();
      stopped = true;
    },
    async close() {
      if (!stopped) await node.close();
      stopped = true;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
