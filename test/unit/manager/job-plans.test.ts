// The job plans are pure: walking a backup plan step by step gives the SPEC's steps in
// order with idempotent task IDs; a task the node lost starts again under a new attempt
// ID; retention runs only when rules are set; a verify that found damage fails naming it;
// a remote-copy failback keeps the primary volume for the pair's TLS key from before it
// takes writes until the pair is released, and reports what the primary saw.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type BackupParams,
  backupPlan,
  type FailbackParams,
  failbackPlan,
  verifyPlan,
} from '../../../src/manager/jobs/index.js';
import type { JobData, JobPlan } from '../../../src/manager/jobs/plan.js';

function walk<P>(
  plan: JobPlan<P>,
  params: P,
  results: Record<string, unknown[]>,
): { steps: string[]; done: unknown } {
  let data: JobData = {};
  const steps: string[] = [];
  for (let i = 0; i < 20; i++) {
    const d = plan.next(params, data, 'j-1');
    if ('done' in d) return { steps, done: d.done };
    steps.push(
      `${d.step.name}:${d.step.effect.type}${'taskId' in d.step.effect ? `:${d.step.effect.taskId}` : ''}`,
    );
    const r = results[d.step.name]?.shift() ?? { ok: true };
    data = plan.apply(data, d.step, r);
  }
  throw new Error('plan did not end');
}

const params: BackupParams = {
  volume: 'S:1',
  node: 'n1',
  volumeName: 'db',
  lineage: 'S:1',
  store: 'local',
  method: 'incremental',
  retention: null,
};

describe('job plans', () => {
  it('backs up in order: store, start, follow the task, record', () => {
    const r = walk(backupPlan, params, {
      task: [{ lost: false, result: { generationKey: 'g1', method: 'full' } }],
    });
    assert.deepEqual(r.steps, [
      'store:ensure-store',
      'start:start-task:j-1.1',
      'task:wait-task:j-1.1',
      'record:record-backup',
    ]);
    assert.deepEqual(r.done, { generationKey: 'g1', method: 'full' });
  });

  it('starts a lost task again under a new attempt ID, and prunes when rules are set', () => {
    const r = walk(
      backupPlan,
      { ...params, retention: { keepLast: 3 } },
      { task: [{ lost: true }, { lost: false, result: { generationKey: 'g2' } }] },
    );
    assert.deepEqual(r.steps, [
      'store:ensure-store',
      'start:start-task:j-1.1',
      'task:wait-task:j-1.1',
      'start:start-task:j-1.2',
      'task:wait-task:j-1.2',
      'record:record-backup',
      'prune:prune',
    ]);
  });

  it('fails a verify that found damage, naming the key', () => {
    assert.throws(
      () =>
        walk(
          verifyPlan,
          { node: 'n1', store: 'local' },
          {
            task: [
              {
                lost: false,
                result: {
                  ok: false,
                  blocksChecked: 3,
                  problems: [{ key: 'volumes/x/data/1', message: 'checksum' }],
                },
              },
            ],
          },
        ),
      /volumes\/x\/data\/1/,
    );
  });

  it('reserves the primary for the TLS pair before it takes writes, and frees it after the release', () => {
    const fb: FailbackParams = {
      method: 'remote-copy',
      lineage: 'P:1',
      primaryNode: 'p1',
      primaryVolume: 'app',
      primarySite: 'dc1',
      secondarySite: 'dr',
      secondaryNode: 'dr-node',
      secondaryVolume: 'app',
      store: 'local',
      baseGeneration: 'g1',
      consistencyOwed: false,
      changedBlocks: 3,
      blockSizeBytes: 65536,
    };
    const r = walk(failbackPlan, fb, {
      ids: [{ equal: true }],
      release: [{ blocksCopied: 3, bytesCopied: 196608, entriesShipped: 0, bytesShipped: 0 }],
      unreserve: [{ identity: 'rebound-j-1', tlsSessions: 1 }],
      verify: [{ identical: true, blocksCompared: 1024, hashBlockBytes: 65536 }],
    });
    assert.deepEqual(r.steps, [
      'ids:compare-ids',
      'reserve:reserve-target',
      'accept:fence',
      'pair:start-pair',
      'copy:wait-pair',
      'stop:host-hook',
      'fence:fence',
      'release:release-pair',
      'unreserve:release-target',
      'verify:compare-volumes',
      'forget:forget-bitmaps',
      'hosts:host-hook',
      'unfence:fence',
      'teardown:teardown-site',
      'record:record-dr',
    ]);
    assert.deepEqual((r.done as { tls: unknown }).tls, { identity: 'rebound-j-1', tlsSessions: 1 });
  });
});
