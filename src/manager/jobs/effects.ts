/**
 * The runner's hands: each Effect type of plan.ts done against the registry and the
 * nodes. Every effect is safe to run twice, because a manager that dies after an effect
 * but before recording its result runs it again: registering a store the node already
 * has is skipped, a node task is started under the job's ID (the node returns the same
 * task), following a task is a read, recording a backup or syncing sets the same state.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isReboundError, ReboundError } from '../../errors.js';
import type { TaskView } from '../../node/api-schema.js';
import type { NodeClient } from '../../node/client.js';
import { isoTime } from '../clock.js';
import type { JobProgress } from '../db/types.js';
import type { Registry } from '../registry.js';
import type { Effect, TaskOp, TaskOutcome } from './plan.js';

export interface EffectContext {
  registry: Registry;
  /** Aborted on cancel (reason 'cancel') and on manager shutdown (reason 'shutdown'). */
  signal: AbortSignal;
  progress(p: JobProgress): void;
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
  }
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
  }
}

/**
 * Follow a node task until it ends. A node that restarted no longer knows the task:
 * `lost`, and the plan starts it again. Cancel asks the node to cancel and waits for the
 * task to stop, so nothing keeps writing after the job says cancelled.
 */
async function waitTask(client: NodeClient, taskId: string, ctx: EffectContext): Promise<TaskOutcome> {
  let cancelSent = false;
  for (;;) {
    let task: TaskView;
    try {
      task = await client.getTask(taskId);
    } catch (err) {
      if (isReboundError(err, 'NOT_FOUND')) return { lost: true };
      throw err;
    }
    if (task.progress) ctx.progress(task.progress);
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
    await sleep(ctx.pollMs).catch(() => undefined);
  }
}
