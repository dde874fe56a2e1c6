/**
 * Virtual volumes and the local copy into them (SPEC Failback, method 2; replication/
 * external.ts, local-copy.ts). The manager attaches the primary's volume on the secondary
 * (S702), runs the local copy as a task (S704-S706), and detaches it when the copy ends
 * (S708).
 *
 *   GET    /v1/externals                 the attached virtual volumes
 *   POST   /v1/externals                 attach (201), or the one of that name (200)
 *   GET    /v1/externals/:external
 *   DELETE /v1/externals/:external       flush and disconnect (S708)
 *   POST   /v1/local-copies              a volume's blocks into a virtual volume (a task)
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { localCopy } from '../../replication/index.js';
import type { NodeApiContext } from '../api.js';
import { AttachExternalBody, ExternalParams, ExternalView, LocalCopyBody, TaskView } from '../api-schema.js';

export async function externalRoutes(scope: FastifyInstance, ctx: NodeApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { externals, storage, tasks } = ctx;

  app.get('/v1/externals', { schema: { response: { 200: Type.Array(ExternalView) } } }, async () =>
    externals.list(),
  );

  app.post(
    '/v1/externals',
    { schema: { body: AttachExternalBody, response: { 200: ExternalView, 201: ExternalView } } },
    async (req, reply) => {
      const { view, created } = await externals.attach(req.body.name, req.body.target);
      reply.status(created ? 201 : 200);
      return view;
    },
  );

  app.get(
    '/v1/externals/:external',
    { schema: { params: ExternalParams, response: { 200: ExternalView } } },
    async (req) => externals.get(req.params.external),
  );

  app.delete('/v1/externals/:external', { schema: { params: ExternalParams } }, async (req, reply) => {
    await externals.detach(req.params.external);
    reply.status(204);
  });

  app.post(
    '/v1/local-copies',
    { schema: { body: LocalCopyBody, response: { 202: TaskView } } },
    async (req, reply) => {
      const { taskId, ...copy } = req.body;
      storage.getVolume(copy.volume); // NOT_FOUND now, not inside the task
      externals.get(copy.external);
      reply.status(202);
      return tasks.start(
        'local-copy',
        `local copy of ${copy.volume} into virtual volume ${copy.external} (${copy.mode})`,
        (t) =>
          localCopy(storage, externals, copy, {
            signal: t.signal,
            onProgress: (done, total, rate) => t.progress(done, total, rate),
          }),
        taskId,
      );
    },
  );
}
