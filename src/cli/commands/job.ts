/** rebound job list|show|watch|cancel|resume: the manager's long actions and their step logs. */
import type { Command } from 'commander';
import type { JobView } from '../../manager/api-schema.js';
import type { ManagerClient } from '../../manager/client.js';
import { formatBytes } from '../../units.js';
import { globals } from '../context.js';
import { managerClient } from '../manager-context.js';
import { emit, printRecord, printTable } from '../output.js';
import { watchJob } from '../watch-job.js';

/** The step's bytes done, or '-' when it reported none to do. */
function progress(j: JobView): string {
  const p = j.progress;
  if (!p || p.bytesTotal <= 0) return '-';
  return `${Math.floor((100 * p.bytesDone) / p.bytesTotal)}% ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}`;
}

const ACTIVE = new Set(['queued', 'running', 'paused', 'cancelling']);

/** While the job runs: its rate and time left; once it ended, the rate it last had, if any. */
function rateEta(j: JobView): string {
  const p = j.progress;
  if (!p) return '-';
  const rate = p.rateBytesPerSec > 0 ? `${formatBytes(Math.round(p.rateBytesPerSec))}/s` : null;
  if (!ACTIVE.has(j.state)) return rate ?? '-';
  return `${rate ?? '-'}, ${p.etaSeconds ?? '?'} s`;
}

/** After starting a job: follow it to its end and print it (a progress bar on a terminal), or with --no-wait print how to. */
export async function followJob(
  cmd: Command,
  client: ManagerClient,
  job: JobView,
  wait: boolean,
): Promise<void> {
  const g = globals(cmd);
  const end = wait ? await watchJob(client, job, g.json ?? false) : job;
  emit(g, end, () =>
    wait ? showJob(end, { steps: false }) : console.log(`job ${end.id} started: rebound job watch ${end.id}`),
  );
}

export function showJob(j: JobView, options: { steps?: boolean } = {}): void {
  printRecord({
    id: j.id,
    title: j.title,
    state: j.state + (j.pausedReason ? ` (${j.pausedReason})` : ''),
    step: j.step,
    progress: progress(j),
    'rate, eta': rateEta(j),
    error: j.error ? `${j.error.code}: ${j.error.message}` : null,
    late: j.late ? 'yes (a run missed while the manager was down)' : null,
    by: j.createdBy ?? (j.setting ? `schedule ${j.setting}` : null),
    created: j.createdAt,
    ended: j.endedAt,
  });
  if (j.result) console.log(`result: ${JSON.stringify(j.result)}`);
  if (options.steps !== false && j.log?.length) {
    console.log('steps:');
    for (const l of j.log)
      console.log(
        `  ${l.at.slice(0, 19).replace('T', ' ')}  ${(l.spec ?? '').padEnd(10)} ${l.status.padEnd(7)} ${l.step}: ${l.message}`,
      );
  }
}

export function jobCommands(program: Command): void {
  const job = program
    .command('job')
    .description('jobs: backups, restores, verifies, failovers and failbacks');

  job
    .command('list')
    .description('recent jobs, newest first')
    .option(
      '--state <states>',
      'comma-separated: queued,running,paused,cancelling,succeeded,failed,cancelled',
    )
    .option('--kind <kind>', 'backup, restore, verify, ...')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (opts: { state?: string; kind?: string; limit: string }, cmd: Command) => {
      const list = await (await managerClient(cmd)).listJobs({ ...opts, limit: Number(opts.limit) });
      emit(globals(cmd), list, () =>
        printTable(
          list.map((j) => ({
            id: j.id,
            kind: j.kind,
            state: j.state,
            step: j.step ?? '-',
            progress: progress(j),
            created: j.createdAt.slice(0, 19).replace('T', ' '),
            title: j.title,
          })),
          ['id', 'kind', 'state', 'step', 'progress', 'created', 'title'],
        ),
      );
    });

  job
    .command('show <id>')
    .description('a job with its step log (SPEC step numbers)')
    .action(async (id: string, _opts, cmd: Command) => {
      const j = await (await managerClient(cmd)).getJob(id);
      emit(globals(cmd), j, () => showJob(j));
    });

  job
    .command('watch <id>')
    .description('follow a job to its end with a progress bar (Ctrl-C cancels it)')
    .action(async (id: string, _opts, cmd: Command) => {
      const client = await managerClient(cmd);
      const j = await watchJob(client, await client.getJob(id), globals(cmd).json ?? false);
      emit(globals(cmd), j, () => showJob(j, { steps: false }));
    });

  job
    .command('cancel <id>')
    .description('cancel a job; what it wrote stays consistent')
    .action(async (id: string, _opts, cmd: Command) => {
      const j = await (await managerClient(cmd)).cancelJob(id);
      emit(globals(cmd), j, () => console.log(`job ${j.id}: ${j.state}`));
    });

  job
    .command('resume <id>')
    .description('resume a paused job (it also resumes by itself when its node answers again)')
    .action(async (id: string, _opts, cmd: Command) => {
      const j = await (await managerClient(cmd)).resumeJob(id);
      emit(globals(cmd), j, () => console.log(`job ${j.id}: ${j.state}`));
    });
}
