// The failback plan is pure: walking it gives the SPEC's steps in order. External volume
// (S701-S710): the primary kept for the job's TLS key, attach, a first local-copy pass while the secondary's hosts write, stop and
// fence, a last pass, detach, then verify before anything starts at the primary; IDs
// that differ copy everything; the Fig. 27-28 variant leaves the comparison to the
// secondary; a lost local-copy task starts again. Every method verifies before its hosts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FailbackParams, failbackPlan } from '../../../src/manager/jobs/index.js';
import type { JobData } from '../../../src/manager/jobs/plan.js';

const base: FailbackParams = {
  method: 'external',
  lineage: 'P:1',
  primaryNode: 'p1',
  primaryVolume: 'app',
  primarySite: 'dc1',
  secondarySite: 'dr',
  secondaryNode: 'dr-node',
  secondaryVolume: 'app',
  store: 'local',
  baseGeneration: 'volumes/P:1/catalog/1',
  consistencyOwed: false,
  changedBlocks: 10,
  blockSizeBytes: 65536,
};

const copied = (mode: string, blocks: number) => ({
  lost: false,
  result: {
    mode,
    why: null,
    destinationId: 'P:1',
    blocksCopied: blocks,
    bytesCopied: blocks * 65536,
    bytesZeroed: 0,
  },
});

function walk(p: FailbackParams, results: Record<string, unknown[]>) {
  let data: JobData = {};
  const steps: string[] = [];
  const bodies: Record<string, unknown> = {};
  for (let i = 0; i < 40; i++) {
    const d = failbackPlan.next(p, data, 'j1');
    if ('done' in d) return { steps, done: d.done as Record<string, unknown>, bodies, data };
    steps.push(`${d.step.name}${d.step.spec ? ` ${d.step.spec}` : ''}`);
    if (d.step.effect.type === 'start-task') bodies[d.step.name] = d.step.effect.body;
    const r = results[d.step.name]?.shift() ?? { ok: true };
    data = failbackPlan.apply(data, d.step, r);
  }
  throw new Error('plan did not end');
}

const verified = {
  verify: [
    { identical: true, scope: 'changed', blocksCompared: 10, hashBlockBytes: 65536, hashesFromCopy: 10 },
  ],
};

/** The verify step's effect once the walk is over (the data as it was before verify ran). */
function verifyEffect(p: FailbackParams, data: JobData) {
  const d = failbackPlan.next(p, { ...data, verify: undefined }, 'j1');
  assert.ok('step' in d && d.step.effect.type === 'compare-volumes');
  return d.step.effect as { changedIn?: string[]; otherHashesFromCopy?: boolean };
}

