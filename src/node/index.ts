/**
 * node/: the storage node daemon (`rebound node run`). It wires the storage (volume/ over
 * pool/) to hosts through the NBD server (nbd/) and to the manager and CLI through an
 * HTTP control API with a bearer token. The manager never reaches into a node's pool: it
 * asks this API (DESIGN.md, "Folders").
 */
export { buildNodeApi, nbdUri } from './api.js';
export * as api from './api-schema.js';
export { NodeClient } from './client.js';
export {
  DEFAULT_NODE_CONFIG,
  type NodeConfig,
  type NodeTlsConfig,
  newToken,
  readNodeConfig,
  writeNodeConfig,
} from './config.js';
export { poolDir, type RunningNode, startNode } from './daemon.js';
export { storageExports } from './exports.js';
