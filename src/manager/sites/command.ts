/**
 * The `command` site provider: the operator's scripts build and tear down the secondary
 * (start VMs in a cloud, run a node on another machine). Each runs as `/bin/sh -c` in
 * `<managerData>/sites/<site>/` (created for it; scripts may keep state there).
 *
 * The contract with the scripts:
 *
 * - Environment: REBOUND_SITE (the site's name), REBOUND_SITE_DIR (that directory),
 *   REBOUND_ACTION (build, teardown or status), REBOUND_PURGE (teardown: 1 to delete the
 *   node's data too, else 0), REBOUND_EXECPATH and REBOUND_BIN (run this Rebound as
 *   `"$REBOUND_EXECPATH" "$REBOUND_BIN" node ...`), plus the site's `env`. The manager's
 *   own secrets (REBOUND_SECRET_KEY, REBOUND_TOKEN) are not passed on.
 * - build: MUST be idempotent (a manager restarted mid-failover runs it again): when the
 *   node exists, print it again. Exit 0 once the node answers, and print as the last
 *   non-empty line of stdout one JSON object:
 *       {"url": "http://10.0.0.5:7700", "token": "...",
 *        "nbd": {"host": "10.0.0.5", "port": 10809},            (optional: when hosts reach
 *                                                               NBD elsewhere than it says)
 *        "tls": {"mode": "require", "pskIdentity": "rebound"}}  (optional)
 *   Anything else goes before that line or to stderr. The manager then checks that the
 *   node answers with that token (waiting a little while it comes up).
 * - teardown: MUST succeed when there is nothing left to stop. Exit 0 when done.
 * - status (optional): exit 0 and print the same JSON as build when running; exit 3 when
 *   not running (as LSB init scripts do). Without it the state is 'unknown'.
 * - Any other exit, or no answer within timeoutSeconds (the process group then gets
 *   SIGTERM, then SIGKILL), is SITE_PROVIDER_FAILED with the tail of the script's stderr.
 *   A background process a script leaves running (the node) must not keep the script's
 *   stdout open: redirect it (`>node.log 2>&1 &`).
 */
import { mkdir } from 'node:fs/promises';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isReboundError, ReboundError } from '../../errors.js';
import { type Logger, silentLogger } from '../../logger.js';
import { probeNode, waitForNode } from './probe.js';
import { reboundCommand } from './processes.js';
import { type CommandSiteConfig, NodeTlsView } from './schema.js';
import { childEnv, describeExit, runShell, type ShellResult, tail } from './shell.js';
import { siteDirectory } from './site-dir.js';
import type {
  BuiltNode,
  SiteProvider,
  SiteRef,
  SiteStatus,
  TeardownOptions,
  TeardownOutcome,
} from './types.js';

const DEFAULT_TIMEOUT_S = 600;
/** After the build script says the node is up, how long it may still take to answer (at most timeoutSeconds). */
const ANSWER_GRACE_MS = 10_000;
/** LSB: "program is not running". */
const EXIT_NOT_RUNNING = 3;

/** What a build (or status) script prints. */
export const BuildOutput = Type.Object({
  url: Type.String({ pattern: '^https?://[^\\s]+$' }),
  token: Type.String({ minLength: 1 }),
  nbd: Type.Optional(
    Type.Object({ host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) }),
  ),
  tls: Type.Optional(NodeTlsView),
});
export type BuildOutput = Static<typeof BuildOutput>;

export interface CommandProviderContext {
  dataDir: string;
  logger?: Logger;
}

type Action = 'build' | 'teardown' | 'status';

export class CommandSiteProvider implements SiteProvider {
  readonly type = 'command' as const;
  private readonly logger: Logger;
  private readonly timeoutMs: number;

  constructor(
    private readonly config: CommandSiteConfig,
    private readonly context: CommandProviderContext,
  ) {
    this.logger = context.logger ?? silentLogger;
    this.timeoutMs = (config.timeoutSeconds ?? DEFAULT_TIMEOUT_S) * 1000;
  }

  async build(site: SiteRef): Promise<BuiltNode> {
    const r = await this.run('build', site);
    this.failUnlessZero('build', site, r);
    const out = this.parseOutput('build', site, r);
    const waitMs = Math.min(ANSWER_GRACE_MS, this.timeoutMs);
    try {
      return await waitForNode(
        { url: out.url, token: out.token, nbd: out.nbd, tls: out.tls ?? { mode: 'off' } },
        waitMs,
      );
    } catch (err) {
      if (!isReboundError(err, 'NODE_UNREACHABLE')) throw err;
      throw new ReboundError(
        'NODE_UNREACHABLE',
        `the build script of site ${site.name} printed ${out.url}, but no node answered there within ` +
          `${Math.round(waitMs / 1000)} s; the script should exit only once the node is up`,
        { cause: err, detail: { site: site.name } },
      );
    }
  }

