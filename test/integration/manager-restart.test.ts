// The manager killed (SIGKILL) in the middle of a backup job: started again, it resumes
// the job from its recorded step (following the node's task by the ID it recorded), the
// job finishes, and the backup restores byte-identical. Driven through the `rebound` CLI
// as an operator would: manager run, login, node register, store add, backup run,
// job watch, restore.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ManagerClient } from '../../src/manager/index.js';
import { type ManagerProcess, startManagerProcess } from '../helpers/manager-process.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';
import { requireTools, runOk } from '../helpers/tools.js';

const exec = promisify(execFile);
const SIZE = 512 * 2 ** 20;

describe('manager killed mid-backup', () => {
  let fx: NodeFixture;
  let dir: string;
  let manager: ManagerProcess | undefined;
  let url: string;

  async function rebound(...args: string[]): Promise<string> {
    const { stdout } = await exec(process.execPath, ['bin/rebound.js', '--manager', url, ...args], {
      env: { ...manager!.env, REBOUND_CONFIG_DIR: join(dir, 'cli') },
    });
    return stdout;
  }

  before(async () => {
    requireTools('nbdcopy', 'qemu-img');
    fx = await startTestNode();
    dir = await mkdtemp(join(tmpdir(), 'rebound-mkill-'));
  });
  after(async () => {
    await manager?.kill();
    await fx?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('resumes the job after a restart; the backup restores byte-identical', async () => {
    manager = await startManagerProcess(join(dir, 'manager'));
    url = manager.url;
    const token = manager.token;
    await rebound('login', '--token', token);
    await rebound('site', 'add', 'dc1', '--role', 'primary');
    await exec(
      process.execPath,
      [
        'bin/rebound.js',
        '--manager',
        url,
        'node',
        'register',
        'n1',
        '--site',
        'dc1',
        '--url',
        fx.node.apiUrl,
      ],
      { env: { ...manager.env, REBOUND_CONFIG_DIR: join(dir, 'cli'), REBOUND_NODE_TOKEN: fx.node.token } },
    );
    await rebound('store', 'add', 'local', '--path', join(dir, 'store'));
    await rebound('volume', 'create', 'data', '--on', 'n1', '--size', '1G');
    // Incompressible data, so the backup takes long enough to be killed in the middle.
    await runOk('sh', ['-c', `head -c ${SIZE} /dev/urandom > ${join(dir, 'random.img')}`]);
    await runOk('nbdcopy', [join(dir, 'random.img'), fx.uri('data')], 120_000);
    await rm(join(dir, 'random.img'));

    const started = JSON.parse(
      await rebound('--json', 'backup', 'run', 'data', '--store', 'local', '--method', 'full', '--no-wait'),
    ) as { id: string };
    const client = new ManagerClient(url, token);
    let seen = await client.getJob(started.id);
    for (let i = 0; i < 600 && !(seen.step === 'task' && (seen.progress?.bytesDone ?? 0) > 0); i++) {
      await new Promise((r) => setTimeout(r, 50));
      seen = await client.getJob(started.id);
    }
    assert.equal(seen.state, 'running');
    assert.ok(
      seen.progress && seen.progress.bytesDone < seen.progress.bytesTotal,
      'killed in the middle of the backup',
    );
    await manager.kill();
    await manager.restart();
    const end = JSON.parse(await rebound('--json', 'job', 'watch', started.id)) as {
      state: string;
      result: { generationKey: string };
      log: { message: string }[];
    };
    assert.equal(end.state, 'succeeded');
    const shown = JSON.parse(await rebound('--json', 'job', 'show', started.id)) as {
      log: { message: string }[];
    };
    assert.ok(
      shown.log.some((l) => /resumed after a manager restart/.test(l.message)),
      'the step log says it resumed',
    );
    // Once it ended, `job show` gives where its last step got to and the rate it had, no time left.
    const human = await rebound('job', 'show', started.id);
    assert.match(human, /^progress:\s+100% /m, human);
    assert.match(human, /^rate, eta:\s+[\d.]+ [KMG]?i?B\/s$/m, human);

    await rebound(
      'restore',
      end.result.generationKey,
      '--store',
      'local',
      '--on',
      'n1',
      '--volume',
      'data-copy',
    );
    const cmp = await runOk(
      'qemu-img',
      ['compare', '-f', 'raw', '-F', 'raw', fx.uri('data'), fx.uri('data-copy')],
      120_000,
    );
    assert.match(cmp, /Images are identical/);
  });
});
