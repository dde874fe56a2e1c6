/**
 * Failback of one volume to its primary. The method decides how the changed blocks go
 * home; what comes before and after is common:
 *
 *   ids       S503 / S704: the destination's unique ID against the lineage the secondary
 *             inherited. Equal, and the primary sits at the base generation: only the
 *             blocks the secondary changed move; different (S401: the user picked another
 *             volume): everything moves (external method
 *             with `readIdFrom: 'primary'`: the secondary compares, below)
 *   ca        consistency assurance (S301-S303) if it was owed at failover and the IDs are
 *             equal: the primary must answer now (the job pauses until it does). After
 *             the IDs, because on another volume it would revert a volume that is not the
 *             lineage's to the lineage's backup, for nothing: every block moves anyway
 *
 * and, after the method's last write, before anything starts on the primary:
 *
 *   verify    each node hashes its volume, the manager compares the hashes (only they
 *             cross the network): not identical fails the job (VOLUMES_DIFFER) with the
 *             primary's hosts not started and the secondary left up. A delta compares
 *             the changed blocks (verify 'changed', the default: the secondary's
 *             since-restore bitmap and what froze out of it, and the primary's own
 *             changes since the base generation, which consistency assurance rewrote),
 *             every other block being equal by the unique ID and the base generation;
 *             verify 'full', and every full copy, compare every block
 *
 * Through the object store (S801-S806, S901-S906):
 *   stop      S801 the secondary's hosts stop (hook) and its host I/O is fenced
 *   n.*       S802-S806 the secondary writes generation N+1 from its since-restore bitmap,
 *             parent = the failover's base generation; meanwhile the primary registers
 *             the store and (a delta) premarks its bitmaps with the blocks N+1 brings
 *   back.*    S901-S903 the primary applies only that generation (IDs equal), else the
 *             whole chain
 *   start     S904 the primary's hosts start (hook); S905 the primary accepts I/O (unfence)
 *   teardown  S906 the secondary's machines stop; the DR state says active at the primary
 *
 * By external volume virtualization (S701-S710), see `external` below.
 */

import { formatBytes } from '../../../units.js';
import type { DrChange, JobData, JobPlan, PremarkEffect, Step } from '../plan.js';
import {
  applyNodeTask,
  type Decision,
  describeConsistency,
  keptSnapshotName,
  storeStep,
  taskSteps,
} from '../plan.js';

export type FailbackMethod = 'object-store' | 'remote-copy' | 'external';

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
  /**
   * External method, S704: 'manager' (the default) compares the IDs in the common `ids`
   * step; 'primary' is the variant of SPEC Fig. 27-28: the secondary compares its
   * lineage with the ID the primary itself gives for the attached export.
   */
  readIdFrom?: 'manager' | 'primary';
  /** What the verify step compares after a delta (default 'changed'); a full copy: 'full'. */
  verify?: 'changed' | 'full';
  baseGeneration: string;
  consistencyOwed: boolean;
  /** Blocks the secondary changed since failover, when the job was made (for the report). */
  changedBlocks: number | null;
  blockSizeBytes: number | null;
  /** The bytes of the grains written in them (4 KiB of a 64 KiB block); absent in jobs from before grains. */
  changedBytes?: number | null;
}

function step(name: string, spec: string | null, title: string, effect: Step['effect']): Decision {
  return { step: { name, spec, title, effect } };
}

function common(p: FailbackParams, data: JobData, jobId: string): Decision | null {
  // External method, Fig. 27-28: the secondary compares the IDs itself (below), so the
  // manager neither compares nor, without knowing them equal, assures consistency: when
  // it is owed, that method copies everything.
  if (p.method === 'external' && p.readIdFrom === 'primary') return null;
  if (!data.ids)
    return step(
      'ids',
      p.method === 'external' ? 'S704' : 'S503',
      `compare the unique IDs of ${p.primaryVolume} and ${p.secondaryVolume}`,
      {
        type: 'compare-ids',
        node: p.primaryNode,
        volume: p.primaryVolume,
        lineage: p.lineage,
      },
    );
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
        snapshot: keptSnapshotName(jobId),
        taskId: `${jobId}.ca`,
        required: true,
      },
    );
  return null;
}

