/**
 * Backups through the manager (SPEC Fig. 10 to 17): rebound backup run|list|verify,
 * rebound backup setting add|list|show|run|enable|disable|remove, and rebound restore.
 * Long actions are jobs: they wait with a progress bar (Ctrl-C cancels) unless --no-wait.
 */
import type { Command } from 'commander';
import { ReboundError } from '../../errors.js';
import type { BackupSettingView } from '../../manager/api-schema.js';
import { formatBytes } from '../../units.js';
import { globals } from '../context.js';
import { generationKey } from '../keys.js';
import { managerClient } from '../manager-context.js';
import { emit, printRecord, printTable } from '../output.js';
import { followJob } from './job.js';

const METHODS = ['full', 'incremental', 'differential'] as const;
type Method = (typeof METHODS)[number];

function method(m: string): Method {
  if (!METHODS.includes(m as Method))
    throw new ReboundError(
      'INVALID_ARGUMENT',
      `--method must be full, incremental or differential, not "${m}"`,
    );
  return m as Method;
}

function whole(text: string | undefined, what: string, min = 0): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min)
    throw new ReboundError('INVALID_ARGUMENT', `${what} must be a whole number of at least ${min}`);
  return n;
}

function showSetting(s: BackupSettingView): void {
  const t = s.schedule;
  printRecord({
    name: s.name,
    id: s.id,
    volume: `${s.volumeName ?? '?'} (${s.volume}) on ${s.node ?? '?'}`,
    store: s.store,
    method: s.method,
    timing:
      t.kind === 'once'
        ? `once, ${t.at ?? 'now'}`
        : `${t.kind}, every ${t.interval} from ${t.start}${t.maxRuns ? `, at most ${t.maxRuns} runs` : ''}`,
    retention: s.retention ? Object.entries(s.retention).map(([k, v]) => `${k} ${v}`) : null,
    enabled: s.enabled,
    runs: s.runs,
    'next run': s.nextRunAt ?? 'none',
    'last run': s.lastRunAt,
    'last job': s.lastJob,
  });
}

