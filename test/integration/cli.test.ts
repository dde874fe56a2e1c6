// `rebound node <verb>` (direct node administration) against a real node: the verbs an operator types, their --json
// output, and errors that say what to do next.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';

const exec = promisify(execFile);

describe('rebound CLI', () => {
  let fx: NodeFixture;
  before(async () => {
    fx = await startTestNode();
  });
  after(() => fx.close());

  async function rebound(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
    try {
      const { stdout, stderr } = await exec('node', [
        'bin/rebound.js',
        '--node',
        fx.node.apiUrl,
        '--token',
        fx.node.token,
        'node',
        ...args,
      ]);
      return { stdout, stderr, code: 0 };
    } catch (err) {
      const e = err as { stdout: string; stderr: string; code: number };
      return { stdout: e.stdout, stderr: e.stderr, code: e.code };
    }
  }

  it('creates and lists volumes, with --json for scripts', async () => {
    const created = await rebound('volume', 'create', 'cli1', '--size', '1G', '--json');
    assert.equal(created.code, 0, created.stderr);
    const v = JSON.parse(created.stdout);
    assert.equal(v.sizeBytes, 2 ** 30);
    assert.equal(v.uniqueId, `${fx.node.serial}:${v.number}`);
    const table = await rebound('volume', 'list');
    assert.match(table.stdout, /^NAME\s+UNIQUEID/m);
    assert.match(table.stdout, /cli1\s+\S+:\d+\s+1\.0 GiB/);
  });

  it('runs the snapshot, bitmap and fence verbs', async () => {
    for (const args of [
      ['snapshot', 'create', 'cli1', 's1'],
      ['bitmap', 'create', 'cli1', 'b1'],
      ['bitmap', 'freeze', 'cli1', 'b1', '--into', 'b1-frozen'],
      ['bitmap', 'merge', 'cli1', 'b1', '--from', 'b1-frozen'],
      ['bitmap', 'clear', 'cli1', 'b1'],
      ['volume', 'fence', 'cli1'],
      ['volume', 'unfence', 'cli1'],
      ['volume', 'grow', 'cli1', '--size', '2G'],
    ]) {
      const r = await rebound(...args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    const show = JSON.parse((await rebound('volume', 'show', 'cli1', '--json')).stdout);
    assert.deepEqual(show.snapshots, ['s1']);
    assert.deepEqual(show.bitmaps.sort(), ['b1', 'b1-frozen']);
    assert.equal(show.sizeBytes, 2 * 2 ** 30);
    const bitmaps = JSON.parse((await rebound('bitmap', 'list', 'cli1', '--json')).stdout);
    assert.deepEqual(bitmaps.map((b: { name: string; active: boolean }) => [b.name, b.active]).sort(), [
      ['b1', true],
      ['b1-frozen', false],
    ]);
  });

  it('explains errors with their code and exits non-zero', async () => {
    const missing = await rebound('volume', 'show', 'nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /NOT_FOUND/);
    const badSize = await rebound('volume', 'create', 'x', '--size', 'lots');
    assert.equal(badSize.code, 2);
    assert.match(badSize.stderr, /size "lots" is not a size like 10G/);
    const json = await rebound('volume', 'delete', 'nope', '--json');
    assert.equal(JSON.parse(json.stderr).error.code, 'NOT_FOUND');
  });
});