  async teardown(site: SiteRef, options: TeardownOptions = {}): Promise<TeardownOutcome> {
    const r = await this.run('teardown', site, { REBOUND_PURGE: options.purge ? '1' : '0' });
    this.failUnlessZero('teardown', site, r);
    return 'stopped';
  }

  async status(site: SiteRef): Promise<SiteStatus> {
    if (!this.config.status) return { state: 'unknown', detail: 'no status script configured' };
    const r = await this.run('status', site);
    if (r.exitCode === EXIT_NOT_RUNNING && !r.timedOut) return { state: 'stopped' };
    this.failUnlessZero('status', site, r);
    const out = this.parseOutput('status', site, r);
    try {
      return {
        state: 'running',
        node: await probeNode({
          url: out.url,
          token: out.token,
          nbd: out.nbd,
          tls: out.tls ?? { mode: 'off' },
        }),
      };
    } catch (err) {
      return { state: 'unreachable', detail: (err as Error).message };
    }
  }

  private async run(action: Action, site: SiteRef, extra: Record<string, string> = {}): Promise<ShellResult> {
    const command = this.config[action];
    if (!command) throw new Error(`no ${action} script`); // status is checked by the caller
    const dir = siteDirectory(this.context.dataDir, site.name);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    let cli: string[] = [];
    try {
      cli = reboundCommand();
    } catch {} // a script that does not call rebound does not need it
    const env = childEnv({
      ...this.config.env,
      REBOUND_SITE: site.name,
      REBOUND_SITE_DIR: dir,
      REBOUND_ACTION: action,
      REBOUND_EXECPATH: cli[0],
      REBOUND_BIN: cli[1],
      ...extra,
    });
    this.logger.info({ site: site.name, action }, `running the site's ${action} script`);
    try {
      const r = await runShell(command, { env, cwd: dir, timeoutMs: this.timeoutMs });
      this.logger.info(
        { site: site.name, action, exit: describeExit(r, this.timeoutMs), durationMs: r.durationMs },
        `the site's ${action} script ended`,
      );
      return r;
    } catch (err) {
      throw new ReboundError(
        'SITE_PROVIDER_FAILED',
        `cannot run the ${action} script of site ${site.name}: ${(err as Error).message}`,
        { cause: err, detail: { site: site.name, action } },
      );
    }
  }

  private failUnlessZero(action: Action, site: SiteRef, r: ShellResult): void {
    if (r.exitCode === 0 && !r.timedOut) return;
    const stderr = tail(r.stderr, 15) || '(no stderr)';
    throw new ReboundError(
      'SITE_PROVIDER_FAILED',
      `the ${action} script of site ${site.name} failed (${describeExit(r, this.timeoutMs)}); ` +
        `fix it (it runs with /bin/sh -c in ${siteDirectory(this.context.dataDir, site.name)}) and retry. stderr ends:\n${stderr}`,
      { detail: { site: site.name, action, exitCode: r.exitCode, timedOut: r.timedOut } },
    );
  }

  private parseOutput(action: Action, site: SiteRef, r: ShellResult): BuildOutput {
    const line =
      r.stdout
        .split('\n')
        .reverse()
        .find((l) => l.trim() !== '') ?? '';
    const bad = (why: string): never => {
      throw new ReboundError(
        'SITE_PROVIDER_FAILED',
        `the ${action} script of site ${site.name} exited 0 but ${why}; it must print {"url": ..., "token": ...} ` +
          `as the last line of stdout. stderr ends:\n${tail(r.stderr, 10) || '(no stderr)'}`,
        { detail: { site: site.name, action } },
      );
    };
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      // Never echo a line that may carry the token.
      bad(
        line === ''
          ? 'printed nothing on stdout'
          : /token/i.test(line)
            ? 'its last stdout line is not JSON (not shown: it mentions a token)'
            : `its last stdout line is not JSON: ${line.trim().slice(0, 200)}`,
      );
    }
    const first = Value.Errors(BuildOutput, parsed).First();
    if (first) bad(`its JSON is wrong at ${first.path || '(root)'}: ${first.message}`);
    return parsed as BuildOutput;
  }
}
