/**
 * Failback of one volume to its primary. The method decides how the changed blocks go
 * home; what comes before and after is common:
 *
 *   ids       S503 / S704: the destination's unique ID against the lineage the secondary
 *             inherited. Equal, and the primary sits at the base generation: only the
 *             blocks the secondary changed move; different (S401: the user picked another
 *             volume): everything moves
 *   ca        consistency assurance (S301-S303) if it was owed at failover and the IDs are
 *             equal: the primary must answer now (the job pauses until it does). After
 *             the IDs, because on another volume it would revert a volume that is not the
 *             lineage's to the lineage's backup, for nothing: every block moves anyway
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

export type FailbackMethod = 'object-store' | 'remote-copy';

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
  if (!data.ids)
    return step('ids', 'S503', `compare the unique IDs of ${p.primaryVolume} and ${p.secondaryVolume}`, {
      type: 'compare-ids',
      node: p.primaryNode,
      volume: p.primaryVolume,
      lineage: p.lineage,
    });
  if (p.consistencyOwed && (data.ids as { equal: boolean }).equal && !data.ca)
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
  return null;
}

/** The SPEC step numbers of the common end, per method. */
const END_SPEC = {
  'object-store': { hosts: 'S904', unfence: 'S905', teardown: 'S906' },
  'remote-copy': { hosts: 'S405', unfence: 'S407', teardown: 'S408' },
} as const;

