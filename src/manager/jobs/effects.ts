/**
 * The runner's hands: each Effect type of plan.ts done against the registry and the
 * nodes. Every effect is safe to run twice, because a manager that dies after an effect
 * but before recording its result runs it again: registering a store the node already
 * has is skipped, a node task is started under the job's ID (the node returns the same
 * task), following a task is a read, recording a backup or syncing sets the same state.
 */
import { isIncrementalBitmapSince } from '../../backup/keys.js';
import { isReboundError, ReboundError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { type PairTarget, type PairView, PREMARK_MAX_BLOCKS, type TaskView } from '../../node/api-schema.js';
import type { NodeClient } from '../../node/client.js';
import { isoTime } from '../clock.js';
import { type ChangedSet, changedSet, compareVolumes, describeComparison, unionChanged } from '../compare.js';
import type { DrVolumeRecord, JobProgress } from '../db/types.js';
import type { Registry } from '../registry.js';
import { openSiteProvider, parseHostHookConfig, runHostHook, type SiteProvider } from '../sites/index.js';
import { type NbdTarget, nbdTarget, releaseNbdTarget } from './nbd-target.js';
import type { Effect, PremarkEffect, TaskOp, TaskOutcome } from './plan.js';

export interface EffectContext {
  registry: Registry;
  /** The manager's data directory (the local site provider keeps its nodes under it). */
  dataDir: string;
  logger: Logger;
  /** Aborted on cancel (reason 'cancel') and on manager shutdown (reason 'shutdown'). */
  signal: AbortSignal;
  progress(p: JobProgress): void;
  /**
   * A line in the job's log under the running step (`rebound job show`, the console):
   * what an operator should know while the step goes on, such as a pair waiting for its
   * target. Not awaited; a line that cannot be recorded is logged and dropped.
   */
  note(message: string): void;
  /**
   * The `note` lines already in the job's log under the running step, in order: what an
   * earlier run of the step noted before a manager restart.
   */
  notedBefore(): Promise<string[]>;
  /** How often a node task is polled. */
  pollMs: number;
}

/** The node an effect talks to, if any: a job paused on it resumes when it answers again. */
export function effectNode(effect: Effect): string | null {
  return 'node' in effect ? effect.node : null;
}

export async function runEffect(effect: Effect, ctx: EffectContext): Promise<unknown> {
  const { registry } = ctx;
  switch (effect.type) {
    case 'ensure-store': {
      return { registered: await registry.ensureStore(await registry.node(effect.node), effect.store) };
    }
    case 'start-task': {
      const client = await clientOf(registry, effect.node);
      const body = { ...effect.body, taskId: effect.taskId };
      const task = await startTask(client, effect.op, body, effect.store);
      return { taskId: task.id };
    }
    case 'wait-task':
      return waitTask(await clientOf(registry, effect.node), effect.taskId, ctx);
    case 'record-backup': {
      const node = await registry.node(effect.node);
      await registry.syncNode(node);
      await registry.db.recordBackup(effect.volume, isoTime(registry.clock));
      return { recorded: true };
    }
    case 'sync-node': {
      const r = await registry.syncNode(await registry.node(effect.node));
      return { added: r.added, removed: r.removed };
    }
    case 'prune': {
      const client = await clientOf(registry, effect.node);
      return (await client.prune(effect.store, effect.rules)) as Record<string, unknown>;
    }
    case 'build-site':
      return buildSite(await siteProviderOf(effect.site, ctx), effect.site, effect.nodeName, ctx);
    case 'start-site': {
      // A failback may have torn the site down since the start was asked for: building
      // then would make a new, empty node nobody needs.
      const provider = await siteProviderOf(effect.site, ctx);
      const status = await provider.status({ name: effect.site });
      if (status.state === 'absent' || !(await registry.db.getNode(effect.nodeName)))
        throw new ReboundError(
          'CONFLICT',
          `site ${effect.site} has no node to start any more (a failback tore it down): nothing started`,
        );
      return buildSite(provider, effect.site, effect.nodeName, ctx);
    }
    case 'pick-generation': {
      const client = await clientOf(registry, effect.node);
      const gens = await client.listGenerations(effect.store, { uniqueId: effect.lineage });
      const pick = effect.generation
        ? gens.find((g) => g.key === effect.generation)
        : gens.sort((a, b) => b.generation - a.generation || b.time.localeCompare(a.time))[0];
      if (!pick)
        throw new ReboundError(
          'NOT_FOUND',
          effect.generation
            ? `generation ${effect.generation} is not in store ${effect.store}`
            : `store ${effect.store} holds no generation of ${effect.lineage}: back the volume up first`,
        );
      return { key: pick.key, generation: pick.generation, time: pick.time, method: pick.method };
    }
    case 'host-hook': {
      const { hooks } = await registry.siteProvider(effect.site).catch(() => ({ hooks: null }));
      const hook = (hooks as Record<string, unknown> | null)?.[
        effect.event === 'start-hosts' ? 'startHosts' : 'stopHosts'
      ];
      const id = await (await clientOf(registry, effect.node)).identity();
      const r = await runHostHook(hook ? parseHostHookConfig(hook) : undefined, effect.event, {
        volume: effect.volume,
        site: effect.site,
        nbd: { host: id.nbd.host, port: id.nbd.port, export: effect.volume },
      });
      return { outcome: r.outcome, outputTail: r.outputTail };
    }
    case 'assure-consistency': {
      try {
        const client = await clientOf(registry, effect.node);
        await client.startRevert({
          volume: effect.volume,
          store: effect.store,
          generation: effect.generation,
          snapshot: effect.snapshot,
          taskId: effect.taskId,
        });
        const done = await waitTask(client, effect.taskId, ctx);
        if (done.lost)
          return { owed: true, reason: `node ${effect.node} restarted during consistency assurance` };
        return { owed: false, ...done.result };
      } catch (err) {
        if (!isReboundError(err, 'NODE_UNREACHABLE') || effect.required) throw err;
        return { owed: true, reason: `the primary node ${effect.node} does not answer: ${err.message}` };
      }
    }
    case 'fence': {
      const client = await clientOf(registry, effect.node);
      const v = effect.fenced ? await client.fence(effect.volume) : await client.unfence(effect.volume);
      return { fenced: v.fenced };
    }
    case 'compare-ids': {
      const client = await clientOf(registry, effect.node);
      const [v, id] = await Promise.all([client.getVolume(effect.volume), client.identity()]);
      return {
        equal: v.uniqueId === effect.lineage,
        destination: v.uniqueId,
        lineage: effect.lineage,
        // What a block is at the destination, to count the blocks a full failback writes.
        blockSizeBytes: id.pool.blockSizeBytes,
      };
    }
    case 'reserve-target': {
      const t = await nbdTarget(registry, effect);
      // Never the key: this result is job data, which the API shows.
      return { identity: t.tls && 'pskIdentity' in t.tls ? t.tls.pskIdentity : null };
    }
    case 'release-target':
      return releaseNbdTarget(registry, effect);
    case 'start-pair':
      return premarkWhile(
        registry,
        effect.premark,
        { node: effect.targetNode, volume: effect.targetVolume, name: effect.name },
        async (target) => {
          const pair = await (await clientOf(registry, effect.node)).startPair(effect.volume, {
            name: effect.name,
            target,
            mode: effect.mode,
            ...(effect.mode === 'delta' ? { bitmap: effect.bitmap, freezeFrom: effect.freezeFrom } : {}),
          });
          return { state: pair.state, blocksToCopy: pair.blocksToCopy };
        },
      );
    case 'wait-pair': {
      const client = await clientOf(registry, effect.node);
      // The retry the job's log last told of: a pair that cannot reach the primary keeps
      // its state (it copies on once connected), so the log says when it starts waiting
      // and when it gets through, while dr status shows each attempt.
      let waiting: PairView['retrying'] = null;
      // A long poll: the node answers when the copy ends, or every pollMs with progress.
      for (let first = true; ; first = false) {
        const p = await client.getPair(
          effect.volume,
          effect.name,
          first ? undefined : { waitMs: ctx.pollMs, whileState: 'initial-copy' },
        );
        const target = `${p.target.export} at ${p.target.host}:${p.target.port}`;
        if (p.retrying && !waiting)
          ctx.note(
            `the pair cannot reach ${target}: ${p.retrying.code}: ${p.retrying.message}; ` +
              `it tries again (attempt ${p.retrying.attempt}, the next at ${p.retrying.nextAttemptAt})`,
          );
        else if (!p.retrying && waiting && p.state !== 'failed')
          ctx.note(
            `the pair reached ${target} again after ${waiting.attempt} failed attempt${waiting.attempt === 1 ? '' : 's'}`,
          );
        waiting = p.retrying;
        // Bytes per block as copied so far (exact at the end: a last partial block
        // counts as it is); before the first, the pair's unit.
        const bs = p.blocksCopied > 0 ? p.bytesCopied / p.blocksCopied : (p.blockBytes ?? 0);
        ctx.progress({
          bytesDone: p.bytesCopied,
          bytesTotal: Math.round(bs * p.blocksToCopy),
          rateBytesPerSec: 0,
          etaSeconds: null,
        });
        if (p.state === 'failed')
          throw new ReboundError(
            (p.error?.code ?? 'INTERNAL') as ReboundError['code'],
            `pair ${p.name}: ${p.error?.message ?? 'failed'}`,
          );
        if (p.state !== 'initial-copy')
          return { state: p.state, blocksCopied: p.blocksCopied, bytesCopied: p.bytesCopied };
        if (ctx.signal.aborted)
          throw new ReboundError(ctx.signal.reason === 'cancel' ? 'CANCELLED' : 'SHUTTING_DOWN', 'stopped');
      }
    }
    case 'release-pair': {
      const client = await clientOf(registry, effect.node);
      for (;;) {
        try {
          const p = await client.releasePair(effect.volume, effect.name);
          return {
            blocksCopied: p.blocksCopied,
            blockBytes: p.blockBytes,
            bytesCopied: p.bytesCopied,
            entriesShipped: p.journal.entriesShipped,
            bytesShipped: p.journal.bytesShipped,
          };
        } catch (err) {
          // BUSY: the journal is still draining; the release goes on, ask again.
          if (!isReboundError(err, 'BUSY') || ctx.signal.aborted) throw err;
        }
      }
    }
    case 'teardown-site': {
      // S408 / S906 stop the secondary's machines, unless they still serve other volumes:
      // one failover may move several, and each comes back on its own. Tearing the site
      // down now would take those volumes (and their hosts' writes) offline; the last
      // failback from the site tears it down.
      const others = (await registry.db.listDrVolumes()).filter(
        (d) => d.active === 'secondary' && d.secondarySite === effect.site && d.lineage !== effect.lineage,
      );
      if (others.length > 0)
        return { outcome: 'kept', stillFailedOver: others.map((d) => `${d.primaryVolume} (${d.lineage})`) };
      const outcome = await (await siteProviderOf(effect.site, ctx)).teardown({ name: effect.site });
      if (await registry.db.getNode(effect.node)) await registry.removeNode(effect.node);
      return { outcome };
    }
    case 'attach-external':
      // The virtual volume dials the primary over TLS with the job's key, as a pair does.
      return premarkWhile(
        registry,
        effect.premark,
        { node: effect.targetNode, volume: effect.targetVolume, name: effect.keyName },
        async (target) => {
          const x = await (await clientOf(registry, effect.node)).attachExternal({
            name: effect.name,
            target,
          });
          return { name: x.name, sizeBytes: x.sizeBytes, uniqueId: x.uniqueId, tls: x.tls };
        },
      );
    case 'forget-bitmaps': {
      const client = await clientOf(registry, effect.node);
      const deleted: string[] = [];
      for (const name of effect.names) {
        try {
          await client.deleteBitmap(effect.volume, name);
          deleted.push(name);
        } catch (err) {
          if (!isReboundError(err, 'NOT_FOUND')) throw err;
        }
      }
      return { deleted };
    }
    case 'premark': {
      const changed = await changedSet(
        await clientOf(registry, effect.fromNode),
        effect.fromVolume,
        effect.changedIn,
      );
      return markChanged(registry, effect, changed);
    }
    case 'detach-external': {
      try {
        await (await clientOf(registry, effect.node)).detachExternal(effect.name);
        return { detached: true };
      } catch (err) {
        if (isReboundError(err, 'NOT_FOUND')) return { detached: false }; // a run before this one did it
        throw err;
      }
    }
    case 'compare-volumes': {
      const other = await clientOf(registry, effect.otherNode);
      const client = await clientOf(registry, effect.node);
      // With the volume's own changes since the base: its drift that consistency assurance
      // rewrote (and the copy's writes again), so that a wrong rewrite shows too.
      const only = Promise.all([
        effect.changedIn ? changedSet(other, effect.otherVolume, effect.changedIn) : undefined,
        effect.changedIn && effect.driftSince
          ? changedSet(client, effect.volume, isIncrementalBitmapSince(effect.driftSince))
          : undefined,
      ]).then(([changed, drift]) => (changed && drift ? unionChanged(changed, drift) : changed));
      const r = await compareVolumes(
        { client, node: effect.node, volume: effect.volume },
        { client: other, node: effect.otherNode, volume: effect.otherVolume },
        {
          signal: ctx.signal,
          onProgress: (done, total) =>
            ctx.progress({ bytesDone: done, bytesTotal: total, rateBytesPerSec: 0, etaSeconds: null }),
          only,
          ...(effect.otherHashesFromCopy ? { copiedFrom: 'b' as const } : {}),
        },
      );
      const summary = {
        identical: r.identical,
        scope: r.scope,
        blocksCompared: r.blocksCompared,
        hashBlockBytes: r.hashBlockBytes,
        hashesFromCopy: r.hashesFromCopy,
        mismatchCount: r.mismatchCount,
        firstMismatches: r.firstMismatches,
        ...(r.why ? { why: r.why } : {}),
      };
      if (!r.identical)
        throw new ReboundError(
          'VOLUMES_DIFFER',
          `${effect.node}/${effect.volume} and ${effect.otherNode}/${effect.otherVolume} are not identical: ${describeComparison(r)}`,
          { detail: summary },
        );
      return summary;
    }
    case 'record-dr': {
      for (const r of effect.records) {
        const known = await registry.db.getDrVolume(r.lineage);
        await registry.db.putDrVolume({
          lineage: r.lineage,
          primaryNode: r.primaryNode,
          primaryVolume: r.primaryVolume,
          active: 'primary',
          state: 'protected',
          store: null,
          baseGeneration: null,
          secondarySite: null,
          secondaryNode: null,
          secondaryVolume: null,
          consistency: null,
          consistencyDetail: null,
          failoverJob: null,
          failbackJob: null,
          failedOverAt: null,
          failedBackAt: null,
          ...known,
          ...(r.set as Partial<DrVolumeRecord>),
          ...(r.set.failedOverAt === 'now' ? { failedOverAt: isoTime(registry.clock) } : {}),
          ...(r.set.failedBackAt === 'now' ? { failedBackAt: isoTime(registry.clock) } : {}),
          updatedAt: isoTime(registry.clock),
        });
      }
      return { recorded: effect.records.length };
    }
  }
}

/**
 * S101-S102: the site provider builds (or finds: build is idempotent) the secondary's
 * node, whose `rebound node init` made its pool; it is registered once, by serial.
 */
async function buildSite(
  provider: SiteProvider,
  site: string,
  nodeName: string,
  ctx: EffectContext,
): Promise<Record<string, unknown>> {
  const { registry } = ctx;
  const built = await provider.build({ name: site });
  const known = await registry.db.getNodeBySerial(built.serial);
  let name = known?.name ?? nodeName;
  if (!known) {
    name = (await registry.registerNode({ name: nodeName, site, url: built.url, token: built.token })).name;
  } else if (known.apiUrl !== built.url) {
    // Rebuilt on other ports: register it again under the same name.
    await registry.db.removeNode(known.name);
    name = (await registry.registerNode({ name: known.name, site, url: built.url, token: built.token })).name;
  } else {
    await registry.syncNode(known);
  }
  return { node: name, url: built.url, serial: built.serial, nbd: built.nbd, tls: built.tls.mode };
}

/** The provider a site was built with (its stored config), opened on the manager's data. */
async function siteProviderOf(site: string, ctx: EffectContext): Promise<SiteProvider> {
  const { config } = await ctx.registry.siteProvider(site);
  return openSiteProvider(config, { dataDir: ctx.dataDir, logger: ctx.logger });
}

async function clientOf(registry: Registry, node: string): Promise<NodeClient> {
  return registry.client(await registry.node(node));
}

function startTask(
  client: NodeClient,
  op: TaskOp,
  body: Record<string, unknown>,
  store: string | undefined,
): Promise<TaskView> {
  switch (op) {
    case 'backup':
      return client.startBackup(body as Parameters<NodeClient['startBackup']>[0]);
    case 'restore':
      return client.startRestore(body as Parameters<NodeClient['startRestore']>[0]);
    case 'verify':
      if (!store) throw new ReboundError('INTERNAL', 'a verify task needs its store');
      return client.startVerify(store, body);
    case 'revert':
      return client.startRevert(body as Parameters<NodeClient['startRevert']>[0]);
    case 'local-copy':
      return client.startLocalCopy(body as Parameters<NodeClient['startLocalCopy']>[0]);
  }
}

/** Mark `changed` (of the premark's source volume) in the active bitmaps of its target. */
async function markChanged(
  registry: Registry,
  effect: PremarkEffect,
  changed: ChangedSet | undefined,
): Promise<Record<string, unknown>> {
  if (!changed) return { marked: 0 };
  const target = await clientOf(registry, effect.node);
  let marked = 0;
  const { set, blockBytes } = changed;
  for (let start = 0; start < set.sizeBlocks; start += PREMARK_MAX_BLOCKS) {
    const count = Math.min(PREMARK_MAX_BLOCKS, set.sizeBlocks - start);
    if (!set.hasAny(start, count)) continue;
    const part = set.slice(start, count);
    const r = await target.premark(effect.volume, {
      blockSizeBytes: blockBytes,
      startBlock: start,
      count,
      set: part.encode().toString('base64'),
    });
    marked += r.marked;
  }
  return { marked, changedBlocks: set.count(), blockSizeBytes: blockBytes };
}

/**
 * `connect` (a pair's start, a virtual volume's attach: the secondary dialling the
 * primary at `target`) with, when asked, the premark done meanwhile: the changed set is
 * read first, before the pair's freeze moves it into another bitmap, then the primary
 * marks it while the secondary connects. Safe in either order: a write that comes before
 * the marks marks its block itself. The premark's outcome joins the result as `premark`.
 *
 * The target (the job's key installed on the primary, the primary's NBD address) is
 * asked for while the changed set is read: asked after, it waited behind the premark
 * on the primary's main thread, and the secondary's start waited for it.
 */
async function premarkWhile(
  registry: Registry,
  premark: PremarkEffect | undefined,
  target: NbdTarget,
  connect: (target: PairTarget) => Promise<Record<string, unknown>>,
): Promise<Record<string, unknown>> {
  // The secondary dials; here the target is only made ready (key installed, address read).
  const ready = nbdTarget(registry, target);
  if (!premark) return connect(await ready);
  ready.catch(() => undefined); // awaited below, once the changed set is read
  const changed = await changedSet(
    await clientOf(registry, premark.fromNode),
    premark.fromVolume,
    premark.changedIn,
  );
  const at = await ready;
  const marks = markChanged(registry, premark, changed);
  marks.catch(() => undefined); // awaited below, after the connection
  const connected = await connect(at);
  return { ...connected, premark: await marks };
}

/**
 * Follow a node task until it ends. A node that restarted no longer knows the task:
 * `lost`, and the plan starts it again. Cancel asks the node to cancel and waits for the
 * task to stop, so nothing keeps writing after the job says cancelled.
 */
async function waitTask(client: NodeClient, taskId: string, ctx: EffectContext): Promise<TaskOutcome> {
  let cancelSent = false;
  // The task's notes go to the job's log once each: after a manager restart, the step
  // follows the same task again, and the notes its first run copied are skipped.
  let notesSeen: number | undefined;
  for (;;) {
    let task: TaskView;
    try {
      // A long poll: the node answers when the task ends, or after pollMs with progress.
      task = await client.getTask(taskId, ctx.pollMs);
    } catch (err) {
      if (isReboundError(err, 'NOT_FOUND')) return { lost: true };
      throw err;
    }
    if (task.progress) ctx.progress(task.progress);
    const notes = task.notes ?? []; // a node older than notes has none
    if (notesSeen === undefined) {
      notesSeen = 0;
      if (notes.length > 0)
        for (const line of await ctx.notedBefore())
          if (notesSeen < notes.length && line === notes[notesSeen].message) notesSeen++;
    }
    for (; notesSeen < notes.length; notesSeen++) ctx.note(notes[notesSeen].message);
    if (task.state === 'succeeded')
      return { lost: false, result: (task.result ?? {}) as Record<string, unknown> };
    if (task.state === 'failed' || task.state === 'cancelled') {
      const e = task.error ?? { code: 'INTERNAL', message: 'the task ended without saying why' };
      if (task.state === 'cancelled' || e.code === 'CANCELLED')
        throw new ReboundError('CANCELLED', `node task ${taskId} was cancelled`);
      throw new ReboundError(e.code as ReboundError['code'], e.message, { detail: e.detail });
    }
    if (ctx.signal.aborted) {
      if (ctx.signal.reason !== 'cancel') throw new ReboundError('SHUTTING_DOWN', 'the manager is stopping');
      if (!cancelSent) {
        await client.cancelTask(taskId);
        cancelSent = true;
      }
    }
  }
}
