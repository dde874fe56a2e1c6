/**
 * /v1/stores: object store registrations (SPEC Fig. 9). Secrets go in and are sealed;
 * views say only whether a secret is set. The manager pushes a registration to the
 * nodes that back up to the store (NodeClient.addStore) when a backup setting needs it.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ManagerApiContext } from '../api.js';
import { AddStoreBody, StoreParams, StoreView } from '../api-schema.js';
import { storeView } from './views.js';

export async function storeRoutes(scope: FastifyInstance, ctx: ManagerApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { db, registry } = ctx;
  const tags = ['stores'];

  app.get(
    '/v1/stores',
    { config: { access: 'viewer' }, schema: { tags, response: { 200: Type.Array(StoreView) } } },
    async () => (await db.listStores()).map(storeView),
  );

  app.post(
    '/v1/stores',
    { config: { access: 'admin' }, schema: { tags, body: AddStoreBody, response: { 201: StoreView } } },
    async (req, reply) => {
      const s = await registry.addStore(req.body);
      reply.status(201);
      return storeView(s);
    },
  );

  app.get(
    '/v1/stores/:store',
    { config: { access: 'viewer' }, schema: { tags, params: StoreParams, response: { 200: StoreView } } },
    async (req) => storeView(await registry.store(req.params.store)),
  );

  app.delete(
    '/v1/stores/:store',
    { config: { access: 'admin' }, schema: { tags, params: StoreParams } },
    async (req, reply) => {
      await registry.removeStore(req.params.store);
      reply.status(204);
    },
  );
}
