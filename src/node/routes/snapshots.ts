/** /v1/volumes/:volume/snapshots: read-only, copy-on-write point-in-time images. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { SnapshotInfo as StoredSnapshot } from '../../volume/types.js';
import { type NodeApiContext, nbdUri } from '../api.js';
import { CreateNamedBody, SnapshotInfo, SnapshotParams, VolumeParams } from '../api-schema.js';

/** A snapshot is exported over NBD, read-only, as VOLUME@SNAPSHOT. */
export function snapshotExportName(volume: string, snapshot: string): string {
  return `${volume}@${snapshot}`;
}

function view(ctx: NodeApiContext, s: StoredSnapshot): SnapshotInfo {
  return { ...s, nbdUri: nbdUri(ctx, snapshotExportName(s.volume, s.name)) };
}

export async function snapshotRoutes(scope: FastifyInstance, ctx: NodeApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { storage } = ctx;

  app.get(
    '/v1/volumes/:volume/snapshots',
    { schema: { params: VolumeParams, response: { 200: Type.Array(SnapshotInfo) } } },
    async (req) => storage.listSnapshots(req.params.volume).map((s) => view(ctx, s)),
  );

  app.post(
    '/v1/volumes/:volume/snapshots',
    { schema: { params: VolumeParams, body: CreateNamedBody, response: { 201: SnapshotInfo } } },
    async (req, reply) => {
      const s = await storage.createSnapshot(req.params.volume, req.body.name);
      reply.status(201);
      return view(ctx, s);
    },
  );

  app.delete(
    '/v1/volumes/:volume/snapshots/:snapshot',
    { schema: { params: SnapshotParams } },
    async (req, reply) => {
      await storage.deleteSnapshot(req.params.volume, req.params.snapshot);
      reply.status(204);
    },
  );
}
