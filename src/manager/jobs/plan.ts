/**
 * A job is a plan of pure transitions plus a runner (runner.ts) that records state before
 * each effect (STYLE.md point 7). A plan never does I/O: given the job's parameters and
 * what its steps have learned so far (`data`), `next` says which step comes next, as data
 * (an Effect), or that the job is done; `apply` folds a step's result into `data`. The
 * runner persists the step before running its effect and the new data after, so a
 * manager restarted at any point asks `next` again and carries on from the last step it
 * recorded. Effects are therefore written to be safe to run twice (effects.ts).
 */
import type { PruneBody } from '../../node/api-schema.js';

export type JobData = Record<string, unknown>;

/** Node tasks a job can start (effects.ts maps each to its node API call). */
export type TaskOp = 'backup' | 'restore' | 'verify' | 'revert' | 'local-copy';

/** What a step does, as data; effects.ts runs each type. */
export type Effect =
  /** Push the store's registration to the node unless it has it (SPEC Fig. 9, S103). */
  | { type: 'ensure-store'; node: string; store: string }
  /** Start a node task under a job-chosen ID (idempotent: asking again returns the same task). */
  | {
      type: 'start-task';
      node: string;
      op: TaskOp;
      taskId: string;
      body: Record<string, unknown>;
      store?: string;
    }
  /** Follow a node task to its end, reporting its progress; `lost` when the node forgot it. */
  | { type: 'wait-task'; node: string; taskId: string }
  /** Mark the volume backed up (SPEC Fig. 7) and refresh the node's volumes. */
  | { type: 'record-backup'; node: string; volume: string }
  | { type: 'sync-node'; node: string }
  /** Apply retention rules to the volume's generations in the store. */
  | { type: 'prune'; node: string; store: string; rules: PruneBody }
  /** Build (or find) the site's storage node with its provider and register it (S101-S102). */
  | { type: 'build-site'; site: string; nodeName: string }
  /** Start the site's node again (build-site), unless it is gone (torn down meanwhile). */
  | { type: 'start-site'; site: string; nodeName: string }
  /** The generation to restore: the one asked for, else the newest of the lineage (S104). */
  | { type: 'pick-generation'; node: string; store: string; lineage: string; generation: string | null }
  /** The operator's start-hosts / stop-hosts command for a volume (S106-S107, S405, S801). */
  | { type: 'host-hook'; site: string; event: 'start-hosts' | 'stop-hosts'; node: string; volume: string }
  /**
   * Consistency assurance on the primary (S301-S303) as a node task; a primary that does
   * not answer is not waited for: the assurance is recorded as owed (done before failback).
   */
  | {
      type: 'assure-consistency';
      node: string;
      volume: string;
      store: string;
      generation: string;
      /**
       * The snapshot that keeps the primary's drift (S302), named for the job that takes it:
       * a snapshot kept by an earlier failover must not stand in for this one's.
       */
      snapshot: string;
      taskId: string;
      /** At failback the primary must answer: an unreachable one pauses the job instead. */
      required?: boolean;
    }
  /** Stop (fence) or start (unfence) host I/O on a volume (S301, S407, S801, S905). */
  | { type: 'fence'; node: string; volume: string; fenced: boolean }
  /** Delete these bitmaps of a volume (a name already gone is fine). */
  | { type: 'forget-bitmaps'; node: string; volume: string; names: string[] }
  | PremarkEffect
  /** S503 / S704: the destination's unique ID against the lineage the secondary inherited. */
  | { type: 'compare-ids'; node: string; volume: string; lineage: string }
  /** S408 / S710 / S906: stop the secondary's machines and forget its node. */
  /** Kept (outcome 'kept') while other lineages are still failed over to the site. */
  | { type: 'teardown-site'; site: string; node: string; lineage: string }
  /**
   * S403, S501-S505: a copy pair from the secondary volume to the primary's export over
   * NBD with TLS (the target from nbd-target.ts, the key named by the pair `name`); the
   * pair journals first, then freezes `freezeFrom` into `bitmap` (S502 before S501).
   */
  | {
      type: 'start-pair';
      node: string;
      volume: string;
      name: string;
      targetNode: string;
      targetVolume: string;
      mode: 'delta' | 'full';
      bitmap: string;
      freezeFrom: string;
      /** A delta: premark the target while the pair connects (the set read first). */
      premark?: PremarkEffect;
    }
  /**
   * Keep the primary volume for the failback's TLS connection (nbd-target.ts): the
   * manager's key installed on the primary, which opens the volume for nothing else.
   * `name` names the key (the pair). Before the volume takes writes.
   */
  | { type: 'reserve-target'; node: string; volume: string; name: string }
  /** The pair is gone: remove its key; the volume opens for hosts again. */
  | { type: 'release-target'; node: string; volume: string; name: string }
  /** S506-S507: wait until the initial copy is done and the pair streams its journal. */
  | { type: 'wait-pair'; node: string; volume: string; name: string }
  /** S406 to the end: the pair drains its journal (the volume is fenced) and is released. */
  | { type: 'release-pair'; node: string; volume: string; name: string }
  /**
   * S702: attach the primary's export (`targetNode`/`targetVolume`) as virtual volume
   * `name` of `node` over NBD (idempotent on the name).
   */
  | {
      type: 'attach-external';
      node: string;
      name: string;
      targetNode: string;
      targetVolume: string;
      /** Names the TLS key (nbd-target.ts): the job, as for a pair. */
      keyName: string;
      /** A delta: premark the target while the virtual volume connects (the set read first). */
      premark?: PremarkEffect;
    }
  /** S708: flush and disconnect the virtual volume (done when it is gone already). */
  | { type: 'detach-external'; node: string; name: string }
  /**
   * Verify: each node hashes its volume and the manager compares the hashes; not
   * identical fails the step with VOLUMES_DIFFER (the first differing blocks in detail).
   * With `changedIn`, only the blocks set in those bitmaps of the other volume (the ones
   * that exist) are compared; none of them there: every block is.
   */
  | {
      type: 'compare-volumes';
      node: string;
      volume: string;
      otherNode: string;
      otherVolume: string;
      /** Compare only the blocks set in these bitmaps of the other volume (a delta's changes). */
      changedIn?: string[];
      /**
       * With changedIn: also the blocks volume changed since this generation (its
       * incremental backup bitmap from it): what consistency assurance rewrote.
       */
      driftSince?: string;
      /**
       * The other volume is the source a delta copy just read: it may answer a block with
       * the hash the copy took as it read it, unchanged since (volume/hash-memo.ts).
       */
      otherHashesFromCopy?: boolean;
    }
  /** Record where each volume is active now (the DR state). */
  | { type: 'record-dr'; records: DrChange[] };

