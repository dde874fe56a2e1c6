/**
 * GET /v1/volumes/:volume/heatmap: where a volume changed, as counts per slice of its
 * address space (heatmap.ts). The manager reads the bitmap's bits from the node
 * (SPEC "update difference management": since-restore counts the writes since failover,
 * S501; a backup's rbi bitmap the writes since that backup) and sends only the counts,
 * so the browser never downloads a bitmap.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { BlockSet } from '../../block/block-set.js';
import { ReboundError } from '../../errors.js';
import type { ManagerApiContext } from '../api.js';
import { HeatmapQuery, HeatmapView, VolumeParams } from '../api-schema.js';
import { bucketBlocks } from '../heatmap.js';

export async function heatmapRoutes(scope: FastifyInstance, ctx: ManagerApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { registry } = ctx;

  app.get(
    '/v1/volumes/:volume/heatmap',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['volumes'],
        params: VolumeParams,
        querystring: HeatmapQuery,
        response: { 200: HeatmapView },
      },
    },
    async (req) => {
      const v = await registry.volume(req.params.volume);
      const client = registry.client(await registry.node(v.node));
      const bitmaps = await client.listBitmaps(v.name);
      const chosen = req.query.bitmap
        ? bitmaps.find((b) => b.name === req.query.bitmap)
        : (bitmaps.find((b) => b.name === 'since-restore') ??
          // The newest backup bitmap (rbi.<store tag>.<generation>): changes since the last backup.
          bitmaps
            .filter((b) => b.active && b.name.startsWith('rbi.'))
            .sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0]);
      if (!chosen)
        throw new ReboundError(
          'NOT_FOUND',
          req.query.bitmap
            ? `volume ${v.name} on ${v.node} has no bitmap ${req.query.bitmap} (it has: ${bitmaps.map((b) => b.name).join(', ') || 'none'})`
            : `volume ${v.name} on ${v.node} has no update bitmap yet: one starts at its first backup or at a restore`,
          { detail: { field: 'bitmap' } },
        );
      const set = BlockSet.decode(await client.bitmapBits(v.name, chosen.name));
      const { blocksPerBucket, counts } = bucketBlocks(set, Number(req.query.buckets ?? 256));
      return {
        volume: v.uniqueId,
        node: v.node,
        bitmap: chosen.name,
        bitmaps: bitmaps.map((b) => ({ name: b.name, active: b.active, dirtyBlocks: b.dirtyBlocks })),
        blockSizeBytes: chosen.blockSizeBytes,
        totalBlocks: set.sizeBlocks,
        changedBlocks: set.count(),
        blocksPerBucket,
        buckets: counts,
      };
    },
  );
}