export function backupCommands(program: Command): void {
  const backup = program
    .command('backup')
    .description('backups of volumes in object stores (through the manager)');

  backup
    .command('run <volume>')
    .description('back up a volume now and wait for it (Ctrl-C cancels)')
    .requiredOption('--store <store>', 'registered store to back up to')
    .option('--method <method>', 'full, incremental or differential', 'incremental')
    .option('--no-wait', 'start the job and print its ID')
    .action(async (volume: string, opts: { store: string; method: string; wait: boolean }, cmd: Command) => {
      const client = await managerClient(cmd);
      const job = await client.backup({ volume, store: opts.store, method: method(opts.method) });
      await followJob(cmd, client, job, opts.wait);
    });

  backup
    .command('list')
    .description('generations in a store (of one volume, or all)')
    .requiredOption('--store <store>', 'registered store')
    .option('--volume <volume>', 'only this volume (name or unique ID)')
    .action(async (opts: { store: string; volume?: string }, cmd: Command) => {
      const list = await (await managerClient(cmd)).listGenerations(
        opts.store,
        opts.volume ? { volume: opts.volume } : {},
      );
      emit(globals(cmd), list, () =>
        printTable(
          list.map((g) => ({
            generation: g.generation,
            method: g.method,
            time: g.time.slice(0, 19).replace('T', ' '),
            volume: `${g.volumeName} (${g.uniqueId})`,
            // Another volume of the lineage wrote it: a restored copy, such as the
            // secondary's generation N+1 of a failback through the store (S901).
            from: g.writtenBy === g.uniqueId ? '-' : g.writtenBy,
            blocks: g.blockCount,
            stored: formatBytes(g.storedBytes),
            key: g.key,
          })),
          ['generation', 'method', 'time', 'volume', 'from', 'blocks', 'stored', 'key'],
        ),
      );
    });

  backup
    .command('verify')
    .description('re-read and check every block of a generation (or of the whole store)')
    .requiredOption('--store <store>', 'registered store')
    .option('--generation <key>', 'one generation (its catalog key); default: every generation')
    .option('--no-wait', 'start the job and print its ID')
    .action(async (opts: { store: string; generation?: string; wait: boolean }, cmd: Command) => {
      const client = await managerClient(cmd);
      const job = await client.verify(
        opts.store,
        opts.generation ? { generation: generationKey(opts.generation, '--generation') } : {},
      );
      await followJob(cmd, client, job, opts.wait);
    });

  const setting = backup
    .command('setting')
    .description('backup settings: what, where, when, how (SPEC Fig. 10)');

  setting
    .command('add <name>')
    .description('back up a volume once or periodically')
    .requiredOption('--volume <volume>', 'the volume (name or unique ID)')
    .requiredOption('--store <store>', 'registered store')
    .option('--method <method>', 'full, incremental or differential', 'incremental')
    .option('--at <time>', 'one shot at this time (ISO 8601); default now, unless --every')
    .option('--every <period>', 'periodic: daily, weekly or monthly')
    .option('--start <time>', 'periodic: the first run (ISO 8601); default now')
    .option('--interval <n>', 'periodic: every N days, weeks or months', '1')
    .option('--max-runs <n>', 'periodic: stop after this many runs')
    .option('--keep-last <n>', 'retention: keep the newest N generations')
    .option('--keep-daily <n>', 'retention: one per day for N days')
    .option('--keep-weekly <n>', 'retention: one per week for N weeks')
    .option('--keep-monthly <n>', 'retention: one per month for N months')
    .action(
      async (
        name: string,
        o: {
          volume: string;
          store: string;
          method: string;
          at?: string;
          every?: string;
          start?: string;
          interval: string;
          maxRuns?: string;
          keepLast?: string;
          keepDaily?: string;
          keepWeekly?: string;
          keepMonthly?: string;
        },
        cmd: Command,
      ) => {
        if (o.every && !['daily', 'weekly', 'monthly'].includes(o.every))
          throw new ReboundError(
            'INVALID_ARGUMENT',
            `--every must be daily, weekly or monthly, not "${o.every}"`,
          );
        const iso = (t: string, what: string) => {
          const ms = Date.parse(t);
          if (Number.isNaN(ms))
            throw new ReboundError('INVALID_ARGUMENT', `${what} "${t}" is not a date and time (ISO 8601)`);
          return new Date(ms).toISOString();
        };
        const schedule = o.every
          ? {
              kind: o.every as 'daily' | 'weekly' | 'monthly',
              start: o.start ? iso(o.start, '--start') : new Date().toISOString(),
              interval: whole(o.interval, '--interval', 1)!,
              maxRuns: whole(o.maxRuns, '--max-runs', 1) ?? null,
            }
          : { kind: 'once' as const, at: o.at ? iso(o.at, '--at') : null };
        const retention = Object.fromEntries(
          Object.entries({
            keepLast: whole(o.keepLast, '--keep-last', 1),
            keepDaily: whole(o.keepDaily, '--keep-daily'),
            keepWeekly: whole(o.keepWeekly, '--keep-weekly'),
            keepMonthly: whole(o.keepMonthly, '--keep-monthly'),
          }).filter(([, v]) => v !== undefined),
        );
        const s = await (await managerClient(cmd)).addBackupSetting({
          name,
          volume: o.volume,
          store: o.store,
          method: method(o.method),
          schedule,
          ...(Object.keys(retention).length ? { retention } : {}),
        });
        emit(globals(cmd), s, () => showSetting(s));
      },
    );

  setting
    .command('list')
    .description('every backup setting with its next run')
    .action(async (_opts, cmd: Command) => {
      const list = await (await managerClient(cmd)).listBackupSettings();
      emit(globals(cmd), list, () =>
        printTable(
          list.map((s) => ({
            name: s.name,
            volume: s.volumeName ?? s.volume,
            store: s.store,
            method: s.method,
            timing: s.schedule.kind === 'once' ? 'once' : `${s.schedule.kind}/${s.schedule.interval}`,
            enabled: s.enabled,
            runs: s.runs,
            next: s.nextRunAt ?? '-',
          })),
          ['name', 'volume', 'store', 'method', 'timing', 'enabled', 'runs', 'next'],
        ),
      );
    });

  setting.command('show <setting>').action(async (ref: string, _opts, cmd: Command) => {
    const s = await (await managerClient(cmd)).getBackupSetting(ref);
    emit(globals(cmd), s, () => showSetting(s));
  });

  setting
    .command('run <setting>')
    .description('run a setting now, outside its timing')
    .option('--no-wait', 'start the job and print its ID')
    .action(async (ref: string, opts: { wait: boolean }, cmd: Command) => {
      const client = await managerClient(cmd);
      await followJob(cmd, client, await client.runBackupSetting(ref), opts.wait);
    });

  for (const [verb, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const)
    setting.command(`${verb} <setting>`).action(async (ref: string, _opts, cmd: Command) => {
      const s = await (await managerClient(cmd)).updateBackupSetting(ref, { enabled });
      emit(globals(cmd), s, () => console.log(`backup setting ${s.name}: ${verb}d`));
    });

  setting
    .command('remove <setting>')
    .description('delete a setting (its generations stay in the store)')
    .action(async (ref: string, _opts, cmd: Command) => {
      await (await managerClient(cmd)).removeBackupSetting(ref);
      emit(globals(cmd), { removed: ref }, () => console.log(`removed backup setting ${ref}`));
    });

  program
    .command('restore <generation>')
    .description('restore a generation onto a node (SPEC S201-S211): the volume inherits the unique ID')
    .requiredOption('--store <store>', 'registered store holding it')
    .requiredOption('--on <node>', 'the node to restore onto')
    .option('--volume <name>', 'destination volume (default: the source volume name)')
    .option('--overwrite', 'restore over an existing volume')
    .option('--no-wait', 'start the job and print its ID')
    .action(
      async (
        generation: string,
        opts: { store: string; on: string; volume?: string; overwrite?: boolean; wait: boolean },
        cmd: Command,
      ) => {
        const client = await managerClient(cmd);
        const job = await client.restore({
          store: opts.store,
          generation: generationKey(generation, '<generation>'),
          node: opts.on,
          ...(opts.volume ? { volume: opts.volume } : {}),
          ...(opts.overwrite ? { overwrite: true } : {}),
        });
        await followJob(cmd, client, job, opts.wait);
      },
    );
}
