/**
 * Failback of one volume to its primary. The method decides how the changed blocks go
 * home; what comes before and after is common:
 *
 *   ca        consistency assurance (S301-S303) if it was owed at failover: the primary
 *             must answer now (the job pauses until it does)
 *   ids       S503 / S704: the destination's unique ID against the lineage the secondary
 *             inherited. Equal, and the primary sits at the base generation: only the
 *             blocks the secondary changed move; different: everything moves
 *
 * Through the object store (S801-S806, S901-S906):
 *   stop      S801 the secondary's hosts stop (hook) and its host I/O is fenced
 *   nN.*      S802-S806 the secondary writes generation N+1 from its since-restore bitmap,
 *             parent = the failover's base generation
 *   back.*    S901-S903 the primary applies only that generation (IDs equal), else the
 *             whole chain
 *   start     S904 the primary's hosts start (hook); S905 the primary accepts I/O (unfence)
 *   teardown  S906 the secondary's machines stop; the DR state says active at the primary
 */
import type { DrChange, JobData, JobPlan, Step } from '../plan.js';
import { applyNodeTask, type Decision, storeStep, taskSteps } from '../plan.js';

export type FailbackMethod = 'object-store';

export interface FailbackParams {
  method: FailbackMethod;
  lineage: string;
  primaryNode: string;
  primaryVolume: string;
  primarySite: string;
  secondarySite: string;
  secondaryNode: string;
  secondaryVolume: string;
  store: string;
  baseGeneration: string;
  consistencyOwed: boolean;
  /** Blocks the secondary changed since failover, when the job was made (for the report). */
  changedBlocks: number | null;
  blockSizeBytes: number | null;
}

function step(name: string, spec: string | null, title: string, effect: Step['effect']): Decision {
  return { step: { name, spec, title, effect } };
}

function common(p: FailbackParams, data: JobData, jobId: string): Decision | null {
  if (p.consistencyOwed && !data.ca)
    return step(
      'ca',
      'S301-S303',
      `consistency assurance of ${p.primaryVolume} on ${p.primaryNode}, owed since failover`,
      {
        type: 'assure-consistency',
        node: p.primaryNode,
        volume: p.primaryVolume,
        store: p.store,
        generation: p.baseGeneration,
        taskId: `${jobId}.ca`,
        required: true,
      },
    );
  if (!data.ids)
    return step('ids', 'S503', `compare the unique IDs of ${p.primaryVolume} and ${p.secondaryVolume}`, {
      type: 'compare-ids',
      node: p.primaryNode,
      volume: p.primaryVolume,
      lineage: p.lineage,
    });
  return null;
}

function finish(p: FailbackParams, data: JobData, jobId: string, moved: Record<string, unknown>): Decision {
  if (!data.hosts)
    return step('hosts', 'S904', `start the hosts of ${p.primaryVolume} at the primary`, {
      type: 'host-hook',
      site: p.primarySite,
      event: 'start-hosts',
      node: p.primaryNode,
      volume: p.primaryVolume,
    });
  if (!data.unfence)
    return step('unfence', 'S905', `the primary ${p.primaryNode} accepts host I/O on ${p.primaryVolume}`, {
      type: 'fence',
      node: p.primaryNode,
      volume: p.primaryVolume,
      fenced: false,
    });
  if (!data.teardown)
    return step('teardown', 'S906', `stop the secondary's machines (site ${p.secondarySite})`, {
      type: 'teardown-site',
      site: p.secondarySite,
      node: p.secondaryNode,
    });
  if (!data.record) {
    const records: DrChange[] = [
      {
        lineage: p.lineage,
        primaryNode: p.primaryNode,
        primaryVolume: p.primaryVolume,
        set: {
          active: 'primary',
          state: 'failed-back',
          failbackJob: jobId,
          failedBackAt: 'now',
          secondaryNode: null,
          secondaryVolume: null,
        },
      },
    ];
    return step('record', null, `record ${p.primaryVolume} as active at the primary`, {
      type: 'record-dr',
      records,
    });
  }
  return {
    done: { method: p.method, volume: p.primaryVolume, ...moved },
    message: `${p.primaryVolume} is back at ${p.primaryNode}: ${moved.blocksMoved} blocks (${moved.bytesMoved} bytes) moved for ${p.changedBlocks ?? '?'} changed`,
  };
}

export const failbackPlan: JobPlan<FailbackParams> = {
  kind: 'failback',
  title: (p) => `failback of ${p.primaryVolume} from site ${p.secondarySite} by ${p.method}`,
  lockKey: (p) => `dr:${p.primaryNode}`,

  next(p, data, jobId): Decision {
    const c = common(p, data, jobId);
    if (c) return c;
    const ids = data.ids as { equal: boolean };
    const atBase = !p.consistencyOwed || !!data.ca;
    const delta = ids.equal && atBase;
    // S801: stop the secondary's hosts and their I/O, so the bitmap and the volume hold still.
    if (!data.stop)
      return step('stop', 'S801', `stop the hosts of ${p.secondaryVolume} at site ${p.secondarySite}`, {
        type: 'host-hook',
        site: p.secondarySite,
        event: 'stop-hosts',
        node: p.secondaryNode,
        volume: p.secondaryVolume,
      });
    if (!data.fence)
      return step('fence', 'S801', `stop host I/O on ${p.secondaryVolume} at ${p.secondaryNode}`, {
        type: 'fence',
        node: p.secondaryNode,
        volume: p.secondaryVolume,
        fenced: true,
      });
    const store = storeStep(data, p.secondaryNode, p.store);
    if (store) return { step: store };
    const nplus1 = taskSteps(
      jobId,
      data,
      'n.',
      {
        node: p.secondaryNode,
        op: 'backup',
        body: {
          volume: p.secondaryVolume,
          store: p.store,
          method: 'incremental',
          from: { bitmap: 'since-restore', parent: p.baseGeneration },
        },
      },
      {
        start: 'S802-S803',
        wait: 'S803-S806',
        what: `generation N+1 of ${p.secondaryVolume} (its changes since failover)`,
      },
    );
    if (nplus1) return { step: nplus1 };
    const gen = data['n.task'] as { generationKey: string; blocks: number; bytesStored: number };
    const pstore = storeStep(data, p.primaryNode, p.store, 'pstore');
    if (pstore) return { step: pstore };
    const back = taskSteps(
      jobId,
      data,
      'back.',
      {
        node: p.primaryNode,
        op: 'restore',
        body: {
          store: p.store,
          generation: gen.generationKey,
          volume: p.primaryVolume,
          overwrite: true,
          ...(delta ? { onlyNewest: true } : {}),
        },
      },
      {
        start: 'S902-S903',
        wait: 'S903',
        what: delta ? 'apply generation N+1 only' : 'restore the whole chain (the IDs or the base differ)',
      },
    );
    if (back) return { step: back };
    const restored = data['back.task'] as { bytesCopied: number; bytesZeroed: number };
    return finish(p, data, jobId, {
      delta,
      ...(delta
        ? {}
        : {
            why: ids.equal
              ? 'the primary is not known to sit at the base generation'
              : 'the unique IDs differ',
          }),
      generation: gen.generationKey,
      blocksMoved: gen.blocks,
      bytesStored: gen.bytesStored,
      bytesMoved: restored.bytesCopied + restored.bytesZeroed,
      changedBlocks: p.changedBlocks,
    });
  },

  apply: applyNodeTask,
};
