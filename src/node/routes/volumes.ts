/**
 * /v1/volumes: create, list, show, grow, delete, fence, inherit a unique ID; block
 * hashes of a range (failback verify and `rebound volume compare` compare two volumes on
 * two nodes through these, so only hashes cross the network).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { hashBlocks } from '../../block/index.js';
import { ReboundError } from '../../errors.js';
import type { VolumeInfo as StoredVolume } from '../../volume/types.js';
import { type NodeApiContext, nbdUri } from '../api.js';
import {
  CreateVolumeBody,
  GrowVolumeBody,
  HashesBody,
  HashesView,
  InheritIdBody,
  VolumeInfo,
  VolumeParams,
} from '../api-schema.js';

export function volumeView(ctx: NodeApiContext, v: StoredVolume): VolumeInfo {
  return { ...v, nbdUri: nbdUri(ctx, v.name) };
}

export async function volumeRoutes(scope: FastifyInstance, ctx: NodeApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { storage } = ctx;
  const one = { params: VolumeParams, response: { 200: VolumeInfo } };

  app.get('/v1/volumes', { schema: { response: { 200: Type.Array(VolumeInfo) } } }, async () =>
    storage.listVolumes().map((v) => volumeView(ctx, v)),
  );

  app.post(
    '/v1/volumes',
    { schema: { body: CreateVolumeBody, response: { 201: VolumeInfo } } },
    async (req, reply) => {
      const v = await storage.createVolume(req.body.name, req.body.sizeBytes);
      reply.status(201);
      return volumeView(ctx, v);
    },
  );

  app.get('/v1/volumes/:volume', { schema: one }, async (req) =>
    volumeView(ctx, storage.getVolume(req.params.volume)),
  );

  app.post('/v1/volumes/:volume/grow', { schema: { ...one, body: GrowVolumeBody } }, async (req) =>
    volumeView(ctx, await storage.growVolume(req.params.volume, req.body.sizeBytes)),
  );

  app.put('/v1/volumes/:volume/inherited-id', { schema: { ...one, body: InheritIdBody } }, async (req) =>
    volumeView(ctx, await storage.setInheritedUniqueId(req.params.volume, req.body.inheritedUniqueId)),
  );

  // Read through the engine's view: a fenced volume (the secondary after its last write) hashes too.
  app.post(
    '/v1/volumes/:volume/hashes',
    { schema: { params: VolumeParams, body: HashesBody, response: { 200: HashesView } } },
    async (req) => {
      const { startBlock, count, hashBlockBytes } = req.body;
      const device = storage.device(req.params.volume);
      const hashes = await hashBlocks(device, startBlock, count, hashBlockBytes);
      return {
        sizeBytes: device.sizeBytes,
        hashBlockBytes,
        startBlock,
        count,
        algorithm: 'sha256' as const,
        hashes: hashes.toString('base64'),
      };
    },
  );

  app.post('/v1/volumes/:volume/fence', { schema: one }, async (req) => {
    await storage.fence(req.params.volume);
    return volumeView(ctx, storage.getVolume(req.params.volume));
  });

  app.post('/v1/volumes/:volume/unfence', { schema: one }, async (req) => {
    await storage.unfence(req.params.volume);
    return volumeView(ctx, storage.getVolume(req.params.volume));
  });

  app.delete('/v1/volumes/:volume', { schema: { params: VolumeParams } }, async (req, reply) => {
    const pairs = ctx.pairs.pairsOf(req.params.volume);
    if (pairs.length > 0) {
      throw new ReboundError(
        'BUSY',
        `volume ${req.params.volume} has copy pairs (${pairs.join(', ')}); delete them first`,
      );
    }
    await storage.deleteVolume(req.params.volume);
    reply.status(204);
  });
}