/**
 * The frozen bitmaps (S501) of a failback's copy: a pair's one, external's two passes.
 * Named for the volume, not the job: a failback run again after a failed one, by any
 * method, freezes into (merges with) the same bitmap, so the blocks the failed run took
 * out of since-restore are copied again.
 */
const FROZEN = ['failback.1', 'failback.2'] as const;
/** The secondary's update bitmap since the restore of the failover (S211). */
const SINCE_RESTORE = 'since-restore';
/** Every block the secondary changed since failover: what a delta moves and verify compares. */
const CHANGED = [SINCE_RESTORE, ...FROZEN];

/**
 * Before a delta writes into the primary volume: its active bitmaps (its backups' record
 * of what changes) get the blocks about to come in one durable commit, so no write of
 * the copy waits for a bitmap commit of its own (S404 / S702 / S902: the primary takes
 * the writes). Blocks written at the secondary after this are marked as they come, and
 * so is a block whose write comes before the marks. It runs inside the step where the
 * secondary connects to the primary (the pair's start, the attach), and while the
 * secondary writes generation N+1: the set is read first, then marked meanwhile.
 */
function premarkEffect(p: FailbackParams): PremarkEffect {
  return {
    type: 'premark',
    node: p.primaryNode,
    volume: p.primaryVolume,
    fromNode: p.secondaryNode,
    fromVolume: p.secondaryVolume,
    changedIn: CHANGED,
  };
}

function premark(p: FailbackParams, spec: string): Decision {
  return step(
    'premark',
    spec,
    `mark the changed blocks in the update bitmaps of ${p.primaryNode}/${p.primaryVolume} before they arrive`,
    premarkEffect(p),
  );
}

/** The premark a connecting step does meanwhile (a job from before did it on its own). */
function premarkWith(p: FailbackParams, data: JobData, wanted: boolean): { premark?: PremarkEffect } {
  return wanted && !data.premark ? { premark: premarkEffect(p) } : {};
}

/**
 * What the secondary changed, for a result: its changed blocks (of changedBlockBytes,
 * its pool's block) and the bytes of the grains written in them. blocksMoved, in
 * movedBlockBytes, counts what the copy moved: grains for a delta, blocks otherwise.
 */
function changed(p: FailbackParams): Record<string, number | null> {
  return {
    changedBlocks: p.changedBlocks,
    changedBlockBytes: p.blockSizeBytes,
    changedBytes: p.changedBytes ?? null,
  };
}

/** The SPEC step numbers of the common end, per method. */
const END_SPEC = {
  'object-store': { hosts: 'S904', unfence: 'S905', teardown: 'S906' },
  'remote-copy': { hosts: 'S405', unfence: 'S407', teardown: 'S408' },
  external: { hosts: 'S707', unfence: 'S709', teardown: 'S710' },
} as const;

