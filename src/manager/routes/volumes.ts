/**
 * /v1/volumes: SPEC Fig. 7's volume management information from the registry; create
 * and delete pass through to the node's API and the registry is synced from the node's
 * answer, so what is listed is what the node has.
 *
 *   POST /v1/volume-comparisons   are two volumes identical? each node hashes its own
 *                                 volume, the manager compares the hashes (compare.ts)
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ReboundError } from '../../errors.js';
import type { ManagerApiContext } from '../api.js';
import {
  CompareVolumesBody,
  CreateVolumeBody,
  VolumeComparisonView,
  VolumeParams,
  VolumeQuery,
  VolumeView,
} from '../api-schema.js';
import { compareVolumes } from '../compare.js';
import type { VolumeRecord } from '../db/types.js';
import { volumeView } from './views.js';

export async function volumeRoutes(scope: FastifyInstance, ctx: ManagerApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { db, registry } = ctx;
  const tags = ['volumes'];
  const views = async (vs: VolumeRecord[]) => {
    const nodes = new Map((await db.listNodes()).map((n) => [n.name, n]));
    return vs.map((v) => volumeView(v, nodes.get(v.node)));
  };

  app.get(
    '/v1/volumes',
    {
      config: { access: 'viewer' },
      schema: { tags, querystring: VolumeQuery, response: { 200: Type.Array(VolumeView) } },
    },
    async (req) => views(await db.listVolumes(req.query)),
  );

  app.post(
    '/v1/volumes',
    {
      config: { access: 'operator' },
      schema: { tags, body: CreateVolumeBody, response: { 201: VolumeView } },
    },
    async (req, reply) => {
      const v = await registry.createVolume(req.body.node, req.body.name, req.body.sizeBytes);
      reply.status(201);
      return (await views([v]))[0];
    },
  );

  app.get(
    '/v1/volumes/:volume',
    { config: { access: 'viewer' }, schema: { tags, params: VolumeParams, response: { 200: VolumeView } } },
    async (req) => (await views([await registry.volume(req.params.volume)]))[0],
  );

  app.delete(
    '/v1/volumes/:volume',
    { config: { access: 'operator' }, schema: { tags, params: VolumeParams } },
    async (req, reply) => {
      await registry.deleteVolume(await registry.volume(req.params.volume));
      reply.status(204);
    },
  );

  /** NODE/NAME, or what registry.volume takes (a unique ID, a name held by one node). */
  async function resolve(ref: string, field: string): Promise<VolumeRecord> {
    const slash = ref.indexOf('/');
    if (slash < 0) return registry.volume(ref);
    const [node, name] = [ref.slice(0, slash), ref.slice(slash + 1)];
    await registry.node(node);
    const v = (await db.listVolumes({ node, name }))[0];
    if (!v)
      throw new ReboundError('NOT_FOUND', `${field}: node ${node} has no volume ${name} in the registry`, {
        detail: { field },
      });
    return v;
  }

  app.post(
    '/v1/volume-comparisons',
    {
      // Changes nothing, but makes both nodes read whole volumes: not for viewers, who
      // call no POST but their own tokens' (api-roles test).
      config: { access: 'operator' },
      schema: { tags, body: CompareVolumesBody, response: { 200: VolumeComparisonView } },
    },
    async (req) => {
      const [a, b] = [await resolve(req.body.a, 'a'), await resolve(req.body.b, 'b')];
      const side = async (v: VolumeRecord) => ({
        client: registry.client(await registry.node(v.node)),
        node: v.node,
        volume: v.name,
      });
      return compareVolumes(await side(a), await side(b));
    },
  );
}