/**
 * Mark, in the active bitmaps of `volume` at `node`, the blocks set in `changedIn` of
 * `fromVolume` at `fromNode` (those it has), before a copy writes them: one durable
 * commit instead of one per write (a write the marks have not reached marks itself).
 */
export interface PremarkEffect {
  type: 'premark';
  node: string;
  volume: string;
  fromNode: string;
  fromVolume: string;
  changedIn: string[];
}

/** What a DR step records for one volume (merged over what is known of it). */
export interface DrChange {
  lineage: string;
  primaryNode: string;
  primaryVolume: string;
  set: Record<string, unknown>;
}

export interface Step {
  /** Unique within the job; the step log and `job.step` use it. */
  name: string;
  /** SPEC step or figure numbers this step carries out ("S201-S208", "Fig. 10"). */
  spec: string | null;
  /** One line for the step log. */
  title: string;
  effect: Effect;
}

export type Decision = { step: Step } | { done: Record<string, unknown>; message: string };

export interface JobPlan<P = Record<string, unknown>> {
  kind: string;
  title(params: P): string;
  /** At most one active job per key; null for none. */
  lockKey(params: P): string | null;
  next(params: P, data: JobData, jobId: string): Decision;
  apply(data: JobData, step: Step, result: unknown): JobData;
  /** One line for the step log when a step ends. */
  describe?(step: Step, result: unknown): string;
}

