/**
 * /v1/volumes: create, list, show, grow, delete, fence, inherit a unique ID; block
 * hashes of a range (failback verify and `rebound volume compare` compare two volumes on
 * two nodes through these, so only hashes cross the network).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { BlockSet } from '../../block/index.js';
import { ReboundError } from '../../errors.js';
import type { VolumeInfo as StoredVolume } from '../../volume/types.js';
import { type NodeApiContext, nbdUri } from '../api.js';
import {
  CreateVolumeBody,
  GrowVolumeBody,
  HASHES_MAX_BLOCKS,
  HashesBody,
  HashesView,
  InheritIdBody,
  VolumeInfo,
  VolumeParams,
} from '../api-schema.js';

export function volumeView(ctx: NodeApiContext, v: StoredVolume): VolumeInfo {
  return { ...v, nbdUri: nbdUri(ctx, v.name) };
}

/** `only` of a hashes request: an encoded block set of exactly `count` bits. */
function decodeOnly(base64: string, count: number): BlockSet {
  let set: BlockSet;
  try {
    set = BlockSet.decode(Buffer.from(base64, 'base64'));
  } catch (err) {
    throw new ReboundError('INVALID_ARGUMENT', `only: ${(err as Error).message}`, {
      detail: { field: 'only' },
    });
  }
  if (set.sizeBlocks !== count)
    throw new ReboundError(
      'INVALID_ARGUMENT',
      `only: a set of ${set.sizeBlocks} blocks for a range of ${count}`,
      {
        detail: { field: 'only' },
      },
    );
  return set;
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

  // Read off the pool in a worker thread: a fenced volume (the secondary after its last write) hashes too.
  app.post(
    '/v1/volumes/:volume/hashes',
    { schema: { params: VolumeParams, body: HashesBody, response: { 200: HashesView } } },
    async (req) => {
      const { startBlock, count, hashBlockBytes } = req.body;
      const only = req.body.only === undefined ? null : decodeOnly(req.body.only, count);
      const hashed = only ? only.count() : count;
      if (hashed > HASHES_MAX_BLOCKS)
        throw new ReboundError(
          'INVALID_ARGUMENT',
          `${hashed} blocks in one call: at most ${HASHES_MAX_BLOCKS} (ask for smaller ranges)`,
          { detail: { field: only ? 'only' : 'count' } },
        );
      const { sizeBytes } = storage.getVolume(req.params.volume);
      const total = Math.ceil(sizeBytes / hashBlockBytes);
      if (startBlock + count > total)
        throw new ReboundError(
          'OUT_OF_RANGE',
          `blocks ${startBlock}+${count} run past the end (${total} blocks of ${hashBlockBytes} bytes)`,
        );
      const blocks = new Float64Array(hashed);
      if (only) {
        let k = 0;
        for (const r of only.runs()) for (let b = 0; b < r.count; b++) blocks[k++] = startBlock + r.start + b;
      } else for (let k = 0; k < count; k++) blocks[k] = startBlock + k;
      const { hashes, fromCopy } = await storage.hashVolumeBlocks(req.params.volume, blocks, hashBlockBytes, {
        fromCopy: req.body.fromCopy === true,
      });
      return {
        sizeBytes,
        hashBlockBytes,
        startBlock,
        count,
        hashed,
        algorithm: 'sha256' as const,
        hashes: hashes.toString('base64'),
        fromCopy,
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