describe('failback plan', () => {
  it('external, IDs equal: the changed blocks in two passes, detach, verify, then the primary', () => {
    const r = walk(base, {
      ids: [{ equal: true }],
      'copy.task': [copied('delta', 8)],
      'final.task': [copied('delta', 2)],
      ...verified,
    });
    assert.deepEqual(r.steps, [
      'ids S704',
      'reserve S702',
      'accept S702',
      'attach S702',
      'copy.start S704-S705',
      'copy.task S705',
      'stop S705',
      'fence S705',
      'final.start S705',
      'final.task S705',
      'detach S708',
      'unreserve S708',
      'verify',
      'forget',
      'hosts S707',
      'unfence S709',
      'teardown S710',
      'record',
    ]);
    assert.deepEqual(r.bodies['copy.start'], {
      volume: 'app',
      external: 'fb-j1',
      mode: 'delta',
      bitmap: 'failback.1',
      freezeFrom: 'since-restore',
    });
    assert.equal((r.bodies['final.start'] as { bitmap: string }).bitmap, 'failback.2');
    assert.equal(r.done.blocksMoved, 10);
    assert.equal(r.done.bytesMoved, 10 * 65536);
    assert.deepEqual(r.done.verify, {
      identical: true,
      scope: 'changed',
      blocksCompared: 10,
      hashBlockBytes: 65536,
      hashesFromCopy: 10,
    });
    assert.deepEqual(verifyEffect(base, r.data).changedIn, ['since-restore', 'failback.1', 'failback.2']);
    // The secondary may answer with the hashes its copy took as it read (hash-memo.ts).
    assert.equal(verifyEffect(base, r.data).otherHashesFromCopy, true);
  });

  it("verify compares every block after a full copy, and with verify 'full'", () => {
    const ids = {
      ids: [{ equal: true }],
      'copy.task': [copied('delta', 8)],
      'final.task': [copied('delta', 2)],
    };
    const full = walk({ ...base, verify: 'full' }, { ...ids, ...verified });
    assert.equal(verifyEffect({ ...base, verify: 'full' }, full.data).changedIn, undefined);
    assert.equal(verifyEffect({ ...base, verify: 'full' }, full.data).otherHashesFromCopy, undefined);
    const differ = walk(base, {
      ids: [{ equal: false, destination: 'Q:7', lineage: 'P:1' }],
      'copy.task': [copied('full', 1024)],
      'final.task': [copied('delta', 0)],
      ...verified,
    });
    assert.equal(
      verifyEffect(base, differ.data).changedIn,
      undefined,
      'everything moved: everything compared',
    );
  });

  it('external, IDs differ: every block first (S706), and says why', () => {
    const r = walk(base, {
      ids: [{ equal: false, destination: 'Q:7', lineage: 'P:1' }],
      'copy.task': [copied('full', 1024)],
      'final.task': [copied('delta', 0)],
      ...verified,
    });
    assert.ok(r.steps.includes('copy.start S704, S706'));
    assert.equal((r.bodies['copy.start'] as { mode: string }).mode, 'full');
    assert.deepEqual(
      [r.done.delta, r.done.why, r.done.blocksMoved],
      [false, 'the unique IDs differ: app is Q:7, the lineage P:1', 1024],
    );
  });

  it('external, Fig. 27-28: no manager comparison, the secondary decides by the ID the primary gives', () => {
    const r = walk(
      { ...base, readIdFrom: 'primary' },
      {
        'copy.task': [{ lost: true }, copied('full', 1024)],
        'final.task': [copied('delta', 1)],
        ...verified,
      },
    );
    assert.deepEqual(r.steps.slice(0, 3), ['reserve S702', 'accept S702', 'attach S702']);
    assert.ok(!r.steps.some((s) => s.startsWith('ids')));
    assert.deepEqual(
      r.steps.filter((s) => s.startsWith('copy.')),
      ['copy.start S704', 'copy.task S705-S706', 'copy.start S704', 'copy.task S705-S706'],
      'a lost task starts again',
    );
    assert.equal((r.bodies['copy.start'] as { mode: string }).mode, 'by-id');
    assert.deepEqual([r.done.idsFrom, r.done.delta], ['primary', false]);
  });

  it('a delta premarks the primary while the secondary connects to it; a full copy does not', () => {
    const premark = {
      type: 'premark',
      node: 'p1',
      volume: 'app',
      fromNode: 'dr-node',
      fromVolume: 'app',
      changedIn: ['since-restore', 'failback.1', 'failback.2'],
    };
    const effectOf = (p: FailbackParams, data: JobData) => {
      const d = failbackPlan.next(p, data, 'j1');
      assert.ok('step' in d);
      return d.step.effect as { type: string; premark?: unknown };
    };
    const ready = { ids: { equal: true }, reserve: {}, accept: {} };
    const pair = effectOf({ ...base, method: 'remote-copy' }, ready);
    assert.deepEqual([pair.type, pair.premark], ['start-pair', premark]);
    const attach = effectOf(base, ready);
    assert.deepEqual([attach.type, attach.premark], ['attach-external', premark]);
    assert.deepEqual(
      effectOf({ ...base, readIdFrom: 'primary' }, { reserve: {}, accept: {} }).premark,
      premark,
    );
    const differ = { ...ready, ids: { equal: false, destination: 'Q:7', lineage: 'P:1' } };
    assert.equal(effectOf({ ...base, method: 'remote-copy' }, differ).premark, undefined);
    assert.equal(effectOf(base, differ).premark, undefined);
    // A job recorded when premark was a step of its own, done already: not again.
    assert.equal(
      effectOf({ ...base, method: 'remote-copy' }, { ...ready, premark: { marked: 3 } }).premark,
      undefined,
    );
  });

  it('object store: the primary registers the store and premarks while the secondary writes N+1', () => {
    const nTask = { lost: false, result: { generationKey: 'g2', blocks: 1, bytesStored: 10 } };
    const back = { lost: false, result: { bytesCopied: 65536, bytesZeroed: 0 } };
    const p = { ...base, method: 'object-store' as const };
    const r = walk(p, { ids: [{ equal: true }], 'n.task': [nTask], 'back.task': [back], ...verified });
    assert.deepEqual(r.steps.slice(0, 10), [
      'ids S503',
      'stop S801',
      'fence S801',
      'store Fig. 9',
      'n.start S802-S803',
      'pstore Fig. 9',
      'premark S902',
      'n.task S803-S806',
      'back.start S902-S903',
      'back.task S903',
    ]);
    // IDs that differ: the whole chain comes back, nothing is premarked.
    const full = walk(p, { ids: [{ equal: false }], 'n.task': [nTask], 'back.task': [back], ...verified });
    assert.ok(!full.steps.some((x) => x.startsWith('premark')));
    assert.ok(full.steps.indexOf('pstore Fig. 9') < full.steps.indexOf('n.task S803-S806'));
    // A job recorded when N+1 had ended and the primary was not ready yet goes on from there.
    const old = {
      ids: { equal: true },
      stop: {},
      fence: {},
      store: {},
      'n.start': {},
      'n.task': nTask.result,
    };
    const next = failbackPlan.next(p, old, 'j1');
    assert.ok('step' in next && next.step.name === 'pstore');
  });

  it('every method verifies after its last write and before the primary starts', () => {
    for (const method of ['remote-copy', 'object-store', 'external'] as const) {
      const r = walk(
        { ...base, method },
        {
          ids: [{ equal: true }],
          release: [{ blocksCopied: 1, bytesCopied: 65536, entriesShipped: 0, bytesShipped: 0 }],
          'n.task': [{ lost: false, result: { generationKey: 'g2', blocks: 1, bytesStored: 10 } }],
          'back.task': [{ lost: false, result: { bytesCopied: 65536, bytesZeroed: 0 } }],
          'copy.task': [copied('delta', 1)],
          'final.task': [copied('delta', 0)],
          ...verified,
        },
      );
      const names = r.steps.map((s) => s.split(' ')[0]);
      const at = names.indexOf('verify');
      assert.ok(at > 0, `${method} verifies`);
      assert.deepEqual(
        names.slice(at + 1, at + 3),
        ['forget', 'hosts'],
        `${method}: the frozen bitmaps go, then the primary's hosts start, after verify`,
      );
      const forget = failbackPlan.next({ ...base, method }, { ...r.data, forget: undefined }, 'j1');
      assert.ok('step' in forget && forget.step.effect.type === 'forget-bitmaps');
      assert.deepEqual((forget.step.effect as { names: string[] }).names, ['failback.1', 'failback.2']);
      assert.ok(names.indexOf('teardown') > at);
    }
  });
});