/** The usual `apply`: remember each step's result under its name. */
export function remember(data: JobData, step: Step, result: unknown): JobData {
  return { ...data, [step.name]: result ?? true };
}

/** A node task's outcome as wait-task reports it. */
export type TaskOutcome = { lost: true } | { lost: false; result: Record<string, unknown> };

/**
 * The snapshot in which consistency assurance keeps the primary's drift (S302), named for
 * the job that takes it: each failover keeps its own, a repeated step finds its own, and
 * the operator can tell them apart (and delete them once nothing in them is wanted).
 */
export function keptSnapshotName(jobId: string): string {
  return `before-failback-${jobId}`;
}

/** The job log's line for an assure-consistency step's outcome. */
export function describeConsistency(r: Record<string, unknown>): string {
  if (r.owed) return `owed: ${r.reason}`;
  const what = r.mode === 'delta' ? `${r.blocks} drifted blocks` : `every block (${r.reason})`;
  return `done: primary fenced, snapshot ${r.snapshot} kept, ${what} brought back to the base`;
}

/** Register the store on a node, once per job (SPEC Fig. 9, S103). */
export function storeStep(data: JobData, node: string, store: string, name = 'store'): Step | null {
  if (data[name]) return null;
  return {
    name,
    spec: 'Fig. 9',
    title: `make sure node ${node} has store ${store} registered`,
    effect: { type: 'ensure-store', node, store },
  };
}

/**
 * Run one node task: start it under an ID derived from the job and the step (attempt n),
 * then follow it. When the node forgot the task (it restarted), the attempt number goes
 * up and the task starts again: backup, restore, verify, revert and local copy are safe
 * to repeat (an unfinished backup has no catalog and is invisible; a restore or a local
 * copy rewrites the same blocks).
 * Steps are named `<prefix>start` and `<prefix>task`; the outcome lands in
 * `data[<prefix>task]`.
 */
export function taskSteps(
  jobId: string,
  data: JobData,
  prefix: string,
  task: { node: string; op: TaskOp; body: Record<string, unknown>; store?: string },
  spec: { start: string | null; wait: string | null; what: string },
): Step | null {
  const attempt = (data[`${prefix}attempt`] as number | undefined) ?? 1;
  const taskId = `${jobId}.${prefix}${attempt}`;
  if (!data[`${prefix}start`])
    return {
      name: `${prefix}start`,
      spec: spec.start,
      title: `start the ${spec.what} on node ${task.node}${attempt > 1 ? ` (attempt ${attempt})` : ''}`,
      effect: {
        type: 'start-task',
        node: task.node,
        op: task.op,
        taskId,
        body: task.body,
        ...(task.store ? { store: task.store } : {}),
      },
    };
  if (!data[`${prefix}task`])
    return {
      name: `${prefix}task`,
      spec: spec.wait,
      title: `${spec.what} on node ${task.node} (task ${taskId})`,
      effect: { type: 'wait-task', node: task.node, taskId },
    };
  return null;
}

/** The steps of a job that runs one node task: the store, then the task. */
export function nodeTaskSteps(
  jobId: string,
  data: JobData,
  task: { node: string; store: string; op: TaskOp; body: Record<string, unknown> },
  spec: { start: string | null; wait: string | null; what: string },
): Step | null {
  return storeStep(data, task.node, task.store) ?? taskSteps(jobId, data, '', task, spec);
}

/** `apply` for plans built on taskSteps: a lost task means start again. */
export function applyNodeTask(data: JobData, step: Step, result: unknown): JobData {
  if (step.effect.type === 'wait-task') {
    const prefix = step.name.slice(0, -'task'.length);
    if ((result as TaskOutcome).lost) {
      const { [`${prefix}start`]: _s, [step.name]: _t, ...rest } = data;
      return { ...rest, [`${prefix}attempt`]: ((data[`${prefix}attempt`] as number | undefined) ?? 1) + 1 };
    }
    return { ...data, [step.name]: (result as { result: unknown }).result };
  }
  return remember(data, step, result);
}
