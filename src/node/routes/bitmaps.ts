/**
 * /v1/volumes/:volume/bitmaps: named update bitmaps (SPEC "update difference
 * management"). Freeze is SPEC's "fix the bitmap": the active bitmap's bits move into a
 * frozen one and it restarts empty, atomically. Premark marks ranges in every active
 * bitmap ahead of writes known to be coming (a failback's copy into this volume), durably
 * in one commit, so those writes do not each wait for a bitmap commit.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { BlockSet } from '../../block/index.js';
import { ReboundError } from '../../errors.js';
import type { NodeApiContext } from '../api.js';
import {
  BitmapInfo,
  BitmapParams,
  CreateNamedBody,
  EncodedBitmapQuery,
  FreezeBitmapBody,
  MergeBitmapBody,
  PremarkBody,
  PremarkView,
  VolumeParams,
} from '../api-schema.js';

export async function bitmapRoutes(scope: FastifyInstance, ctx: NodeApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { storage } = ctx;
  const one = { params: BitmapParams, response: { 200: BitmapInfo } };

  app.get(
    '/v1/volumes/:volume/bitmaps',
    { schema: { params: VolumeParams, response: { 200: Type.Array(BitmapInfo) } } },
    async (req) => storage.listBitmaps(req.params.volume),
  );

  app.post(
    '/v1/volumes/:volume/bitmaps',
    { schema: { params: VolumeParams, body: CreateNamedBody, response: { 201: BitmapInfo } } },
    async (req, reply) => {
      const b = await storage.createBitmap(req.params.volume, req.body.name);
      reply.status(201);
      return b;
    },
  );

  app.post(
    '/v1/volumes/:volume/premark',
    { schema: { params: VolumeParams, body: PremarkBody, response: { 200: PremarkView } } },
    async (req) => {
      const { blockSizeBytes: grain, startBlock, count } = req.body;
      let set: BlockSet;
      try {
        set = BlockSet.decode(Buffer.from(req.body.set, 'base64'));
      } catch (err) {
        throw new ReboundError('INVALID_ARGUMENT', `set: ${(err as Error).message}`, {
          detail: { field: 'set' },
        });
      }
      if (set.sizeBlocks !== count)
        throw new ReboundError('INVALID_ARGUMENT', `set: ${set.sizeBlocks} blocks for a range of ${count}`, {
          detail: { field: 'set' },
        });
      const ranges = [...set.runs()].map((r) => ({
        offset: (startBlock + r.start) * grain,
        length: r.count * grain,
      }));
      // The set's last block may run past a volume that is not a multiple of its grain.
      const size = storage.getVolume(req.params.volume).sizeBytes;
      for (const r of ranges) r.length = Math.max(0, Math.min(r.length, size - r.offset));
      const marked = await storage.premarkBitmaps(req.params.volume, ranges);
      return { marked, blockSizeBytes: storage.blockSizeBytes };
    },
  );

  app.get('/v1/volumes/:volume/bitmaps/:bitmap', { schema: one }, async (req) => {
    const b = storage.listBitmaps(req.params.volume).find((x) => x.name === req.params.bitmap);
    if (b) return b;
    storage.getBitmap(req.params.volume, req.params.bitmap); // throws NOT_FOUND with the right message
    throw new Error('unreachable');
  });

  /**
   * The bits themselves, in the block-set encoding (docs/formats/bitmap.md): one per
   * block, or with `unit=grain` one per grain (BitmapInfo.grainBytes).
   */
  app.get(
    '/v1/volumes/:volume/bitmaps/:bitmap/encoded',
    { schema: { params: BitmapParams, querystring: EncodedBitmapQuery } },
    async (req, reply) => {
      reply.type('application/octet-stream');
      const { volume, bitmap } = req.params;
      if (req.query.unit === 'grain') return storage.getBitmapGrainSet(volume, bitmap).set.encode();
      return storage.getBitmap(volume, bitmap).encode();
    },
  );

  app.post(
    '/v1/volumes/:volume/bitmaps/:bitmap/freeze',
    { schema: { ...one, body: FreezeBitmapBody } },
    async (req) => storage.freezeBitmap(req.params.volume, req.params.bitmap, req.body.into),
  );

  app.post(
    '/v1/volumes/:volume/bitmaps/:bitmap/merge',
    { schema: { ...one, body: MergeBitmapBody } },
    async (req) => storage.mergeBitmap(req.params.volume, req.body.from, req.params.bitmap),
  );

  app.post('/v1/volumes/:volume/bitmaps/:bitmap/clear', { schema: one }, async (req) =>
    storage.clearBitmap(req.params.volume, req.params.bitmap),
  );

  app.delete(
    '/v1/volumes/:volume/bitmaps/:bitmap',
    { schema: { params: BitmapParams } },
    async (req, reply) => {
      await storage.deleteBitmap(req.params.volume, req.params.bitmap);
      reply.status(204);
    },
  );
}
