/**
 * A backup job (SPEC Fig. 10 to 14): register the store on the volume's node, run the
 * node's backup (the node freezes the backup bitmap, snapshots, writes data, metadata
 * and, last, the catalog), record the volume as backed up (Fig. 7), then apply the
 * setting's retention rules.
 */
import type { BackupMethod, RetentionRules, VolumeRecord } from '../../db/types.js';
import { applyNodeTask, type Decision, type JobPlan, nodeTaskSteps, type Step } from '../plan.js';

export interface BackupParams {
  /** The volume's unique ID, its node and its name when the job was made. */
  volume: string;
  node: string;
  volumeName: string;
  /** The unique ID its generations are filed under: the inherited one, else its own. */
  lineage: string;
  store: string;
  method: BackupMethod;
  retention?: RetentionRules | null;
}

/** The parameters of a backup job of volume `v` as the registry knows it now. */
export function backupParams(
  v: VolumeRecord,
  store: string,
  method: BackupMethod,
  retention: RetentionRules | null,
): BackupParams {
  return {
    volume: v.uniqueId,
    node: v.node,
    volumeName: v.name,
    lineage: v.inheritedUniqueId ?? v.uniqueId,
    store,
    method,
    retention,
  };
}

export const backupPlan: JobPlan<BackupParams> = {
  kind: 'backup',
  title: (p) => `${p.method} backup of ${p.volumeName} (${p.volume}) to ${p.store}`,
  lockKey: (p) => `volume:${p.volume}`,

  next(p, data, jobId): Decision {
    const task = nodeTaskSteps(
      jobId,
      data,
      {
        node: p.node,
        store: p.store,
        op: 'backup',
        body: { volume: p.volumeName, store: p.store, method: p.method },
      },
      { start: 'Fig. 10', wait: 'Fig. 11-14', what: `${p.method} backup of ${p.volumeName}` },
    );
    if (task) return { step: task };
    if (!data.record)
      return {
        step: {
          name: 'record',
          spec: 'Fig. 7',
          title: `record ${p.volumeName} as backed up`,
          effect: { type: 'record-backup', node: p.node, volume: p.volume },
        },
      };
    const rules = p.retention;
    if (rules && Object.values(rules).some((n) => n !== undefined) && !data.prune)
      return {
        step: {
          name: 'prune',
          spec: null,
          title: `apply retention (${Object.entries(rules)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')})`,
          effect: {
            type: 'prune',
            node: p.node,
            store: p.store,
            rules: { uniqueId: p.lineage, ...rules },
          },
        },
      };
    const r = data.task as Record<string, unknown>;
    return {
      done: { ...r, ...(data.prune ? { retention: data.prune } : {}) },
      message: `generation ${r.generationKey} written (${r.method}${r.reason ? `: ${r.reason}` : ''})`,
    };
  },

  apply: applyNodeTask,

  describe(step: Step, result: unknown): string {
    if (step.name !== 'task' || (result as { lost?: boolean }).lost) return `${step.title}: done`;
    const r = (result as { result: Record<string, unknown> }).result;
    return `backup written: ${r.method}, ${r.blocks} blocks, ${r.bytesRead} bytes read, ${r.bytesStored} stored${r.reason ? ` (${r.reason})` : ''}`;
  },
};
