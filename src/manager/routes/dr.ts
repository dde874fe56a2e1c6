/**
 * Disaster recovery through the manager:
 *
 *   POST /v1/failovers   fail volumes over to a secondary site (SPEC S101-S108), a job
 *   POST /v1/failbacks   bring one volume home by the chosen method (S401-S906), a job
 *   GET  /v1/failbacks/estimate  what each method would move (changed blocks from the
 *                        secondary's since-restore bitmap, S501; all of them when the IDs
 *                        differ, S503-S505), before starting one
 *   GET  /v1/dr          per protected volume: the active site, the secondary, changed
 *                        blocks since failover, consistency assurance, RPO (age of the
 *                        newest backup), the latest failback job (any method) and its step
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { isReboundError, ReboundError } from '../../errors.js';
import type { BitmapInfo } from '../../node/api-schema.js';
import { type ManagerApiContext, principalOf } from '../api.js';
import type { DrVolumeView as DrVolume } from '../api-schema.js';
import {
  DrVolumeView,
  FAILBACK_METHODS,
  FailbackBody,
  FailbackEstimateQuery,
  FailbackEstimateView,
  FailoverBody,
  JobView,
} from '../api-schema.js';
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
      const { d, lineage } = await failedOver(req.body.volume);
      if (req.body.readIdFrom && req.body.method !== 'external')
        throw new ReboundError(
          'INVALID_ARGUMENT',
          'readIdFrom: only the external method reads the destination ID from the primary (SPEC S704)',
          { detail: { field: 'readIdFrom' } },
        );
      if (req.body.method === 'object-store') await sameBlockSize(d, lineage);
      const view = await drView(d);
      const dest = req.body.destination
        ? await destinationOf(req.body.destination, d)
        : { node: d.primaryNode, name: d.primaryVolume };
      const primaryNode = await registry.node(dest.node);
      const params: FailbackParams = {
        method: req.body.method,
        ...(req.body.readIdFrom ? { readIdFrom: req.body.readIdFrom } : {}),
        ...(req.body.verify ? { verify: req.body.verify } : {}),
        lineage,
        primaryNode: dest.node,
        primaryVolume: dest.name,
        primarySite: primaryNode.site,
        secondarySite: d.secondarySite,
        secondaryNode: d.secondaryNode,
        secondaryVolume: d.secondaryVolume,
        store: d.store!,
        baseGeneration: d.baseGeneration!,
        consistencyOwed: d.consistency !== 'done',
        changedBlocks: view.changedBlocks,
        changedBytes: view.changedBytes,
        blockSizeBytes: view.blockSizeBytes,
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
    '/v1/failbacks/estimate',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        description: 'what each failback method would move, before starting one',
        querystring: FailbackEstimateQuery,
        response: { 200: FailbackEstimateView },
      },
    },
    async (req) => {
      const { d, lineage } = await failedOver(req.query.volume);
      const secondary = registry.client(await registry.node(d.secondaryNode));
      const info = await secondary.getVolume(d.secondaryVolume);
      const bitmap = (await secondary.listBitmaps(d.secondaryVolume)).find((b) => b.name === 'since-restore');
      if (!bitmap)
        throw new ReboundError(
          'NOT_FOUND',
          `${d.secondaryVolume} on ${d.secondaryNode} has no since-restore bitmap: its changes since failover are unknown`,
        );
      // S503, as the failback's `ids` step decides it: a primary that does not answer is unknown.
      let idsEqual: boolean | null = null;
      try {
        const p = await registry.client(await registry.node(d.primaryNode)).getVolume(d.primaryVolume);
        idsEqual = p.uniqueId === lineage;
      } catch (err) {
        if (!isReboundError(err)) throw err;
      }
      const bs = bitmap.blockSizeBytes;
      const fullBlocks = Math.ceil(info.sizeBytes / bs);
      // The primary sits at the base generation unless consistency assurance is still owed;
      // the job runs it first (S301-S303), so only different IDs force a full copy.
      const delta = idsEqual !== false;
      const why =
        idsEqual === false
          ? 'the unique IDs differ (S503): every block moves'
          : idsEqual === null
            ? 'the primary did not answer: assuming equal IDs (the job checks again at S503)'
            : null;
      const changed = bitmap.dirtyBlocks;
      const blocks = delta ? changed : fullBlocks;
      const how: Record<string, string> = {
        'remote-copy': delta
          ? 'copy pair: the changed blocks, then the journal of writes made meanwhile (S504, S406)'
          : 'copy pair: every block, then the journal (S505, S406)',
        'object-store': delta
          ? 'generation N+1 of the changed blocks through the store, applied alone (S802-S806, S901-S903)'
          : 'generation N+1 through the store, then the whole chain restored (S903)',
        external: delta
          ? 'the primary volume attached at the secondary over NBD, the changed blocks copied into it locally (S702-S705)'
          : 'the primary volume attached at the secondary over NBD, every block copied into it (S702, S706)',
      };
      return {
        volume: d.primaryVolume,
        lineage,
        secondaryNode: d.secondaryNode,
        secondaryVolume: d.secondaryVolume,
        blockSizeBytes: bs,
        changedBlocks: changed,
        changedBytes: changedBytesOf(bitmap),
        fullBlocks,
        fullBytes: fullBlocks * bs,
        idsEqual,
        delta,
        why,
        methods: FAILBACK_METHODS.map((method) => ({
          method,
          delta,
          blocks,
          bytes: blocks * bs,
          how: how[method] ?? (delta ? 'the changed blocks' : 'every block'),
        })),
      };
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

  /**
   * S401: the volume the user picked on the primary side, by unique ID or by its name on
   * the lineage's primary node. Not the secondary's volume, and large enough to hold it.
   */
  async function destinationOf(ref: string, d: DrVolumeRecord): Promise<{ node: string; name: string }> {
    const v =
      (await db.getVolume(ref)) ?? (await db.listVolumes({ node: d.primaryNode, name: ref }))[0] ?? null;
    if (!v)
      throw new ReboundError(
        'NOT_FOUND',
        `destination: no volume ${ref} on node ${d.primaryNode} (give a name there, or a unique ID)`,
        { detail: { field: 'destination' } },
      );
    const secondary = (await db.listVolumes({ node: d.secondaryNode!, name: d.secondaryVolume! }))[0];
    if (v.node === d.secondaryNode)
      throw new ReboundError(
        'INVALID_ARGUMENT',
        `destination: ${ref} is at the secondary, not a primary volume`,
        {
          detail: { field: 'destination' },
        },
      );
    if (secondary && v.sizeBytes < secondary.sizeBytes)
      throw new ReboundError(
        'INVALID_ARGUMENT',
        `destination: ${v.name} has ${v.sizeBytes} bytes, less than the ${secondary.sizeBytes} of ${secondary.name} at the secondary`,
        { detail: { field: 'destination' } },
      );
    return { node: v.node, name: v.name };
  }

  /** The DR record of a failed-over volume named by `ref`, or CONFLICT naming it. */
  async function failedOver(ref: string) {
    // After a failover the name is held twice (primary and secondary) by one lineage: fine here.
    const named = await db.listVolumes({ name: ref });
    const lineages = new Set(named.map((x) => x.inheritedUniqueId ?? x.uniqueId));
    const v = lineages.size === 1 ? named[0] : await registry.volume(ref);
    const lineage = v.inheritedUniqueId ?? v.uniqueId;
    const d = await db.getDrVolume(lineage);
    if (d?.active !== 'secondary' || !d.secondaryNode || !d.secondaryVolume || !d.secondarySite)
      throw new ReboundError(
        'CONFLICT',
        `volume ${v.name} (${lineage}) is not failed over: nothing to fail back`,
        {
          detail: { field: 'volume' },
        },
      );
    const secondary = {
      secondaryNode: d.secondaryNode,
      secondaryVolume: d.secondaryVolume,
      secondarySite: d.secondarySite,
    };
    return { d: { ...d, ...secondary }, lineage };
  }

  /**
   * S802: the object-store failback writes generation N+1 on top of the failover's base,
   * and a generation has its chain's block size. A secondary pool built with another block
   * size (the local provider's blockSizeBytes) cannot write it: refuse here, before the job
   * stops the secondary's hosts, naming the methods that work (they copy bytes, not
   * generations). When the secondary or the store does not answer, the job's own steps
   * report it.
   */
  async function sameBlockSize(d: DrVolumeRecord & { secondaryNode: string }, lineage: string) {
    let pool: number;
    let base: number | undefined;
    try {
      const client = registry.client(await registry.node(d.secondaryNode));
      const [id, gens] = await Promise.all([
        client.identity(),
        client.listGenerations(d.store!, { uniqueId: lineage }),
      ]);
      pool = id.pool.blockSizeBytes;
      base = gens.find((g) => g.key === d.baseGeneration)?.blockSizeBytes;
    } catch {
      return;
    }
    if (base === undefined || base === pool) return;
    throw new ReboundError(
      'INVALID_ARGUMENT',
      `method: the secondary ${d.secondaryNode} has ${pool}-byte pool blocks and the backups of ${lineage} ${base}-byte ones; generation N+1 cannot change the block size. Fail back by remote-copy or external (they copy the changed bytes whatever the block sizes)`,
      { detail: { field: 'method', poolBlockSizeBytes: pool, backupBlockSizeBytes: base } },
    );
  }

  async function drView(d: DrVolumeRecord) {
    let changedBlocks: number | null = null;
    let changedBytes: number | null = null;
    let blockSizeBytes: number | null = null;
    let secondaryNbdUri: string | null = null;
    let secondaryProblem: string | null = null;
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
            blockBytes: p.blockBytes,
            lagEntries: p.journal.lagEntries,
            lagBytes: p.journal.lagBytes,
            // A node from before `retrying` leaves it out.
            retrying: p.retrying
              ? {
                  attempt: p.retrying.attempt,
                  message: p.retrying.message,
                  since: p.retrying.since,
                  nextAttemptAt: p.retrying.nextAttemptAt,
                }
              : null,
          };
        const b = bitmaps.find((x) => x.name === 'since-restore');
        if (b) {
          // Blocks touched, and the bytes of the grains written in them (4 KiB of a 64 KiB
          // block): what a failback copies.
          changedBlocks = b.dirtyBlocks;
          blockSizeBytes = b.blockSizeBytes;
          changedBytes = changedBytesOf(b);
        }
      } catch (err) {
        // An unreachable secondary: its changes are unknown, and the view says why.
        if (!isReboundError(err)) throw err;
        secondaryProblem = err.message;
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
      secondaryProblem,
      baseGeneration: d.baseGeneration,
      consistency: d.consistency,
      consistencyDetail: d.consistencyDetail,
      changedBlocks,
      changedBytes,
      blockSizeBytes,
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

/**
 * The bytes of the grains written in a bitmap's blocks (4 KiB of a 64 KiB block): what a
 * delta failback copies. A node from before grains counts whole blocks.
 */
function changedBytesOf(b: BitmapInfo): number {
  return b.dirtyGrains !== undefined ? b.dirtyGrains * b.grainBytes : b.dirtyBlocks * b.blockSizeBytes;
}
