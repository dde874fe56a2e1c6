/**
 * The registry: sites, their nodes, the volumes on those nodes (SPEC Fig. 7) and the
 * object stores (Fig. 9). The manager never reaches into a node's pool; it asks the
 * node's API through NodeClient (DESIGN.md, "Folders"), and keeps its volume table in
 * step with what each node reports (`syncNode`), after every change it makes and on
 * every health poll.
 *
 * Node tokens and store secrets are sealed with the manager's SecretBox before they
 * reach the database; they are opened only to call a node or to push a store to one.
 */
import { randomBytes } from 'node:crypto';
import { isReboundError, ReboundError } from '../errors.js';
import type { AddStoreBody } from '../node/api-schema.js';
import { NodeClient } from '../node/client.js';
import { checkStoreRegistration } from '../node/stores.js';
import type { SecretBox } from '../secrets.js';
import { type Clock, isoTime } from './clock.js';
import type { ManagerDb, NodeRecord, StoreRecord, SyncResult, VolumeRecord } from './db/types.js';
import type { EventLog } from './events.js';

/** How the manager reaches a node; tests may wrap it. */
export type NodeConnector = (apiUrl: string, token: string) => NodeClient;

export const defaultConnector: NodeConnector = (url, token) => new NodeClient(url, token);

/**
 * How long a node may take to register a store: it checks the store first, which takes
 * about 10 s when the endpoint never answers (node/routes/stores.ts). Under the node
 * client's own 30 s.
 */
const STORE_CHECK_MS = 25_000;

export interface RegistryOptions {
  db: ManagerDb;
  box: SecretBox;
  clock: Clock;
  events: EventLog;
  connect?: NodeConnector;
  /** How long a node call may take before the node counts as unreachable. */
  nodeTimeoutMs: number;
}

export class Registry {
  readonly db: ManagerDb;
  private readonly box: SecretBox;
  readonly clock: Clock;
  private readonly events: EventLog;
  private readonly connect: NodeConnector;
  private readonly nodeTimeoutMs: number;

  constructor(o: RegistryOptions) {
    this.db = o.db;
    this.box = o.box;
    this.clock = o.clock;
    this.events = o.events;
    this.connect = o.connect ?? defaultConnector;
    this.nodeTimeoutMs = o.nodeTimeoutMs;
  }

  private readonly backListeners: ((node: string) => void)[] = [];

  /** Call `fn` with the node's name each time a node answers a health check. */
  onNodeBack(fn: (node: string) => void): void {
    this.backListeners.push(fn);
  }

  // ---- nodes ----

  /**
   * Register a node by URL and token: ask its /v1/node for the serial (refusing a node
   * that does not answer or refuses the token), record it with the token sealed, and
   * learn its volumes.
   */
  async registerNode(req: { name: string; site: string; url: string; token: string }): Promise<NodeRecord> {
    if (!(await this.db.getSite(req.site))) {
      throw new ReboundError('NOT_FOUND', `no site named ${req.site}: add it first (POST /v1/sites)`, {
        detail: { field: 'site' },
      });
    }
    if (await this.db.getNode(req.name)) {
      throw new ReboundError('ALREADY_EXISTS', `a node named ${req.name} is registered`, {
        detail: { field: 'name' },
      });
    }
    const client = this.connect(req.url, req.token);
    let serial: string;
    try {
      serial = (await this.withTimeout(client.identity(), req.url)).serial;
    } catch (err) {
      const e = nodeError(err, req.name, req.url, 'cannot register');
      if (e.code === 'NODE_AUTH' || e.code === 'NODE_UNREACHABLE') throw e;
      throw new ReboundError(
        'NODE_UNREACHABLE',
        `cannot register node ${req.name}: ${req.url} answered, but not as a Rebound node (${e.message})`,
        { cause: err, detail: { field: 'url' } },
      );
    }
    const same = await this.db.getNodeBySerial(serial);
    if (same) {
      throw new ReboundError(
        'ALREADY_EXISTS',
        `the node at ${req.url} (serial ${serial}) is already registered as ${same.name}`,
        { detail: { field: 'url', serial } },
      );
    }
    const now = isoTime(this.clock);
    const record: NodeRecord = {
      name: req.name,
      site: req.site,
      apiUrl: req.url,
      sealedToken: this.box.seal(req.token),
      serial,
      health: 'ok',
      healthReason: null,
      healthChangedAt: now,
      lastSeenAt: now,
      createdAt: now,
    };
    await this.db.addNode(record);
    await this.events.record(
      'info',
      'node.registered',
      req.name,
      `node ${req.name} (serial ${serial}) registered`,
      {
        site: req.site,
        serial,
      },
    );
    await this.syncNode(record).catch(() => undefined);
    return (await this.db.getNode(req.name)) ?? record;
  }

