/**
 * Host hooks: the operator's commands for the steps where hosts start or stop, which
 * Rebound cannot do itself (it stores blocks; it does not run the application servers).
 *
 *   start-hosts   S106/S107 start the hosts at the secondary and connect them to it;
 *                 S405, S707, S904 start the primary's hosts after failback
 *   stop-hosts    S801 stop the secondary's hosts before the object-store failback;
 *                 before a planned failover, stop the primary's hosts
 *
 * None by default: runHostHook(undefined, ...) returns 'skipped' and the job's log says
 * the operator does this step by hand. A hook runs as `/bin/sh -c COMMAND` with:
 *
 *   REBOUND_EVENT             start-hosts | stop-hosts
 *   REBOUND_SITE              the site whose hosts these are
 *   REBOUND_VOLUME            the volume they use
 *   REBOUND_NBD_URI           nbd://host:port/export (nbds:// with TLS)
 *   REBOUND_NBD_HOST, REBOUND_NBD_PORT, REBOUND_NBD_EXPORT
 *   REBOUND_TLS_MODE          off | optional | require
 *   REBOUND_TLS_PSK_IDENTITY, REBOUND_TLS_PSK_FILE, REBOUND_TLS_CA_FILE   (when set; never a key)
 *   REBOUND_STEP, REBOUND_JOB the SPEC step (S106...) and job id, when the caller gives them
 *
 * Exit 0 is success; anything else, or running past timeoutSeconds (default 300; the
 * process group gets SIGTERM, then SIGKILL), is HOST_HOOK_FAILED with the output's tail.
 * A hook may run again when a job resumes, so it should be idempotent.
 */
import { ReboundError } from '../../errors.js';
import { type Logger, silentLogger } from '../../logger.js';
import { nbdUri } from '../../node/api.js';
import type { HostHookConfig } from './schema.js';
import { childEnv, describeExit, runShell, tail } from './shell.js';
import type { BuiltNodeTls } from './types.js';

const DEFAULT_TIMEOUT_S = 300;

export type HostEvent = 'start-hosts' | 'stop-hosts';

export interface HostHookEnv {
  volume: string;
  site: string;
  /** The export hosts connect to. */
  nbd?: { host: string; port: number; export: string };
  /** Overrides the URI made from `nbd`. */
  nbdUri?: string;
  tls?: BuiltNodeTls;
  /** SPEC step carried out (S106, S405...), for the hook's own logs. */
  step?: string;
  job?: string;
}

export interface HostHookResult {
  outcome: 'ran' | 'skipped';
  durationMs: number;
  /** Last lines of stdout and stderr together, for the job's step log. */
  outputTail: string;
}

export async function runHostHook(
  hook: HostHookConfig | undefined,
  event: HostEvent,
  env: HostHookEnv,
  options: { logger?: Logger; cwd?: string } = {},
): Promise<HostHookResult> {
  const logger = options.logger ?? silentLogger;
  if (!hook) {
    logger.info({ event, site: env.site, volume: env.volume }, `no ${event} hook configured: skipped`);
    return { outcome: 'skipped', durationMs: 0, outputTail: '' };
  }
  const timeoutMs = (hook.timeoutSeconds ?? DEFAULT_TIMEOUT_S) * 1000;
  const tls = env.tls;
  const uri =
    env.nbdUri ??
    (env.nbd &&
      nbdUri({ nbd: { host: env.nbd.host, port: env.nbd.port, tls: tls?.mode ?? 'off' } }, env.nbd.export));
  const vars = childEnv({
    REBOUND_EVENT: event,
    REBOUND_SITE: env.site,
    REBOUND_VOLUME: env.volume,
    REBOUND_NBD_URI: uri,
    REBOUND_NBD_HOST: env.nbd?.host,
    REBOUND_NBD_PORT: env.nbd && String(env.nbd.port),
    REBOUND_NBD_EXPORT: env.nbd?.export,
    REBOUND_TLS_MODE: tls?.mode ?? 'off',
    REBOUND_TLS_PSK_IDENTITY: tls?.pskIdentity,
    REBOUND_TLS_PSK_FILE: tls?.pskFile,
    REBOUND_TLS_CA_FILE: tls?.caFile,
    REBOUND_STEP: env.step,
    REBOUND_JOB: env.job,
  });
  // The log line names what the hook was told, never a key (there is none in it to name).
  const about = { event, site: env.site, volume: env.volume, nbdUri: uri, tlsMode: tls?.mode ?? 'off' };
  logger.info(about, `running the ${event} hook`);
  let r: Awaited<ReturnType<typeof runShell>>;
  try {
    r = await runShell(hook.command, { env: vars, cwd: options.cwd, timeoutMs });
  } catch (err) {
    throw new ReboundError('HOST_HOOK_FAILED', `cannot run the ${event} hook: ${(err as Error).message}`, {
      cause: err,
      detail: { event },
    });
  }
  const outputTail = tail(r.output, 20);
  const ended = describeExit(r, timeoutMs);
  if (r.exitCode !== 0 || r.timedOut) {
    logger.warn({ ...about, exit: ended, durationMs: r.durationMs }, `the ${event} hook failed`);
    throw new ReboundError(
      'HOST_HOOK_FAILED',
      `the ${event} hook for volume ${env.volume} at site ${env.site} failed (${ended}); ` +
        `do this step by hand or fix the hook, then resume. Its output ends:\n${outputTail || '(no output)'}`,
      { detail: { event, exitCode: r.exitCode, timedOut: r.timedOut, outputTail } },
    );
  }
  logger.info({ ...about, durationMs: r.durationMs }, `the ${event} hook succeeded`);
  return { outcome: 'ran', durationMs: r.durationMs, outputTail };
}
