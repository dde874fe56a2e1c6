/**
 * rebound backup run|list|verify|delete|prune|serve|unmount and rebound restore: backups
 * of a node's volumes in its registered stores (SPEC "Backup settings", "Restore").
 */
import type { Command } from 'commander';
import { ReboundError } from '../../../errors.js';
import type { api } from '../../../node/index.js';
import { formatBytes } from '../../../units.js';
import { globals, nodeClient } from '../../context.js';
import { emit, printRecord, printTable } from '../../output.js';
import { watchTask } from '../../watch-task.js';

const METHODS = ['full', 'incremental', 'differential'] as const;

function count(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new ReboundError('INVALID_ARGUMENT', `${what} must be a whole number`);
  return n;
}

export function backupCommands(program: Command): void {
  const backup = program.command('backup').description('backups of volumes in object stores');

  backup
    .command('run <volume>')
    .description('back up a volume now and wait for it (Ctrl-C cancels)')
    .requiredOption('--store <store>', 'registered store to back up to')
    .option('--method <method>', 'full, incremental or differential', 'incremental')
    .option('--no-wait', 'start it and print the task instead of waiting')
    .action(async (volume: string, opts: { store: string; method: string; wait: boolean }, cmd: Command) => {
      const method = opts.method as (typeof METHODS)[number];
      if (!METHODS.includes(method)) {
        throw new ReboundError('INVALID_ARGUMENT', `--method must be full, incremental or differential`);
      }
      const client = await nodeClient(cmd);
      const g = globals(cmd);
      let task = await client.startBackup({ volume, store: opts.store, method });
      if (opts.wait) task = await watchTask(client, task, g.json ?? false);
      emit(g, task, () => {
        if (!opts.wait) return console.log(`started task ${task.id}`);
        const r = task.result as {
          method: string;
          reason?: string;
          generationKey: string;
          blocks: number;
          bytesStored: number;
          elapsedMs: number;
        };
        console.log(
          `${r.method} backup of ${volume}: ${r.blocks} blocks, ${formatBytes(r.bytesStored)} stored in ${(r.elapsedMs / 1000).toFixed(1)} s`,
        );
        if (r.reason) console.log(`  (${method} requested; full because ${r.reason})`);
        console.log(`  generation ${r.generationKey}`);
      });
    });

  backup
    .command('list')
    .description('list the generations in a store')
    .requiredOption('--store <store>', 'registered store')
    .option('--volume <volume>', "only this volume's lineage")
    .option('--unique-id <id>', 'only this unique ID')
    .action(async (opts: { store: string; volume?: string; uniqueId?: string }, cmd: Command) => {
      const list = await (await nodeClient(cmd)).listGenerations(opts.store, {
        ...(opts.volume && { volume: opts.volume }),
        ...(opts.uniqueId && { uniqueId: opts.uniqueId }),
      });
      emit(globals(cmd), list, () =>
        printTable(
          list.map((g: api.GenerationView) => ({
            gen: g.generation,
            method: g.method + (g.merged ? '*' : ''),
            time: g.time,
            volume: g.volumeName,
            uniqueId: g.uniqueId,
            blocks: g.blockCount,
            stored: formatBytes(g.storedBytes),
            protected: g.protected ? 'yes' : '',
            key: g.key,
          })),
          ['gen', 'method', 'time', 'volume', 'uniqueId', 'blocks', 'stored', 'protected', 'key'],
        ),
      );
    });

  backup
    .command('verify')
    .description('re-read every block and check it; names any missing or damaged object')
    .requiredOption('--store <store>', 'registered store')
    .option('--generation <key>', 'one generation (default: every generation in the store)')
    .option('--unique-id <id>', "every generation of this unique ID's lineage")
    .action(async (opts: { store: string; generation?: string; uniqueId?: string }, cmd: Command) => {
      const client = await nodeClient(cmd);
      const g = globals(cmd);
      const task = await watchTask(
        client,
        await client.startVerify(opts.store, { generation: opts.generation, uniqueId: opts.uniqueId }),
        g.json ?? false,
      );
      const report = task.result as {
        ok: boolean;
        generations: string[];
        blocksChecked: number;
        problems: { key: string; code: string; message: string }[];
      };
      emit(g, report, () => {
        console.log(
          `${report.ok ? 'OK' : 'DAMAGED'}: ${report.generations.length} generation(s), ${report.blocksChecked} blocks checked`,
        );
        for (const p of report.problems) console.log(`  ${p.code} ${p.key}: ${p.message}`);
      });
      if (!report.ok) process.exitCode = 3;
    });

  backup
    .command('delete <generation>')
    .description('delete a generation; its incremental children are merged so they still restore')
    .requiredOption('--store <store>', 'registered store')
    .action(async (generation: string, opts: { store: string }, cmd: Command) => {
      const r = await (await nodeClient(cmd)).deleteGeneration(opts.store, generation);
      emit(globals(cmd), r, () => printRecord(r as Record<string, unknown>));
    });

  backup
    .command('prune')
    .description('apply retention rules to a lineage (protected failover bases are kept)')
    .requiredOption('--store <store>', 'registered store')
    .requiredOption('--unique-id <id>', 'the lineage (see `backup list`)')
    .option('--keep-last <n>')
    .option('--keep-daily <n>')
    .option('--keep-weekly <n>')
    .option('--keep-monthly <n>')
    .option('--dry-run', 'show what would go')
    .action(async (opts: Record<string, string | boolean | undefined>, cmd: Command) => {
      const r = await (await nodeClient(cmd)).prune(String(opts.store), {
        uniqueId: String(opts.uniqueId),
        keepLast: count(opts.keepLast as string | undefined, '--keep-last'),
        keepDaily: count(opts.keepDaily as string | undefined, '--keep-daily'),
        keepWeekly: count(opts.keepWeekly as string | undefined, '--keep-weekly'),
        keepMonthly: count(opts.keepMonthly as string | undefined, '--keep-monthly'),
        dryRun: opts.dryRun === true,
      });
      emit(globals(cmd), r, () => {
        const plan = r as { keep: { generation: string; reasons: string[] }[]; remove: string[] };
        for (const k of plan.keep) console.log(`keep    ${k.generation}  (${k.reasons.join(', ')})`);
        for (const k of plan.remove) console.log(`${opts.dryRun ? 'would remove' : 'removed'} ${k}`);
      });
    });

  backup
    .command('serve <generation>')
    .description('mount a generation read-only over NBD without restoring it')
    .requiredOption('--store <store>', 'registered store')
    .requiredOption('--name <name>', 'exported as backup-NAME')
    .action(async (generation: string, opts: { store: string; name: string }, cmd: Command) => {
      const m = await (await nodeClient(cmd)).serve(opts.store, generation, opts.name);
      emit(globals(cmd), m, () => console.log(`serving ${generation} read-only at ${m.nbdUri}`));
    });

  backup
    .command('unmount <name>')
    .description('stop serving a mounted generation')
    .action(async (name: string, _opts, cmd: Command) => {
      await (await nodeClient(cmd)).unmount(name);
      emit(globals(cmd), { unmounted: name }, () => console.log(`unmounted ${name}`));
    });

  program
    .command('restore <generation>')
    .description('restore a generation into a volume; it inherits the source unique ID (S209-S210)')
    .requiredOption('--store <store>', 'registered store')
    .option('--volume <name>', 'destination volume (default: the source volume name)')
    .option('--overwrite', 'restore over an existing volume (fence it first)')
    .action(
      async (
        generation: string,
        opts: { store: string; volume?: string; overwrite?: boolean },
        cmd: Command,
      ) => {
        const client = await nodeClient(cmd);
        const g = globals(cmd);
        const task = await watchTask(
          client,
          await client.startRestore({
            store: opts.store,
            generation,
            volume: opts.volume,
            overwrite: opts.overwrite,
          }),
          g.json ?? false,
        );
        const r = task.result as {
          volume: api.VolumeInfo;
          chain: string[];
          bytesCopied: number;
          elapsedMs: number;
          bitmap: string;
        };
        emit(g, r, () => {
          console.log(
            `restored ${r.volume.name} (inherits ${r.volume.inheritedUniqueId}) from ${r.chain.length} generation(s): ${formatBytes(r.bytesCopied)} in ${(r.elapsedMs / 1000).toFixed(1)} s`,
          );
          console.log(`  changes from now on are tracked in bitmap ${r.bitmap}`);
        });
      },
    );
}