  async removeNode(name: string): Promise<void> {
    await this.node(name);
    await this.db.removeNode(name);
    await this.events.record('info', 'node.removed', name, `node ${name} removed from the registry`);
  }

  async node(name: string): Promise<NodeRecord> {
    const n = await this.db.getNode(name);
    if (!n)
      throw new ReboundError('NOT_FOUND', `no node named ${name} is registered (GET /v1/nodes lists them)`);
    return n;
  }

  /** A key derived from the manager's master key for `purpose` (SecretBox.derive): never stored. */
  derivedKey(purpose: string): Buffer {
    return this.box.derive(purpose);
  }

  /** A client for the node, its token opened. */
  client(node: NodeRecord): NodeClient {
    return this.connect(node.apiUrl, this.box.open(node.sealedToken));
  }

  /**
   * Ask the node who it is and what volumes it has; record health (an event when it
   * changes) and the volumes. Never throws for an unreachable node: that is a state.
   */
  async checkNode(node: NodeRecord): Promise<NodeRecord['health']> {
    const client = this.client(node);
    let reason: string | null = null;
    try {
      const id = await this.withTimeout(client.identity(), node.apiUrl);
      if (id.serial !== node.serial) {
        reason = `the node at ${node.apiUrl} now has serial ${id.serial}, not ${node.serial}`;
      } else {
        await this.syncVolumes(node, await this.withTimeout(client.listVolumes(), node.apiUrl));
      }
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
      if (isReboundError(err, 'UNAUTHORIZED')) reason = `the node refused the manager's token (${reason})`;
    }
    await this.setHealth(node, reason === null ? 'ok' : 'unreachable', reason);
    return reason === null ? 'ok' : 'unreachable';
  }

  /** Sync one node's volumes now (after a change made through the manager). */
  async syncNode(node: NodeRecord): Promise<SyncResult> {
    const client = this.client(node);
    let volumes: Awaited<ReturnType<NodeClient['listVolumes']>>;
    try {
      volumes = await this.withTimeout(client.listVolumes(), node.apiUrl);
    } catch (err) {
      throw nodeError(err, node.name, node.apiUrl, 'cannot sync');
    }
    await this.setHealth(node, 'ok', null);
    return this.syncVolumes(node, volumes);
  }

  private async syncVolumes(
    node: NodeRecord,
    volumes: Awaited<ReturnType<NodeClient['listVolumes']>>,
  ): Promise<SyncResult> {
    return this.db.syncNodeVolumes(
      node.name,
      volumes.map((v) => ({
        uniqueId: v.uniqueId,
        name: v.name,
        serial: v.serial,
        number: v.number,
        sizeBytes: v.sizeBytes,
        usedBytes: v.usedBytes,
        pool: v.pool,
        inheritedUniqueId: v.inheritedUniqueId,
        createdAt: v.createdAt,
      })),
      isoTime(this.clock),
    );
  }

  private async setHealth(
    node: NodeRecord,
    health: NodeRecord['health'],
    reason: string | null,
  ): Promise<void> {
    const now = isoTime(this.clock);
    const current = await this.db.getNode(node.name);
    if (!current) return; // removed meanwhile
    const changed = current.health !== health;
    await this.db.setNodeHealth(node.name, {
      health,
      reason,
      changedAt: changed ? now : current.healthChangedAt,
      lastSeenAt: health === 'ok' ? now : null,
    });
    // Every answer counts, not only a change of health: a node that went away and came
    // back between two polls never looked unreachable here, yet a job may have paused
    // on it meanwhile and waits for it to answer.
    if (health === 'ok') for (const fn of this.backListeners) fn(node.name);
    if (!changed) return;
    if (health === 'unreachable') {
      await this.events.record(
        'warning',
        'node.health',
        node.name,
        `node ${node.name} is unreachable: ${reason}`,
        {
          health,
          previous: current.health,
          lastSeenAt: current.lastSeenAt,
        },
      );
    } else {
      await this.events.record('info', 'node.health', node.name, `node ${node.name} answers again`, {
        health,
        previous: current.health,
      });
    }
  }