function finish(p: FailbackParams, data: JobData, jobId: string, moved: Record<string, unknown>): Decision {
  const spec = END_SPEC[p.method];
  if (!data.verify) {
    const changed = moved.delta === true && p.verify !== 'full';
    return step(
      'verify',
      null,
      `${p.primaryNode}/${p.primaryVolume} and ${p.secondaryNode}/${p.secondaryVolume} hold the same ${changed ? 'changed blocks' : 'blocks'} (hashes compared)`,
      {
        type: 'compare-volumes',
        node: p.primaryNode,
        volume: p.primaryVolume,
        otherNode: p.secondaryNode,
        otherVolume: p.secondaryVolume,
        ...(changed ? { changedIn: CHANGED, driftSince: p.baseGeneration, otherHashesFromCopy: true } : {}),
      },
    );
  }
  // Verified: the frozen bitmaps have done their work. Left behind, a later failback from
  // the same secondary volume would merge into them and copy these blocks again.
  if (!data.forget)
    return step('forget', null, `drop the frozen bitmaps of ${p.secondaryVolume} at ${p.secondaryNode}`, {
      type: 'forget-bitmaps',
      node: p.secondaryNode,
      volume: p.secondaryVolume,
      names: [...FROZEN],
    });
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
  const v = data.verify as {
    identical: boolean;
    scope?: string;
    blocksCompared: number;
    hashBlockBytes: number;
    hashesFromCopy?: number;
  };
  return {
    done: {
      method: p.method,
      volume: p.primaryVolume,
      ...moved,
      verify: {
        identical: v.identical,
        scope: v.scope ?? 'full', // jobs from before the changed-blocks verify compared everything
        blocksCompared: v.blocksCompared,
        hashBlockBytes: v.hashBlockBytes,
        // The secondary's hashes taken as the copy read its blocks, not read again.
        hashesFromCopy: v.hashesFromCopy ?? 0,
      },
    },
    message: `${p.primaryVolume} is back at ${p.primaryNode}: ${formatBytes(moved.bytesMoved as number)} moved for ${p.changedBytes == null ? '?' : formatBytes(p.changedBytes)} changed in ${p.changedBlocks ?? '?'} block${p.changedBlocks === 1 ? '' : 's'}`,
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
  const pairMarks = premarkWith(p, data, delta);
  if (!data.pair)
    return step(
      'pair',
      delta ? 'S403, S501-S504' : 'S403, S501-S503, S505',
      `copy pair ${p.secondaryVolume} -> ${p.primaryNode}/${p.primaryVolume}: ${delta ? 'the changed blocks' : 'every block'}${pairMarks.premark ? ', premarked in the bitmaps of the primary while the pair connects' : ''}`,
      {
        ...pairMarks,
        type: 'start-pair',
        node: p.secondaryNode,
        volume: p.secondaryVolume,
        name: jobId,
        targetNode: p.primaryNode,
        targetVolume: p.primaryVolume,
        mode: delta ? 'delta' : 'full',
        bitmap: FROZEN[0],
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
    /** Absent in jobs from before it. */
    blockBytes?: number;
    bytesCopied: number;
    entriesShipped: number;
    bytesShipped: number;
  };
  return finish(p, data, jobId, {
    delta,
    ...why,
    blocksMoved: r.blocksCopied,
    ...(r.blockBytes ? { movedBlockBytes: r.blockBytes } : {}),
    bytesMoved: r.bytesCopied + r.bytesShipped,
    journalEntries: r.entriesShipped,
    ...changed(p),
    // The primary's account of the pair's connections: TLS, authenticated by the job's key.
    tls: data.unreserve,
  });
}

/**
 * By external volume virtualization (S701-S710): the secondary attaches the primary's
 * volume as a virtual volume (S702) and copies into it locally, as node tasks on the
 * secondary (resumable: a lost task starts again, and copying is idempotent).
 *
 *   accept    S702 the primary volume takes writes through its export (its hosts start
 *             only at S707: the fence is per volume, as for remote copy's S404)
 *   attach    S702 the primary's export becomes virtual volume fb-<job> of the secondary
 *             (a delta: the primary's bitmaps premarked meanwhile)
 *   copy.*    S704-S706 while the secondary's hosts still write: its since-restore bitmap
 *             frozen (the pairs' freeze) and those blocks copied, or every block when the
 *             IDs or the base differ; with readIdFrom 'primary' the secondary decides by
 *             the ID the primary gives for the export (Fig. 27-28)
 *   stop      the secondary's hosts stop (hook) and its host I/O is fenced, so the last
 *   fence     pass copies everything written during the first: nothing acknowledged is lost
 *   final.*   S705 the blocks written since the first freeze (a second freeze)
 *   detach    S708 the copy has ended: flush and disconnect the virtual volume
 *   then the common end: verify, S707 the primary's hosts, S709 unfence, S710 teardown
 *   (SPEC S707 comes before S708; here the primary's hosts start once the copy is over
 *   and verified, which S708's "when the copy ends" requires anyway).
 */

function external(
  p: FailbackParams,
  data: JobData,
  jobId: string,
  mode: 'delta' | 'full' | 'by-id',
  why: Record<string, string>,
): Decision {
  const name = `fb-${jobId}`;
  // As remote copy's S404: from here the primary volume opens only for the virtual
  // volume's TLS connection, with a key made for this job.
  if (!data.reserve)
    return step(
      'reserve',
      'S702',
      `keep ${p.primaryNode}/${p.primaryVolume} for the virtual volume's TLS connection (a key made for this job)`,
      { type: 'reserve-target', node: p.primaryNode, volume: p.primaryVolume, name: jobId },
    );
  if (!data.accept)
    return step(
      'accept',
      'S702',
      `${p.primaryVolume} at ${p.primaryNode} takes the virtual volume's writes (hosts start at S707)`,
      { type: 'fence', node: p.primaryNode, volume: p.primaryVolume, fenced: false },
    );
  // 'by-id' may turn out a full copy: marks ahead of it are only marks of blocks it writes.
  const attachMarks = premarkWith(p, data, mode !== 'full');
  if (!data.attach)
    return step(
      'attach',
      'S702',
      `attach ${p.primaryNode}/${p.primaryVolume} to ${p.secondaryNode} as virtual volume ${name}${attachMarks.premark ? ', the changed blocks premarked in its bitmaps meanwhile' : ''}`,
      {
        ...attachMarks,
        type: 'attach-external',
        node: p.secondaryNode,
        name,
        targetNode: p.primaryNode,
        targetVolume: p.primaryVolume,
        keyName: jobId,
      },
    );
  const first = taskSteps(
    jobId,
    data,
    'copy.',
    {
      node: p.secondaryNode,
      op: 'local-copy',
      body: {
        volume: p.secondaryVolume,
        external: name,
        mode,
        bitmap: FROZEN[0],
        freezeFrom: 'since-restore',
      },
    },
    {
      start: mode === 'by-id' ? 'S704' : mode === 'delta' ? 'S704-S705' : 'S704, S706',
      wait: mode === 'by-id' ? 'S705-S706' : mode === 'delta' ? 'S705' : 'S706',
      what:
        mode === 'by-id'
          ? 'local copy into the virtual volume, delta or full by the ID the primary gives'
          : `local copy of ${mode === 'delta' ? 'the changed blocks' : 'every block'} into the virtual volume`,
    },
  );
  if (first) return { step: first };
  if (!data.stop)
    return step(
      'stop',
      'S705',
      `stop the hosts of ${p.secondaryVolume} at site ${p.secondarySite} for the last pass`,
      {
        type: 'host-hook',
        site: p.secondarySite,
        event: 'stop-hosts',
        node: p.secondaryNode,
        volume: p.secondaryVolume,
      },
    );
  if (!data.fence)
    return step('fence', 'S705', `stop host I/O on ${p.secondaryVolume} at ${p.secondaryNode}`, {
      type: 'fence',
      node: p.secondaryNode,
      volume: p.secondaryVolume,
      fenced: true,
    });
  const last = taskSteps(
    jobId,
    data,
    'final.',
    {
      node: p.secondaryNode,
      op: 'local-copy',
      body: {
        volume: p.secondaryVolume,
        external: name,
        mode: 'delta',
        bitmap: FROZEN[1],
        freezeFrom: 'since-restore',
      },
    },
    { start: 'S705', wait: 'S705', what: 'local copy of the blocks written during the first pass' },
  );
  if (last) return { step: last };
  if (!data.detach)
    return step('detach', 'S708', `the copy has ended: disconnect virtual volume ${name}`, {
      type: 'detach-external',
      node: p.secondaryNode,
      name,
    });
  if (!data.unreserve)
    return step('unreserve', 'S708', `disconnected: remove the job's key from ${p.primaryNode}`, {
      type: 'release-target',
      node: p.primaryNode,
      volume: p.primaryVolume,
      name: jobId,
    });
  const c1 = data['copy.task'] as LocalCopyOutcome;
  const c2 = data['final.task'] as LocalCopyOutcome;
  const delta = c1.mode === 'delta';
  return finish(p, data, jobId, {
    delta,
    ...why,
    ...(mode === 'by-id'
      ? { idsFrom: 'primary', destinationId: c1.destinationId, ...(c1.why ? { why: c1.why } : {}) }
      : {}),
    ...blocksOfPasses(c1, c2),
    bytesMoved: c1.bytesCopied + c1.bytesZeroed + c2.bytesCopied + c2.bytesZeroed,
    passes: [c1, c2].map((c) => ({
      blocks: c.blocksCopied,
      ...(c.blockBytes ? { blockBytes: c.blockBytes } : {}),
      mode: c.mode,
    })),
    ...changed(p),
    tls: data.unreserve,
  });
}

/** What a local-copy task reports (replication/local-copy.ts). */
interface LocalCopyOutcome {
  mode: 'delta' | 'full';
  why: string | null;
  destinationId: string | null;
  blocksCopied: number;
  /** The unit of blocksCopied: a grain for a delta, a block for a full copy (absent in jobs from before it). */
  blockBytes?: number;
  bytesCopied: number;
  bytesZeroed: number;
}

/**
 * The blocks two local-copy passes moved, in one unit: a full first pass counts blocks
 * and a delta second pass grains, so the sum is in the smaller (a block is a whole number
 * of grains).
 */
function blocksOfPasses(c1: LocalCopyOutcome, c2: LocalCopyOutcome): Record<string, number> {
  if (!c1.blockBytes || !c2.blockBytes) return { blocksMoved: c1.blocksCopied + c2.blocksCopied };
  const unit = Math.min(c1.blockBytes, c2.blockBytes);
  return {
    blocksMoved: c1.blocksCopied * (c1.blockBytes / unit) + c2.blocksCopied * (c2.blockBytes / unit),
    movedBlockBytes: unit,
  };
}

export const failbackPlan: JobPlan<FailbackParams> = {
  kind: 'failback',
  title: (p) =>
    `failback of ${p.primaryVolume} from site ${p.secondarySite} by ${p.method === 'external' ? 'external volume' : p.method}`,
  lockKey: (p) => `dr:${p.primaryNode}`,

  next(p, data, jobId): Decision {
    const c = common(p, data, jobId);
    if (c) return c;
    const atBase = !p.consistencyOwed || !!data.ca;
    if (p.method === 'external' && p.readIdFrom === 'primary')
      return atBase
        ? external(p, data, jobId, 'by-id', {})
        : external(p, data, jobId, 'full', { why: 'the primary is not known to sit at the base generation' });
    const ids = data.ids as { equal: boolean; destination: string; lineage: string; blockSizeBytes?: number };
    const delta = ids.equal && atBase;
    const why: Record<string, string> = delta
      ? {}
      : {
          why: ids.equal
            ? 'the primary is not known to sit at the base generation'
            : `the unique IDs differ: ${p.primaryVolume} is ${ids.destination}, the lineage ${ids.lineage}`,
        };
    if (p.method === 'remote-copy') return remoteCopy(p, data, jobId, delta, why);
    if (p.method === 'external') return external(p, data, jobId, delta ? 'delta' : 'full', why);
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
    // While the secondary writes N+1 the primary gets ready for it: the store registered
    // and, for a delta, its bitmaps marked with the blocks N+1 brings (the set holds still
    // since S801's fence). Both touch only the primary, and the wait is most of the job.
    const ready = () => {
      const pstore = storeStep(data, p.primaryNode, p.store, 'pstore');
      if (pstore) return { step: pstore };
      if (delta && !data.premark) return premark(p, 'S902');
      return null;
    };
    if (nplus1?.effect.type === 'wait-task') {
      const r = ready();
      if (r) return r;
    }
    if (nplus1) return { step: nplus1 };
    const gen = data['n.task'] as { generationKey: string; blocks: number; bytesStored: number };
    const r = ready(); // a job recorded before the primary got ready during N+1
    if (r) return r;
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
    // Generation N+1's entries are the volume's blocks (a partial one holds its grains).
    const blockBytes = ids.blockSizeBytes ?? p.blockSizeBytes ?? 65536; // older jobs: no ids.blockSizeBytes
    return finish(p, data, jobId, {
      delta,
      ...why,
      generation: gen.generationKey,
      // A delta applies generation N+1's blocks; a full restore writes every block of the
      // volume (zeros included), like a full remote copy (S505).
      blocksMoved: delta ? gen.blocks : Math.ceil((restored.bytesCopied + restored.bytesZeroed) / blockBytes),
      movedBlockBytes: blockBytes,
      bytesStored: gen.bytesStored,
      bytesMoved: restored.bytesCopied + restored.bytesZeroed,
      ...changed(p),
    });
  },

  apply: applyNodeTask,

  describe(step, result) {
    const r = result as Record<string, unknown>;
    if (step.effect.type === 'teardown-site' && r.outcome === 'kept')
      return `the secondary is kept: ${(r.stillFailedOver as string[]).join(', ')} still failed over to site ${step.effect.site}`;
    if (step.effect.type === 'teardown-site') return `${step.title}: ${r.outcome}`;
    if (step.effect.type === 'assure-consistency') return describeConsistency(r);
    return `${step.title}: done`;
  },
};
