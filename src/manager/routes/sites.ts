/** /v1/sites: the primary and secondary sites (SPEC "The parts"); nodes belong to one. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ReboundError } from '../../errors.js';
import { type ManagerApiContext, principalOf } from '../api.js';
import { AddSiteBody, JobView, SiteParams, SiteView } from '../api-schema.js';
import { isoTime } from '../clock.js';
import type { SiteRecord } from '../db/types.js';
import type { SiteStartParams } from '../jobs/index.js';
import { jobView } from './views.js';

export async function siteRoutes(scope: FastifyInstance, ctx: ManagerApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { db, runner } = ctx;
  const view = async (s: SiteRecord): Promise<SiteView> => ({
    ...s,
    nodes: (await db.listNodes()).filter((n) => n.site === s.name).map((n) => n.name),
  });
  const tags = ['sites'];

  app.get(
    '/v1/sites',
    { config: { access: 'viewer' }, schema: { tags, response: { 200: Type.Array(SiteView) } } },
    async () => Promise.all((await db.listSites()).map(view)),
  );

  app.post(
    '/v1/sites',
    { config: { access: 'admin' }, schema: { tags, body: AddSiteBody, response: { 201: SiteView } } },
    async (req, reply) => {
      const site: SiteRecord = { name: req.body.name, role: req.body.role, createdAt: isoTime(ctx.clock) };
      await db.addSite(site);
      await ctx.events.record('info', 'site.added', site.name, `site ${site.name} (${site.role}) added`);
      reply.status(201);
      return view(site);
    },
  );

  app.get(
    '/v1/sites/:site',
    { config: { access: 'viewer' }, schema: { tags, params: SiteParams, response: { 200: SiteView } } },
    async (req) => {
      const s = await db.getSite(req.params.site);
      if (!s) throw new ReboundError('NOT_FOUND', `no site named ${req.params.site}`);
      return view(s);
    },
  );

  // A secondary's node that stopped (a crash, a reboot) comes back the way it was built:
  // the same provider, data and, for the local one, ports. Paused jobs resume on its answer.
  app.post(
    '/v1/sites/:site/start',
    { config: { access: 'operator' }, schema: { tags, params: SiteParams, response: { 202: JobView } } },
    async (req, reply) => {
      const { site } = req.params;
      const s = await db.getSite(site);
      if (!s) throw new ReboundError('NOT_FOUND', `no site named ${site}`);
      if (s.role !== 'secondary')
        throw new ReboundError(
          'INVALID_ARGUMENT',
          `site ${site} is a ${s.role} site: its nodes are started where they run, not by the manager`,
        );
      // A node to start: one a failover built and no failback has torn down since.
      const node = (await db.listNodes()).find((n) => n.site === site);
      if (!node || !(await db.getSiteProvider(site)))
        throw new ReboundError(
          'CONFLICT',
          `site ${site} has no node to start (none was built, or the last failback tore it down): a failover to it builds one`,
        );
      const params: SiteStartParams = { site, nodeName: node.name };
      // Another start of the site under way: BUSY, naming that job.
      const job = await runner.submit('site-start', { ...params }, { createdBy: principalOf(req).user });
      reply.status(202);
      return jobView(job!);
    },
  );

  app.delete(
    '/v1/sites/:site',
    { config: { access: 'admin' }, schema: { tags, params: SiteParams } },
    async (req, reply) => {
      if (!(await db.getSite(req.params.site)))
        throw new ReboundError('NOT_FOUND', `no site named ${req.params.site}`);
      await db.removeSite(req.params.site);
      await ctx.events.record('info', 'site.removed', req.params.site, `site ${req.params.site} removed`);
      reply.status(204);
    },
  );
}
