/**
 * /v1/volumes/:volume/pairs: copy pairs from a volume of this node to another node's
 * export (SPEC "Failback, method 1"; src/replication/). The manager starts one on the
 * secondary, watches its state and lag, fences the volume, then releases it.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { NodeApiContext } from '../api.js';
import { PairParams, PairView, PairWaitQuery, StartPairBody, VolumeParams } from '../api-schema.js';
import { heldUntil, waitMsOf } from './wait.js';

export async function pairRoutes(scope: FastifyInstance, ctx: NodeApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { pairs } = ctx;
  const one = { params: PairParams, response: { 200: PairView } };

  app.get(
    '/v1/volumes/:volume/pairs',
    { schema: { params: VolumeParams, response: { 200: Type.Array(PairView) } } },
    async (req) => pairs.list(req.params.volume),
  );

  /** 201 with the new pair, or 200 with the one of that name that exists already. */
  app.post(
    '/v1/volumes/:volume/pairs',
    { schema: { params: VolumeParams, body: StartPairBody, response: { 200: PairView, 201: PairView } } },
    async (req, reply) => {
      const { view, created } = await pairs.start(req.params.volume, req.body);
      reply.status(created ? 201 : 200);
      return view;
    },
  );

  app.get(
    '/v1/volumes/:volume/pairs/:pair',
    { schema: { ...one, querystring: PairWaitQuery } },
    async (req) => {
      const { volume, pair } = req.params;
      await heldUntil(
        pairs.changed(volume, pair, waitMsOf(req.query.waitMs), req.query.whileState),
        ctx.stopping,
      );
      return pairs.get(volume, pair);
    },
  );

  app.post('/v1/volumes/:volume/pairs/:pair/release', { schema: one }, async (req) =>
    pairs.release(req.params.volume, req.params.pair),
  );

  app.delete('/v1/volumes/:volume/pairs/:pair', { schema: { params: PairParams } }, async (req, reply) => {
    await pairs.delete(req.params.volume, req.params.pair);
    reply.status(204);
  });
}
