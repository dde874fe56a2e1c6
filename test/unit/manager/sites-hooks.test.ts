// Host hooks (the "start hosts" / "stop hosts" steps: SPEC S106, S405, S707, S801, S904)
// and the shell runner under them and the command site provider. Runs /bin/sh; no sockets.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isReboundError } from '../../../src/errors.js';
import { runHostHook } from '../../../src/manager/sites/index.js';
import { isAlive, waitForExit } from '../../../src/manager/sites/processes.js';
import { childEnv, runShell } from '../../../src/manager/sites/shell.js';
import { captureLogger } from '../../helpers/capture-logger.js';

async function rejectsCode(
  p: Promise<unknown>,
  code: string,
): Promise<Error & { detail?: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    assert.ok(isReboundError(err, code as never), String(err));
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('host hooks', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rebound-hooks-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const env = {
    volume: 'db1',
    site: 'dr',
    nbd: { host: '127.0.0.1', port: 10809, export: 'db1' },
    tls: { mode: 'require' as const, pskIdentity: 'rebound-dr', pskFile: '/etc/rebound/keys.psk' },
    step: 'S106',
    job: 'j-42',
  };

  it('none configured: skipped, nothing runs', async () => {
    const { logger, lines } = captureLogger();
    const r = await runHostHook(undefined, 'start-hosts', env, { logger });
    assert.deepEqual(r, { outcome: 'skipped', durationMs: 0, outputTail: '' });
    assert.match(lines.join(''), /no start-hosts hook configured: skipped/);
  });

  it('gives the hook its volume, site, NBD address and TLS identity, never the manager secrets', async () => {
    const out = join(dir, 'env.txt');
    const saved = process.env.REBOUND_SECRET_KEY;
    process.env.REBOUND_SECRET_KEY = 'ab'.repeat(32);
    try {
      const r = await runHostHook({ command: `env > '${out}'; echo hosts started` }, 'start-hosts', env);
      assert.equal(r.outcome, 'ran');
      assert.equal(r.outputTail, 'hosts started');
    } finally {
      if (saved === undefined) delete process.env.REBOUND_SECRET_KEY;
      else process.env.REBOUND_SECRET_KEY = saved;
    }
    const vars = Object.fromEntries(
      (await readFile(out, 'utf8'))
        .split('\n')
        .filter((l) => l.startsWith('REBOUND_'))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    assert.deepEqual(vars, {
      REBOUND_EVENT: 'start-hosts',
      REBOUND_SITE: 'dr',
      REBOUND_VOLUME: 'db1',
      REBOUND_NBD_URI: 'nbds://127.0.0.1:10809/db1',
      REBOUND_NBD_HOST: '127.0.0.1',
      REBOUND_NBD_PORT: '10809',
      REBOUND_NBD_EXPORT: 'db1',
      REBOUND_TLS_MODE: 'require',
      REBOUND_TLS_PSK_IDENTITY: 'rebound-dr',
      REBOUND_TLS_PSK_FILE: '/etc/rebound/keys.psk',
      REBOUND_STEP: 'S106',
      REBOUND_JOB: 'j-42',
    });
  });

  it('keeps the tail of stdout and stderr together for the step log', async () => {
    const r = await runHostHook(
      { command: 'for i in $(seq 1 30); do echo "line $i"; done; echo "warning: slow" >&2' },
      'stop-hosts',
      { volume: 'db1', site: 'primary' },
    );
    const lines = r.outputTail.split('\n');
    assert.equal(lines.length, 20);
    assert.equal(lines[0], 'line 12');
    assert.equal(lines.at(-1), 'warning: slow');
  });

  it('a non-zero exit is HOST_HOOK_FAILED with the exit code and the output tail', async () => {
    const { logger, lines } = captureLogger();
    const err = await rejectsCode(
      runHostHook(
        { command: 'echo "connecting app1"; echo "app1: no route to host" >&2; exit 4' },
        'start-hosts',
        env,
        {
          logger,
        },
      ),
      'HOST_HOOK_FAILED',
    );
    assert.match(err.message, /start-hosts hook for volume db1 at site dr failed \(exit 4\)/);
    assert.match(err.message, /connecting app1\napp1: no route to host/);
    assert.equal(err.detail?.exitCode, 4);
    assert.match(lines.join(''), /the start-hosts hook failed/);
  });

  it('a hook past its timeout is stopped (its children too) and fails', async () => {
    const marker = join(dir, 'child.pid');
    const started = Date.now();
    const err = await rejectsCode(
      runHostHook(
        { command: `sleep 30 & echo $! > '${marker}'; wait`, timeoutSeconds: 1 },
        'stop-hosts',
        env,
      ),
      'HOST_HOOK_FAILED',
    );
    assert.match(err.message, /timed out after 1 s/);
    assert.equal(err.detail?.timedOut, true);
    assert.ok(Date.now() - started < 5_000);
    assert.ok(await waitForExit(Number((await readFile(marker, 'utf8')).trim()), 5_000));
  });
});

describe('shell runner', () => {
  it('keeps a bounded tail of a loud command', async () => {
    const r = await runShell('head -c 1000000 /dev/zero | tr "\\0" a; echo; echo end', {
      env: childEnv({}),
      timeoutMs: 10_000,
    });
    assert.equal(r.exitCode, 0);
    assert.ok(r.stdout.length <= 256 * 1024 + 1, String(r.stdout.length));
    assert.ok(r.stdout.startsWith('…'));
    assert.ok(r.stdout.endsWith('\nend\n'));
  });

  it('a command that ignores SIGTERM is killed after the grace period', async () => {
    const r = await runShell("trap '' TERM; sleep 30", {
      env: childEnv({}),
      timeoutMs: 200,
      killGraceMs: 300,
    });
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGKILL');
  });

  it('isAlive: this process yes, an exited one no', async () => {
    assert.equal(isAlive(process.pid), true);
    const r = await runShell('echo $$', { env: childEnv({}), timeoutMs: 5_000 });
    assert.equal(isAlive(Number(r.stdout.trim())), false);
  });
});