  // ---- volumes ----

  /** A volume by unique ID, or by name when one node only has a volume of that name. */
  async volume(ref: string): Promise<VolumeRecord> {
    const byId = await this.db.getVolume(ref);
    if (byId) return byId;
    const named = await this.db.listVolumes({ name: ref });
    if (named.length === 1) return named[0];
    if (named.length > 1) {
      throw new ReboundError(
        'INVALID_ARGUMENT',
        `volume: ${ref} names volumes on several nodes (${named.map((v) => `${v.node}: ${v.uniqueId}`).join(', ')}); give the unique ID`,
        { detail: { field: 'volume' } },
      );
    }
    throw new ReboundError('NOT_FOUND', `no volume ${ref} in the registry (GET /v1/volumes lists them)`);
  }

  async createVolume(nodeName: string, name: string, sizeBytes: number): Promise<VolumeRecord> {
    const node = await this.node(nodeName);
    let created: Awaited<ReturnType<NodeClient['createVolume']>>;
    try {
      created = await this.withTimeout(this.client(node).createVolume(name, sizeBytes), node.apiUrl);
    } catch (err) {
      throw nodeError(err, node.name, node.apiUrl, 'cannot create the volume on');
    }
    await this.syncNode(node);
    await this.events.record(
      'info',
      'volume.created',
      created.uniqueId,
      `volume ${name} created on ${node.name}`,
      {
        node: node.name,
        sizeBytes,
      },
    );
    return this.volume(created.uniqueId);
  }

  async deleteVolume(v: VolumeRecord): Promise<void> {
    const node = await this.node(v.node);
    try {
      await this.withTimeout(this.client(node).deleteVolume(v.name), node.apiUrl);
    } catch (err) {
      if (!isReboundError(err, 'NOT_FOUND'))
        throw nodeError(err, node.name, node.apiUrl, 'cannot delete the volume on');
    }
    await this.syncNode(node);
    await this.events.record(
      'info',
      'volume.deleted',
      v.uniqueId,
      `volume ${v.name} deleted from ${node.name}`,
      {
        node: node.name,
      },
    );
  }

  // ---- object stores ----

  async addStore(reg: AddStoreBody): Promise<StoreRecord> {
    checkStoreRegistration(reg);
    const encryption = reg.encryption ?? 'none';
    const record: StoreRecord = {
      name: reg.name,
      provider: reg.provider,
      path: reg.path ?? null,
      endpoint: reg.endpoint || null,
      region: reg.region || (reg.provider === 's3' ? 'us-east-1' : null),
      // SPEC Fig. 9: set automatically when left empty. Chosen here, once, so every node
      // the store is pushed to (primary and secondary) uses the same bucket.
      bucket: reg.provider === 's3' ? reg.bucket || `rebound-${randomBytes(6).toString('hex')}` : null,
      accessKeyId: reg.accessKeyId ?? null,
      sealedSecretKey: reg.secretAccessKey ? this.box.seal(reg.secretAccessKey) : null,
      encryption,
      sealedEncryptionKey: encryption === 'none' ? null : this.box.seal(reg.encryptionKey!),
      tags: reg.tags ?? {},
      createdAt: isoTime(this.clock),
    };
    await this.db.addStore(record);
    await this.events.record(
      'info',
      'store.added',
      reg.name,
      `object store ${reg.name} (${reg.provider}) registered`,
    );
    return record;
  }

  async store(name: string): Promise<StoreRecord> {
    const s = await this.db.getStore(name);
    if (!s)
      throw new ReboundError('NOT_FOUND', `no store named ${name} is registered (GET /v1/stores lists them)`);
    return s;
  }

  async removeStore(name: string): Promise<void> {
    await this.store(name);
    await this.db.removeStore(name);
    await this.events.record('info', 'store.removed', name, `object store ${name} removed from the registry`);
  }

  /** The registration to push to a node (NodeClient.addStore), secrets opened. */
  async storeRegistration(name: string): Promise<AddStoreBody> {
    const s = await this.store(name);
    return {
      name: s.name,
      provider: s.provider,
      ...(s.path ? { path: s.path } : {}),
      ...(s.endpoint ? { endpoint: s.endpoint } : {}),
      ...(s.region ? { region: s.region } : {}),
      ...(s.bucket ? { bucket: s.bucket } : {}),
      ...(s.accessKeyId ? { accessKeyId: s.accessKeyId } : {}),
      ...(s.sealedSecretKey ? { secretAccessKey: this.box.open(s.sealedSecretKey) } : {}),
      encryption: s.encryption,
      ...(s.sealedEncryptionKey ? { encryptionKey: this.box.open(s.sealedEncryptionKey) } : {}),
      tags: s.tags,
    };
  }

