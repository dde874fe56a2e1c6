/**
 * /v1/stores: the object stores this node backs up to and restores from (SPEC Fig. 9,
 * and S103: the secondary registers the store that holds the backups). A registration
 * is checked by opening the store (creating the bucket when asked), so a wrong key or
 * endpoint fails here, not in the middle of a backup.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { openStore, type StoreConfig } from '../../objectstore/index.js';
import type { NodeApiContext } from '../api.js';
import { AddStoreBody, StoreParams, StoreView } from '../api-schema.js';

/**
 * The registration's check answers the request that registers the store, which its
 * caller (the manager) waits for: an endpoint that accepts and never answers must fail
 * it in time, as STORE_UNREACHABLE, not make a live node look silent. Two attempts of
 * at most 5 s of silence (or of connecting) each bound it to about 10 s (STORE_CHECK_MS in
 * manager/registry.ts waits 25 s); jobs keep the store's own retries and timeouts. (Above
 * 6 s the SDK arms its socket timeout 3 s late: 10 s of silence took 13 s an attempt.)
 */
function checkConfig(config: StoreConfig): StoreConfig {
  return config.kind === 's3' ? { ...config, maxAttempts: 2, idleTimeoutMs: 5_000 } : config;
}

export async function storeRoutes(scope: FastifyInstance, ctx: NodeApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { stores } = ctx;

  app.get('/v1/stores', { schema: { response: { 200: Type.Array(StoreView) } } }, async () => stores.list());

  app.get(
    '/v1/stores/:store',
    { schema: { params: StoreParams, response: { 200: StoreView } } },
    async (req) => stores.get(req.params.store),
  );

  app.post(
    '/v1/stores',
    { schema: { body: AddStoreBody, response: { 201: StoreView } } },
    async (req, reply) => {
      const view = await stores.add(req.body, ctx.storage.serial);
      try {
        const store = await openStore(checkConfig(stores.storeConfig(view.name)));
        await store.close();
      } catch (err) {
        await stores.remove(view.name);
        throw err;
      }
      reply.status(201);
      return view;
    },
  );

  app.delete('/v1/stores/:store', { schema: { params: StoreParams } }, async (req, reply) => {
    await stores.remove(req.params.store);
    reply.status(204);
  });
}
