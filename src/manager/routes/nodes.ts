/**
 * /v1/nodes: register a node by URL and token (the manager learns its serial from the
 * node's /v1/node and refuses one that does not answer), list and show with health,
 * check one now, remove one from the registry (the node itself is left alone).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ManagerApiContext } from '../api.js';
import { NodeParams, NodeView, RegisterNodeBody } from '../api-schema.js';
import type { NodeRecord } from '../db/types.js';
import { nodeView } from './views.js';

export async function nodeRoutes(scope: FastifyInstance, ctx: ManagerApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { db, registry } = ctx;
  const view = async (n: NodeRecord) => nodeView(n, (await db.listVolumes({ node: n.name })).length);
  const tags = ['nodes'];
  const one = { tags, params: NodeParams, response: { 200: NodeView } };

  app.get(
    '/v1/nodes',
    { config: { access: 'viewer' }, schema: { tags, response: { 200: Type.Array(NodeView) } } },
    async () => Promise.all((await db.listNodes()).map(view)),
  );

  app.post(
    '/v1/nodes',
    { config: { access: 'admin' }, schema: { tags, body: RegisterNodeBody, response: { 201: NodeView } } },
    async (req, reply) => {
      const n = await registry.registerNode(req.body);
      reply.status(201);
      return view(n);
    },
  );

  app.get('/v1/nodes/:node', { config: { access: 'viewer' }, schema: one }, async (req) =>
    view(await registry.node(req.params.node)),
  );

  app.post('/v1/nodes/:node/check', { config: { access: 'operator' }, schema: one }, async (req) => {
    await registry.checkNode(await registry.node(req.params.node));
    return view(await registry.node(req.params.node));
  });

  app.delete(
    '/v1/nodes/:node',
    { config: { access: 'admin' }, schema: { tags, params: NodeParams } },
    async (req, reply) => {
      await registry.removeNode(req.params.node);
      reply.status(204);
    },
  );
}
