/**
 * /v1/volumes/:volume/pair-key: the TLS key of the failback pair writing into this
 * volume (pair-keys.ts). The manager puts it before the volume takes the pair's writes
 * and deletes it when the job ends; the key itself is never answered back.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { NodeApiContext } from '../api.js';
import { PairKeyBody, PairKeyQuery, PairKeyRemoved, PairKeyView, VolumeParams } from '../api-schema.js';

export async function pairKeyRoutes(scope: FastifyInstance, ctx: NodeApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { pairKeys, storage } = ctx;

  app.get(
    '/v1/volumes/:volume/pair-key',
    { schema: { params: VolumeParams, response: { 200: PairKeyView } } },
    async (req) => pairKeys.get(req.params.volume),
  );

  /** Idempotent; replaces another identity's key on the volume. */
  app.put(
    '/v1/volumes/:volume/pair-key',
    { schema: { params: VolumeParams, body: PairKeyBody, response: { 200: PairKeyView } } },
    async (req) => {
      storage.getVolume(req.params.volume);
      return pairKeys.install(req.params.volume, req.body.identity, req.body.key, new Date().toISOString());
    },
  );

  /** Only that identity's key when `identity` is given; `removed: null` when there was none. */
  app.delete(
    '/v1/volumes/:volume/pair-key',
    { schema: { params: VolumeParams, querystring: PairKeyQuery, response: { 200: PairKeyRemoved } } },
    async (req) => ({ removed: await pairKeys.remove(req.params.volume, req.query.identity) }),
  );
}
