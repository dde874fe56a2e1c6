/**
 * /v1/jobs: every long action as a job with its state, progress and step log (SPEC step
 * numbers), cancel and resume; /v1/jobs/stream sends each change as a server-sent event
 * for live views (the console, `rebound job watch`).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ReboundError } from '../../errors.js';
import { type ManagerApiContext, principalOf } from '../api.js';
import { JobParams, JobQuery, JobView } from '../api-schema.js';
import type { JobRecord, JobState } from '../db/types.js';
import { jobView } from './views.js';

const STATES: JobState[] = ['queued', 'running', 'paused', 'cancelling', 'succeeded', 'failed', 'cancelled'];

export async function jobRoutes(scope: FastifyInstance, ctx: ManagerApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { db, runner } = ctx;
  const tags = ['jobs'];

  app.get(
    '/v1/jobs',
    {
      config: { access: 'viewer' },
      schema: { tags, querystring: JobQuery, response: { 200: Type.Array(JobView) } },
    },
    async (req) => {
      const states = req.query.state?.split(',') as JobState[] | undefined;
      for (const s of states ?? [])
        if (!STATES.includes(s))
          throw new ReboundError('INVALID_ARGUMENT', `state: ${s} is not one of ${STATES.join(', ')}`, {
            detail: { field: 'state' },
          });
      const jobs = await db.listJobs({
        ...(states ? { state: states } : {}),
        ...(req.query.kind ? { kind: req.query.kind } : {}),
        ...(req.query.setting ? { setting: req.query.setting } : {}),
        limit: req.query.limit ? Number(req.query.limit) : 100,
      });
      return jobs.map((j) => jobView(j));
    },
  );

  app.get(
    '/v1/jobs/stream',
    {
      config: { access: 'viewer' },
      schema: { tags, description: 'server-sent events: one `job` event per change' },
    },
    async (req, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      res.write(': rebound job stream\n\n');
      const send = (job: JobRecord) => res.write(`event: job\ndata: ${JSON.stringify(jobView(job))}\n\n`);
      const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
      runner.updates.on('job', send);
      req.raw.on('close', () => {
        clearInterval(ping);
        runner.updates.off('job', send);
      });
    },
  );

  app.get(
    '/v1/jobs/:job',
    { config: { access: 'viewer' }, schema: { tags, params: JobParams, response: { 200: JobView } } },
    async (req) => {
      const job = await runner.get(req.params.job);
      return jobView(job, await db.listJobLog(job.id));
    },
  );

  app.post(
    '/v1/jobs/:job/cancel',
    { config: { access: 'operator' }, schema: { tags, params: JobParams, response: { 200: JobView } } },
    async (req) => jobView(await runner.cancel(req.params.job, principalOf(req).user)),
  );

  app.post(
    '/v1/jobs/:job/resume',
    { config: { access: 'operator' }, schema: { tags, params: JobParams, response: { 200: JobView } } },
    async (req) => jobView(await runner.resume(req.params.job, principalOf(req).user)),
  );
}
