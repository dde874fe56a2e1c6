/**
 * Backups of this node's volumes to its registered stores, and everything that reads
 * them back (SPEC "Backup settings", "Restore" Fig. 17 S201-S211):
 *
 *   POST /v1/backups                      run a backup (a task)
 *   POST /v1/restores                     restore a generation into a volume (a task)
 *   POST /v1/reverts                      consistency assurance S301-S303 (a task)
 *   GET  /v1/stores/:store/generations    list generations (?volume= or ?uniqueId=)
 *   POST /v1/stores/:store/verify         re-read and check every block (a task)
 *   POST /v1/stores/:store/delete         delete one generation, keeping its children restorable
 *   POST /v1/stores/:store/prune          apply keep-last/daily/weekly/monthly rules
 *   POST /v1/stores/:store/serve          mount a generation read-only over NBD as backup-NAME
 *   GET|DELETE /v1/mounts[/:mount]        the mounted generations
 *   GET  /v1/tasks[/:task], POST /v1/tasks/:task/cancel
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  applyRetention,
  BackupImageDevice,
  backupVolume,
  deleteGeneration,
  type Generation,
  listGenerations,
  listLineages,
  restoreGeneration,
  revertToGeneration,
  verifyGeneration,
  verifyStore,
} from '../../backup/index.js';
import { ReboundError } from '../../errors.js';
import { type ObjectStore, openStore } from '../../objectstore/index.js';
import { type NodeApiContext, nbdUri } from '../api.js';
import {
  BackupBody,
  DeleteGenerationBody,
  GenerationsQuery,
  GenerationView,
  MountParams,
  MountView,
  PruneBody,
  RestoreBody,
  RevertBody,
  ServeBody,
  StoreParams,
  TaskParams,
  TaskView,
  VerifyBody,
  WaitQuery,
} from '../api-schema.js';
import type { TaskContext } from '../tasks.js';
import { heldUntil, waitMsOf } from './wait.js';

/** Generations mounted over NBD are exported under this prefix. */
export const MOUNT_PREFIX = 'backup-';

function generationView(g: Generation): GenerationView {
  const c = g.catalog;
  return {
    key: g.key,
    generation: c.generation,
    method: c.method,
    parent: c.parent,
    time: c.time,
    volumeName: c.volumeName,
    uniqueId: c.uniqueId,
    writtenBy: `${c.serial}:${c.volumeNumber}`,
    sizeBytes: c.sizeBytes,
    usedBytes: c.usedBytes,
    blockCount: c.blockCount,
    blockSizeBytes: c.blockSizeBytes,
    storedBytes: c.storedBytes,
    encrypted: c.encryption !== null,
    merged: c.merged,
    protected: g.protected,
    ...(c.reason && { reason: c.reason }),
  };
}