function finish(p: FailbackParams, data: JobData, jobId: string, moved: Record<string, unknown>): Decision {
  const spec = END_SPEC[p.method];
  if (!data.hosts)
    return step('hosts', spec.hosts, `start the hosts of ${p.primaryVolume} at the primary`, {
      type: 'host-hook',
      site: p.primarySite,
      event: 'start-hosts',
      node: p.primaryNode,
      volume: p.primaryVolume,
    });
  if (!data.unfence)
    return step(
      'unfence',
      spec.unfence,
      `the primary ${p.primaryNode} accepts host I/O on ${p.primaryVolume}`,
      {
        type: 'fence',
        node: p.primaryNode,
        volume: p.primaryVolume,
        fenced: false,
      },
    );
  if (!data.teardown)
    return step('teardown', spec.teardown, `stop the secondary's machines (site ${p.secondarySite})`, {
      type: 'teardown-site',
      site: p.secondarySite,
      node: p.secondaryNode,
      lineage: p.lineage,
    });
  if (!data.record) {
    const records: DrChange[] = [
      {
        lineage: p.lineage,
        primaryNode: p.primaryNode,
        primaryVolume: p.primaryVolume,
        set: {
          // The destination the user picked (S401) is where the volume now lives.
          primaryNode: p.primaryNode,
          primaryVolume: p.primaryVolume,
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

/**
 * By remote copy with a journal (S401-S408, S501-S507): the primary volume takes the
 * pair's writes (S404; its hosts start only at S405, after the pair is released), the
 * secondary journals its writes and freezes its since-restore bitmap (S502, S501), copies
 * those blocks, or every block when the IDs or the base differ (S503-S505), and streams
 * its journal while its hosts go on writing (S406); then its hosts stop, its I/O is
 * fenced and the pair drains and is released. The pair runs over TLS with a key the
 * manager makes for the job; the primary volume opens for nothing else meanwhile
 * (reserve ... unreserve, nbd-target.ts).
 */
function remoteCopy(
  p: FailbackParams,
  data: JobData,
  jobId: string,
  delta: boolean,
  why: Record<string, string>,
): Decision {
  // Before the primary volume takes writes: from here on it opens only for the pair's TLS
  // connection (a plain host cannot write into it mid-failback), with the manager's key.
  if (!data.reserve)
    return step(
      'reserve',
      'S404',
      `keep ${p.primaryNode}/${p.primaryVolume} for the pair's TLS connection (a key made for this job)`,
      { type: 'reserve-target', node: p.primaryNode, volume: p.primaryVolume, name: jobId },
    );
  if (!data.accept)
    return step(
      'accept',
      'S404',
      `${p.primaryVolume} at ${p.primaryNode} takes the pair's writes (hosts start at S405)`,
      {
        type: 'fence',
        node: p.primaryNode,
        volume: p.primaryVolume,
        fenced: false,
      },
    );
  if (!data.pair)
    return step(
      'pair',
      delta ? 'S403, S501-S504' : 'S403, S501-S503, S505',
      `copy pair ${p.secondaryVolume} -> ${p.primaryNode}/${p.primaryVolume}: ${delta ? 'the changed blocks' : 'every block'}`,
      {
        type: 'start-pair',
        node: p.secondaryNode,
        volume: p.secondaryVolume,
        name: jobId,
        targetNode: p.primaryNode,
        targetVolume: p.primaryVolume,
        mode: delta ? 'delta' : 'full',
        bitmap: `fb-${jobId}`,
        freezeFrom: 'since-restore',
      },
    );
  if (!data.copy)
    return step('copy', 'S506-S507', 'initial copy until every block is sent and acknowledged', {
      type: 'wait-pair',
      node: p.secondaryNode,
      volume: p.secondaryVolume,
      name: jobId,
    });
  if (!data.stop)
    return step('stop', 'S406', `stop the hosts of ${p.secondaryVolume} at site ${p.secondarySite}`, {
      type: 'host-hook',
      site: p.secondarySite,
      event: 'stop-hosts',
      node: p.secondaryNode,
      volume: p.secondaryVolume,
    });
  if (!data.fence)
    return step('fence', 'S406', `stop host I/O on ${p.secondaryVolume} so the journal can drain`, {
      type: 'fence',
      node: p.secondaryNode,
      volume: p.secondaryVolume,
      fenced: true,
    });
  if (!data.release)
    return step('release', 'S406', 'drain the journal to the primary and release the pair', {
      type: 'release-pair',
      node: p.secondaryNode,
      volume: p.secondaryVolume,
      name: jobId,
    });
  if (!data.unreserve)
    return step('unreserve', 'S406', `the pair is released: remove its key from ${p.primaryNode}`, {
      type: 'release-target',
      node: p.primaryNode,
      volume: p.primaryVolume,
      name: jobId,
    });
  const r = data.release as {
    blocksCopied: number;
    bytesCopied: number;
    entriesShipped: number;
    bytesShipped: number;
  };
  return finish(p, data, jobId, {
    delta,
    ...why,
    blocksMoved: r.blocksCopied,
    bytesMoved: r.bytesCopied + r.bytesShipped,
    journalEntries: r.entriesShipped,
    changedBlocks: p.changedBlocks,
    // The primary's account of the pair's connections: TLS, authenticated by the job's key.
    tls: data.unreserve,
  });
}

export const failbackPlan: JobPlan<FailbackParams> = {
  kind: 'failback',
  title: (p) => `failback of ${p.primaryVolume} from site ${p.secondarySite} by ${p.method}`,
  lockKey: (p) => `dr:${p.primaryNode}`,

  next(p, data, jobId): Decision {
    const c = common(p, data, jobId);
    if (c) return c;
    const ids = data.ids as { equal: boolean; destination: string; lineage: string; blockSizeBytes?: number };
    const atBase = !p.consistencyOwed || !!data.ca;
    const delta = ids.equal && atBase;
    const why: Record<string, string> = delta
      ? {}
      : {
          why: ids.equal
            ? 'the primary is not known to sit at the base generation'
            : `the unique IDs differ: ${p.primaryVolume} is ${ids.destination}, the lineage ${ids.lineage}`,
        };
    if (p.method === 'remote-copy') return remoteCopy(p, data, jobId, delta, why);
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
      ...why,
      generation: gen.generationKey,
      // A delta applies generation N+1's blocks; a full restore writes every block of the
      // volume (zeros included), like a full remote copy (S505).
      blocksMoved: delta
        ? gen.blocks
        : Math.ceil(
            (restored.bytesCopied + restored.bytesZeroed) / (ids.blockSizeBytes ?? p.blockSizeBytes ?? 65536), // older jobs: no ids.blockSizeBytes
          ),
      bytesStored: gen.bytesStored,
      bytesMoved: restored.bytesCopied + restored.bytesZeroed,
      changedBlocks: p.changedBlocks,
    });
  },

  apply: applyNodeTask,

  describe(step, result) {
    const r = result as Record<string, unknown>;
    if (step.effect.type === 'teardown-site' && r.outcome === 'kept')
      return `the secondary is kept: ${(r.stillFailedOver as string[]).join(', ')} still failed over to site ${step.effect.site}`;
    if (step.effect.type === 'teardown-site') return `${step.title}: ${r.outcome}`;
    return `${step.title}: done`;
  },
};
