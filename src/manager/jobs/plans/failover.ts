/**
 * Failover (SPEC Fig. 15, S101-S108), for one or many volumes as one job. It needs
 * nothing from the failed site but its backups:
 *
 *   S101-S102  build   the site provider builds the secondary's node (its pool is made by
 *                      `rebound node init`); the manager registers it
 *   S103       store   register the object store on it
 *   S104       pickN   the generation of volume N to restore (asked for, else the newest)
 *   S105       vN.*    restore it (S201-S211): same name, unique ID inherited, since-restore bitmap
 *   S107       openN   it accepts host I/O (a volume restored over a fenced one is unfenced)
 *   S106-S107  hostsN  the operator's start-hosts command for it (none by default)
 *   S108       caN    consistency assurance on the primary (S301-S303) when it answers,
 *                      else recorded as owed, to be done before failback
 *              record the DR state: active on the secondary, the base generation
 */
import type { DrChange, JobPlan } from '../plan.js';
import {
  applyNodeTask,
  type Decision,
  describeConsistency,
  keptSnapshotName,
  storeStep,
  taskSteps,
} from '../plan.js';

export interface FailoverVolume {
  /** The primary volume's unique ID (also its backups' lineage), node and name. */
  uniqueId: string;
  lineage: string;
  node: string;
  name: string;
  /** A generation key; the newest when left out. */
  generation?: string;
}

export interface FailoverParams {
  /** The secondary site; its provider and hooks are registered with it. */
  site: string;
  store: string;
  volumes: FailoverVolume[];
}

export const failoverPlan: JobPlan<FailoverParams> = {
  kind: 'failover',
  title: (p) => `failover of ${p.volumes.map((v) => v.name).join(', ')} to site ${p.site}`,
  // One DR job at a time per primary node: two failovers of a volume never overlap.
  lockKey: (p) => `dr:${[...new Set(p.volumes.map((v) => v.node))].sort().join(',')}`,

  next(p, data, jobId): Decision {
    if (!data.build)
      return {
        step: {
          name: 'build',
          spec: 'S101-S102',
          title: `build the secondary storage system of site ${p.site}`,
          effect: { type: 'build-site', site: p.site, nodeName: `${p.site}-node` },
        },
      };
    const secondary = (data.build as { node: string }).node;
    const store = storeStep(data, secondary, p.store);
    if (store) return { step: { ...store, spec: 'S103' } };
    for (const [i, v] of p.volumes.entries()) {
      if (!data[`pick${i}`])
        return {
          step: {
            name: `pick${i}`,
            spec: 'S104',
            title: `choose the generation of ${v.name} to restore`,
            effect: {
              type: 'pick-generation',
              node: secondary,
              store: p.store,
              lineage: v.lineage,
              generation: v.generation ?? null,
            },
          },
        };
      const gen = data[`pick${i}`] as { key: string; generation: number };
      const restore = taskSteps(
        jobId,
        data,
        `v${i}.`,
        {
          node: secondary,
          op: 'restore',
          body: { store: p.store, generation: gen.key, volume: v.name, overwrite: true },
        },
        { start: 'S105', wait: 'S201-S211', what: `restore of ${v.name} generation ${gen.generation}` },
      );
      if (restore) return { step: restore };
    }
    if (!data.sync)
      return {
        step: {
          name: 'sync',
          spec: 'Fig. 7',
          title: `learn the volumes of ${secondary}`,
          effect: { type: 'sync-node', node: secondary },
        },
      };
    // A volume restored over one left fenced (by an earlier failback) takes host I/O again.
    for (const [i, v] of p.volumes.entries())
      if (!data[`open${i}`])
        return {
          step: {
            name: `open${i}`,
            spec: 'S107',
            title: `${v.name} at ${secondary} accepts host I/O`,
            effect: { type: 'fence', node: secondary, volume: v.name, fenced: false },
          },
        };
    for (const [i, v] of p.volumes.entries())
      if (!data[`hosts${i}`])
        return {
          step: {
            name: `hosts${i}`,
            spec: 'S106-S107',
            title: `start the hosts of ${v.name} at site ${p.site}`,
            effect: {
              type: 'host-hook',
              site: p.site,
              event: 'start-hosts',
              node: secondary,
              volume: v.name,
            },
          },
        };
    for (const [i, v] of p.volumes.entries())
      if (!data[`ca${i}`])
        return {
          step: {
            name: `ca${i}`,
            spec: 'S108, S301-S303',
            title: `consistency assurance of ${v.name} on the primary ${v.node}`,
            effect: {
              type: 'assure-consistency',
              node: v.node,
              volume: v.name,
              store: p.store,
              generation: (data[`pick${i}`] as { key: string }).key,
              snapshot: keptSnapshotName(jobId),
              taskId: `${jobId}.ca${i}`,
            },
          },
        };
    if (!data.record) {
      const records: DrChange[] = p.volumes.map((v, i) => {
        const ca = data[`ca${i}`] as {
          owed: boolean;
          reason?: string;
          mode?: string;
          blocks?: number;
          snapshot?: string;
        };
        return {
          lineage: v.lineage,
          primaryNode: v.node,
          primaryVolume: v.name,
          set: {
            active: 'secondary',
            state: 'failed-over',
            store: p.store,
            baseGeneration: (data[`pick${i}`] as { key: string }).key,
            secondarySite: p.site,
            secondaryNode: secondary,
            secondaryVolume: v.name,
            consistency: ca.owed ? 'owed' : 'done',
            consistencyDetail: ca.owed
              ? (ca.reason ?? null)
              : `${ca.mode}: ${ca.blocks} blocks brought back; the drift kept in snapshot ${ca.snapshot}`,
            failoverJob: jobId,
            failbackJob: null,
            failedOverAt: 'now',
          },
        };
      });
      return {
        step: {
          name: 'record',
          spec: null,
          title: `record ${p.volumes.length} volume(s) as active at site ${p.site}`,
          effect: { type: 'record-dr', records },
        },
      };
    }
    return {
      done: {
        site: p.site,
        node: secondary,
        volumes: p.volumes.map((v, i) => ({
          volume: v.name,
          uniqueId: v.uniqueId,
          generation: (data[`pick${i}`] as { key: string }).key,
          restored: data[`v${i}.task`],
          consistency: data[`ca${i}`],
        })),
      },
      message: `${p.volumes.length} volume(s) active at site ${p.site} on ${secondary}`,
    };
  },

  apply: applyNodeTask,

  describe(step, result) {
    const r = result as Record<string, unknown>;
    if (step.effect.type === 'build-site') return `secondary node ${r.node} (serial ${r.serial}) at ${r.url}`;
    if (step.effect.type === 'pick-generation')
      return `generation ${r.generation} (${r.method}, ${r.time}): ${r.key}`;
    if (step.effect.type === 'host-hook')
      return r.outcome === 'skipped'
        ? 'no start-hosts hook configured: skipped'
        : `start-hosts ran: ${String(r.outputTail ?? '').slice(-200)}`;
    if (step.effect.type === 'assure-consistency') return describeConsistency(r);
    return `${step.title}: done`;
  },
};
