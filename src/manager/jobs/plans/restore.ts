/**
 * A restore job (SPEC Fig. 17, S201-S211): register the store on the destination node,
 * run the node's restore (resolve the chain S201-S204, apply the blocks S205-S208, give
 * the volume the source's name and unique ID S209-S210, start its since-restore bitmap
 * S211), then refresh the registry's view of the node.
 */
import { applyNodeTask, type Decision, type JobPlan, nodeTaskSteps } from '../plan.js';

export interface RestoreParams {
  node: string;
  store: string;
  generation: string;
  /** Destination volume; the source's name when left out. */
  volume?: string;
  overwrite?: boolean;
}

export const restorePlan: JobPlan<RestoreParams> = {
  kind: 'restore',
  title: (p) => `restore ${p.generation} from ${p.store} onto ${p.node}${p.volume ? ` as ${p.volume}` : ''}`,
  lockKey: (p) => `restore:${p.node}:${p.volume ?? p.generation}`,

  next(p, data, jobId): Decision {
    const task = nodeTaskSteps(
      jobId,
      data,
      {
        node: p.node,
        store: p.store,
        op: 'restore',
        body: {
          store: p.store,
          generation: p.generation,
          ...(p.volume ? { volume: p.volume } : {}),
          ...(p.overwrite ? { overwrite: true } : {}),
        },
      },
      { start: 'S201', wait: 'S201-S211', what: `restore of ${p.generation}` },
    );
    if (task) return { step: task };
    if (!data.sync)
      return {
        step: {
          name: 'sync',
          spec: 'Fig. 7',
          title: `refresh the volumes of ${p.node}`,
          effect: { type: 'sync-node', node: p.node },
        },
      };
    const r = data.task as Record<string, unknown>;
    return { done: r, message: `restored into ${r.volume ?? p.volume ?? 'the source volume'}` };
  },

  apply: applyNodeTask,
};
