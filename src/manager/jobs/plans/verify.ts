/**
 * A verify job: a node re-reads every block of a generation (or of every generation of a
 * lineage, or of the whole store) and checks it; a damaged or missing object fails the
 * job with its key named.
 */
import { ReboundError } from '../../../errors.js';
import { applyNodeTask, type Decision, type JobPlan, nodeTaskSteps } from '../plan.js';

export interface VerifyParams {
  node: string;
  store: string;
  generation?: string;
  uniqueId?: string;
}

export const verifyPlan: JobPlan<VerifyParams> = {
  kind: 'verify',
  title: (p) => `verify ${p.generation ?? p.uniqueId ?? 'every generation'} in ${p.store}`,
  lockKey: () => null,

  next(p, data, jobId): Decision {
    const task = nodeTaskSteps(
      jobId,
      data,
      {
        node: p.node,
        store: p.store,
        op: 'verify',
        body: {
          ...(p.generation ? { generation: p.generation } : {}),
          ...(p.uniqueId ? { uniqueId: p.uniqueId } : {}),
        },
      },
      { start: null, wait: null, what: 'verify' },
    );
    if (task) return { step: task };
    const r = data.task as {
      ok: boolean;
      blocksChecked: number;
      problems: { key: string; message: string }[];
    };
    if (!r.ok) {
      // A pure plan may still end in failure: the runner records the error.
      throw new ReboundError(
        'BACKUP_OBJECT_CORRUPT',
        `verify found ${r.problems.length} problem(s): ${r.problems
          .slice(0, 3)
          .map((x) => `${x.key}: ${x.message}`)
          .join('; ')}`,
        { detail: { problems: r.problems.slice(0, 100) } },
      );
    }
    return { done: r, message: `verified: ${r.blocksChecked} blocks, no problem` };
  },

  apply: applyNodeTask,
};