  /**
   * Make sure the node has the store registered, pushing the registration (secrets
   * opened, sent to the node only) when it has not. True when it was pushed now.
   */
  async ensureStore(node: NodeRecord, store: string): Promise<boolean> {
    const client = this.client(node);
    try {
      const known = await this.withTimeout(client.listStores(), node.apiUrl);
      if (known.some((s) => s.name === store)) return false;
      // The node checks the store before it answers (about 10 s for an endpoint
      // that never answers, node/routes/stores.ts): that wait is the store's, not the node's.
      await this.withTimeout(
        client.addStore(await this.storeRegistration(store)),
        node.apiUrl,
        STORE_CHECK_MS,
      );
    } catch (err) {
      throw nodeError(err, node.name, node.apiUrl, `cannot register store ${store} on`);
    }
    await this.events.record(
      'info',
      'store.pushed',
      store,
      `object store ${store} registered on node ${node.name}`,
      {
        node: node.name,
      },
    );
    return true;
  }

  /** The named node, or else the first that answered at the last poll (primary sites first). */
  async pickNode(name?: string): Promise<NodeRecord> {
    if (name) return this.node(name);
    const sites = new Map((await this.db.listSites()).map((s) => [s.name, s.role]));
    const ok = (await this.db.listNodes())
      .filter((n) => n.health === 'ok')
      .sort((a, b) => Number(sites.get(a.site) !== 'primary') - Number(sites.get(b.site) !== 'primary'));
    if (ok.length === 0)
      throw new ReboundError(
        'NODE_UNREACHABLE',
        'no registered node answers: register one (rebound node register) or start it',
        {
          detail: { field: 'node' },
        },
      );
    return ok[0];
  }

  // ---- secondary sites ----

  /** Record how a secondary site is built (sealed: a static site's config holds a token) and its host hooks. */
  async saveSiteProvider(
    site: string,
    config: unknown,
    hooks: Record<string, unknown> | null,
  ): Promise<void> {
    await this.db.putSiteProvider({
      site,
      sealedConfig: this.box.seal(JSON.stringify(config)),
      hooks,
      createdAt: isoTime(this.clock),
    });
  }

  async siteProvider(site: string): Promise<{ config: unknown; hooks: Record<string, unknown> | null }> {
    const r = await this.db.getSiteProvider(site);
    if (!r)
      throw new ReboundError(
        'NOT_FOUND',
        `site ${site} has no provider: say how to build it (POST /v1/failovers with provider)`,
      );
    return { config: JSON.parse(this.box.open(r.sealedConfig)) as unknown, hooks: r.hooks };
  }

  /** A node call that takes longer than `ms` (never less than nodeTimeoutMs; on the manager's clock) fails as unreachable. */
  private withTimeout<T>(p: Promise<T>, url: string, ms = this.nodeTimeoutMs): Promise<T> {
    const limit = Math.max(ms, this.nodeTimeoutMs);
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(
        () =>
          reject(
            new ReboundError('NODE_UNREACHABLE', `the node at ${url} did not answer within ${limit} ms`),
          ),
        limit,
      );
      p.then(
        (v) => {
          timer.cancel();
          resolve(v);
        },
        (err) => {
          timer.cancel();
          reject(err);
        },
      );
    });
  }
}

/** A node's failure as the manager's caller should see it: its own codes, but never a 401. */
function nodeError(err: unknown, name: string, url: string, doing: string): ReboundError {
  if (isReboundError(err, 'UNAUTHORIZED')) {
    return new ReboundError('NODE_AUTH', `${doing} node ${name}: the node at ${url} refused the token`, {
      cause: err,
      detail: { field: 'token' },
    });
  }
  if (isReboundError(err, 'NODE_UNREACHABLE')) {
    return new ReboundError(
      'NODE_UNREACHABLE',
      `${doing} node ${name}: nothing answers at ${url} (${err.message}); check the URL and that \`rebound node run\` is up there`,
      { cause: err, detail: { node: name, url } },
    );
  }
  if (isReboundError(err)) return err;
  return new ReboundError('INTERNAL', `${doing} node ${name}: ${String(err)}`, { cause: err });
}