export async function backupRoutes(scope: FastifyInstance, ctx: NodeApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { storage, stores, tasks, mounts } = ctx;

  /**
   * Stores (by where they are) that answered a request of this node since it started: a
   * job that finds one not answering waits for it (a gateway restarting), while a store
   * never reached fails at once (a wrong endpoint).
   */
  const reached = new Set<string>();

  /** Open a registered store for `fn`; a task's store tells the task's notes when it stops answering. */
  async function withStore<T>(
    name: string,
    fn: (store: ObjectStore, key: Buffer | undefined) => Promise<T>,
    task?: TaskContext,
  ): Promise<T> {
    const config = stores.storeConfig(name);
    const where = JSON.stringify(config.kind === 's3' ? [config.endpoint, config.bucket] : [config.path]);
    const store = await openStore(config, {
      answeredBefore: reached.has(where),
      onAnswered: () => reached.add(where),
      ...(task && { onOutage: (m: string) => task.note(m) }),
    });
    try {
      return await fn(store, stores.encryptionKey(name));
    } finally {
      await store.close();
    }
  }

  /** The lineage a volume's backups are filed under: its inherited unique ID, else its own. */
  function lineageOf(volume: string): string {
    const v = storage.getVolume(volume);
    return v.inheritedUniqueId ?? v.uniqueId;
  }

  app.post(
    '/v1/backups',
    { schema: { body: BackupBody, response: { 202: TaskView } } },
    async (req, reply) => {
      const { volume, store, method, taskId, from } = req.body;
      storage.getVolume(volume); // NOT_FOUND now, not inside the task
      stores.get(store);
      reply.status(202);
      return tasks.start(
        'backup',
        `${method} backup of ${volume} to ${store}`,
        (t) =>
          withStore(
            store,
            (s, encryptionKey) =>
              backupVolume(storage, volume, s, {
                method,
                ...(from ? { from } : {}),
                encryptionKey,
                maxBytesPerSec: ctx.backupBytesPerSec,
                signal: t.signal,
                onProgress: (p) => t.progress(p.bytesRead, p.bytesTotal, p.rateBytesPerSec),
              }),
            t,
          ).then(({ catalog: _catalog, ...result }) => result),
        taskId,
      );
    },
  );

  app.post(
    '/v1/restores',
    { schema: { body: RestoreBody, response: { 202: TaskView } } },
    async (req, reply) => {
      const { store, generation, volume, overwrite, onlyNewest, taskId } = req.body;
      stores.get(store);
      reply.status(202);
      return tasks.start(
        'restore',
        `restore ${generation} from ${store}${volume ? ` into ${volume}` : ''}`,
        (t) =>
          withStore(
            store,
            (s, encryptionKey) =>
              restoreGeneration(storage, s, generation, {
                volume,
                existing: overwrite || onlyNewest ? 'overwrite' : 'fail',
                onlyNewest,
                encryptionKey,
                maxBytesPerSec: ctx.restoreBytesPerSec,
                signal: t.signal,
                onProgress: (p) => t.progress(p.bytesDone, p.bytesTotal, p.rateBytesPerSec),
              }),
            t,
          ),
        taskId,
      );
    },
  );

  app.post(
    '/v1/reverts',
    { schema: { body: RevertBody, response: { 202: TaskView } } },
    async (req, reply) => {
      const { volume, store, generation, snapshot, taskId } = req.body;
      storage.getVolume(volume);
      stores.get(store);
      reply.status(202);
      return tasks.start(
        'revert',
        `consistency assurance: bring ${volume} back to ${generation}`,
        (t) =>
          withStore(
            store,
            (s, encryptionKey) =>
              revertToGeneration(storage, volume, s, generation, {
                encryptionKey,
                snapshot,
                signal: t.signal,
                onProgress: (p) => t.progress(p.bytesDone, p.bytesTotal, p.rateBytesPerSec),
              }),
            t,
          ),
        taskId,
      );
    },
  );

  app.get(
    '/v1/stores/:store/generations',
    {
      schema: {
        params: StoreParams,
        querystring: GenerationsQuery,
        response: { 200: Type.Array(GenerationView) },
      },
    },
    async (req) => {
      const { volume, uniqueId } = req.query;
      return withStore(req.params.store, async (s) => {
        const lineages = uniqueId ? [uniqueId] : volume ? [lineageOf(volume)] : await listLineages(s);
        const out: GenerationView[] = [];
        for (const uid of lineages)
          for (const g of await listGenerations(s, uid)) out.push(generationView(g));
        return out;
      });
    },
  );

  app.post(
    '/v1/stores/:store/verify',
    { schema: { params: StoreParams, body: VerifyBody, response: { 202: TaskView } } },
    async (req, reply) => {
      const { generation, uniqueId, taskId } = req.body;
      const store = req.params.store;
      stores.get(store);
      reply.status(202);
      return tasks.start(
        'verify',
        `verify ${generation ?? uniqueId ?? 'every generation'} in ${store}`,
        (t) =>
          withStore(
            store,
            (s, encryptionKey) =>
              generation
                ? verifyGeneration(s, generation, { encryptionKey })
                : verifyStore(s, { uniqueId, encryptionKey }),
            t,
          ),
        taskId,
      );
    },
  );

  app.post(
    '/v1/stores/:store/delete',
    { schema: { params: StoreParams, body: DeleteGenerationBody } },
    async (req) =>
      withStore(req.params.store, (s, encryptionKey) =>
        deleteGeneration(s, req.body.generation, { encryptionKey }),
      ),
  );

  app.post('/v1/stores/:store/prune', { schema: { params: StoreParams, body: PruneBody } }, async (req) => {
    const { uniqueId, ...rules } = req.body;
    return withStore(req.params.store, (s, encryptionKey) =>
      applyRetention(s, uniqueId, { ...rules, encryptionKey }),
    );
  });

  app.post(
    '/v1/stores/:store/serve',
    { schema: { params: StoreParams, body: ServeBody, response: { 201: MountView } } },
    async (req, reply) => {
      const { generation, name } = req.body;
      const exportName = MOUNT_PREFIX + name;
      if (mounts.has(exportName))
        throw new ReboundError('ALREADY_EXISTS', `a generation is already mounted as ${exportName}`);
      const store = await openStore(stores.storeConfig(req.params.store));
      try {
        const device = await BackupImageDevice.open(store, generation, {
          encryptionKey: stores.encryptionKey(req.params.store),
        });
        mounts.set(exportName, { device, store, generation, storeName: req.params.store });
      } catch (err) {
        await store.close();
        throw err;
      }
      reply.status(201);
      return { name: exportName, generation, store: req.params.store, nbdUri: nbdUri(ctx, exportName) };
    },
  );

  app.get('/v1/mounts', { schema: { response: { 200: Type.Array(MountView) } } }, async () =>
    [...mounts].map(([name, m]) => ({
      name,
      generation: m.generation,
      store: m.storeName,
      nbdUri: nbdUri(ctx, name),
    })),
  );

  app.delete('/v1/mounts/:mount', { schema: { params: MountParams } }, async (req, reply) => {
    const m = mounts.get(req.params.mount);
    if (!m) throw new ReboundError('NOT_FOUND', `nothing is mounted as ${req.params.mount}`);
    mounts.delete(req.params.mount);
    await m.store.close();
    reply.status(204);
  });

  app.get('/v1/tasks', { schema: { response: { 200: Type.Array(TaskView) } } }, async () => tasks.list());

  app.get(
    '/v1/tasks/:task',
    { schema: { params: TaskParams, querystring: WaitQuery, response: { 200: TaskView } } },
    async (req) => {
      await heldUntil(tasks.settled(req.params.task, waitMsOf(req.query.waitMs)), ctx.stopping);
      const t = tasks.get(req.params.task);
      if (!t)
        throw new ReboundError(
          'NOT_FOUND',
          `no task ${req.params.task} (tasks are forgotten when the node restarts)`,
        );
      return t;
    },
  );

  app.post(
    '/v1/tasks/:task/cancel',
    { schema: { params: TaskParams, response: { 200: TaskView } } },
    async (req) => {
      const t = tasks.cancel(req.params.task);
      if (!t) throw new ReboundError('NOT_FOUND', `no task ${req.params.task}`);
      return t;
    },
  );
}
