/**
 * Disaster recovery through the manager:
 *
 *   POST /v1/failovers   fail volumes over to a secondary site (SPEC S101-S108), a job
 *   POST /v1/failbacks   bring one volume home by the chosen method (S401-S906), a job
 *   GET  /v1/dr          per protected volume: the active site, the secondary, changed
 *                        blocks since failover, consistency assurance, RPO (age of the
 *                        newest backup), the latest failback job (any method) and its step
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { isReboundError, ReboundError } from '../../errors.js';
import { type ManagerApiContext, principalOf } from '../api.js';
import type { DrVolumeView as DrVolume } from '../api-schema.js';
import { DrVolumeView, FailbackBody, FailoverBody, JobView } from '../api-schema.js';
import { isoTime } from '../clock.js';
import type { DrVolumeRecord } from '../db/types.js';
import type { FailbackParams, FailoverParams } from '../jobs/index.js';
import { jobView } from './views.js';

export async function drRoutes(scope: FastifyInstance, ctx: ManagerApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { db, registry, runner, clock } = ctx;
  const tags = ['disaster recovery'];

  app.post(
    '/v1/failovers',
    { config: { access: 'operator' }, schema: { tags, body: FailoverBody, response: { 202: JobView } } },
    async (req, reply) => {
      const b = req.body;
      await registry.store(b.store);
      const volumes: FailoverParams['volumes'] = [];
      for (const item of b.volumes) {
        const ref = typeof item === 'string' ? item : item.volume;
        const v = await registry.volume(ref);
        const lineage = v.inheritedUniqueId ?? v.uniqueId;
        const dr = await db.getDrVolume(lineage);
        if (dr && dr.active === 'secondary')
          throw new ReboundError(
            'CONFLICT',
            `volume ${v.name} (${lineage}) is already failed over to site ${dr.secondarySite} (job ${dr.failoverJob}); fail it back first`,
            { detail: { field: 'volumes', volume: v.name } },
          );
        if (volumes.some((x) => x.lineage === lineage))
          throw new ReboundError('INVALID_ARGUMENT', `volumes: ${v.name} is listed twice`, {
            detail: { field: 'volumes' },
          });
        volumes.push({
          uniqueId: v.uniqueId,
          lineage,
          node: v.node,
          name: v.name,
          ...(typeof item !== 'string' && item.generation ? { generation: item.generation } : {}),
        });
      }
      const site = await db.getSite(b.site);
      if (site && site.role !== 'secondary')
        throw new ReboundError(
          'INVALID_ARGUMENT',
          `site: ${b.site} is a ${site.role} site; fail over to a secondary one`,
          {
            detail: { field: 'site' },
          },
        );
      if (!site)
        await registry.db.addSite({
          name: b.site,
          role: 'secondary',
          createdAt: isoTime(clock),
        });
      const known = await db.getSiteProvider(b.site);
      if (b.provider || b.hooks || !known)
        await registry.saveSiteProvider(
          b.site,
          b.provider ?? (known ? (await registry.siteProvider(b.site)).config : { type: 'local' }),
          (b.hooks as Record<string, unknown> | undefined) ?? known?.hooks ?? null,
        );
      const params: FailoverParams = { site: b.site, store: b.store, volumes };
      const job = await runner.submit('failover', { ...params }, { createdBy: principalOf(req).user });
      reply.status(202);
      return jobView(job!);
    },
  );

  app.post(
    '/v1/failbacks',
    { config: { access: 'operator' }, schema: { tags, body: FailbackBody, response: { 202: JobView } } },
    async (req, reply) => {
      // After a failover the name is held twice (primary and secondary) by one lineage: fine here.
      const named = await db.listVolumes({ name: req.body.volume });
      const lineages = new Set(named.map((x) => x.inheritedUniqueId ?? x.uniqueId));
      const v = lineages.size === 1 ? named[0] : await registry.volume(req.body.volume);
      const lineage = v.inheritedUniqueId ?? v.uniqueId;
      const d = await db.getDrVolume(lineage);
      if (!d || d.active !== 'secondary' || !d.secondaryNode || !d.secondaryVolume || !d.secondarySite)
        throw new ReboundError(
          'CONFLICT',
          `volume ${v.name} (${lineage}) is not failed over: nothing to fail back`,
          {
            detail: { field: 'volume' },
          },
        );
      if (req.body.readIdFrom && req.body.method !== 'external')
        throw new ReboundError(
          'INVALID_ARGUMENT',
          'readIdFrom: only the external method reads the destination ID from the primary (SPEC S704)',
          { detail: { field: 'readIdFrom' } },
        );
      const view = await drView(d);
      const primaryNode = await registry.node(d.primaryNode);
      const params: FailbackParams = {
        method: req.body.method,
        ...(req.body.readIdFrom ? { readIdFrom: req.body.readIdFrom } : {}),
        lineage,
        primaryNode: d.primaryNode,
        primaryVolume: d.primaryVolume,
        primarySite: primaryNode.site,
        secondarySite: d.secondarySite,
        secondaryNode: d.secondaryNode,
        secondaryVolume: d.secondaryVolume,
        store: d.store!,
        baseGeneration: d.baseGeneration!,
        consistencyOwed: d.consistency !== 'done',
        changedBlocks: view.changedBlocks,
        blockSizeBytes: view.changedBlocks ? Math.round((view.changedBytes ?? 0) / view.changedBlocks) : null,
      };
      const job = await runner.submit('failback', { ...params }, { createdBy: principalOf(req).user });
      await db.putDrVolume({
        ...d,
        state: 'failing-back',
        failbackJob: job!.id,
        updatedAt: isoTime(clock),
      });
      reply.status(202);
      return jobView(job!);
    },
  );

  app.get(
    '/v1/dr',
    { config: { access: 'viewer' }, schema: { tags, response: { 200: Type.Array(DrVolumeView) } } },
    async () => {
      const out = [];
      for (const d of await db.listDrVolumes()) out.push(await drView(d));
      return out;
    },
  );

  async function drView(d: DrVolumeRecord) {
    let changedBlocks: number | null = null;
    let changedBytes: number | null = null;
    let secondaryNbdUri: string | null = null;
    let pair: DrVolume['pair'] = null;
    if (d.active === 'secondary' && d.secondaryNode && d.secondaryVolume) {
      try {
        const node = await registry.node(d.secondaryNode);
        const client = registry.client(node);
        const id = await client.identity();
        secondaryNbdUri = `nbd://${id.nbd.host}:${id.nbd.port}/${d.secondaryVolume}`;
        const bitmaps = await client.listBitmaps(d.secondaryVolume);
        // A failback by remote copy in progress: its pair's state and journal lag.
        const p = (await client.listPairs(d.secondaryVolume)).find((x) => x.name === d.failbackJob);
        if (p)
          pair = {
            name: p.name,
            state: p.state,
            blocksToCopy: p.blocksToCopy,
            blocksCopied: p.blocksCopied,
            lagEntries: p.journal.lagEntries,
            lagBytes: p.journal.lagBytes,
          };
        const b = bitmaps.find((x) => x.name === 'since-restore');
        if (b) {
          changedBlocks = b.dirtyBlocks;
          changedBytes = b.dirtyBlocks * b.blockSizeBytes;
        }
      } catch (err) {
        if (!isReboundError(err)) throw err; // unreachable secondary: unknown, not an error
      }
    }
    // The latest failback job, whatever its method: where it is and how far it got.
    let failback: DrVolume['failback'] = null;
    const fbJob = d.failbackJob ? await db.getJob(d.failbackJob) : undefined;
    if (fbJob)
      failback = {
        job: fbJob.id,
        method: String(fbJob.params.method),
        state: fbJob.state,
        step: fbJob.step,
        bytesDone: fbJob.progress?.bytesDone ?? null,
        bytesTotal: fbJob.progress?.bytesTotal ?? null,
      };
    const primary = (await db.listVolumes({ node: d.primaryNode, name: d.primaryVolume }))[0];
    const lastBackupAt = primary?.lastBackupAt ?? null;
    return {
      lineage: d.lineage,
      volume: d.primaryVolume,
      primaryNode: d.primaryNode,
      active: d.active,
      state: d.state,
      secondarySite: d.secondarySite,
      secondaryNode: d.secondaryNode,
      secondaryVolume: d.secondaryVolume,
      secondaryNbdUri,
      baseGeneration: d.baseGeneration,
      consistency: d.consistency,
      consistencyDetail: d.consistencyDetail,
      changedBlocks,
      changedBytes,
      pair,
      failback,
      lastBackupAt,
      rpoSeconds: lastBackupAt ? Math.max(0, (clock.now() - Date.parse(lastBackupAt)) / 1000) : null,
      failedOverAt: d.failedOverAt,
      failedBackAt: d.failedBackAt,
      failoverJob: d.failoverJob,
      failbackJob: d.failbackJob,
    };
  }
}
