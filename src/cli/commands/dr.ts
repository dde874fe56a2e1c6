/**
 * rebound failover and rebound dr status: bring volumes up at a secondary site from their
 * backups (SPEC S101-S108), and see where each protected volume is active.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ReboundError } from '../../errors.js';
import type { FailoverBody } from '../../manager/api-schema.js';
import { formatBytes } from '../../units.js';
import { globals } from '../context.js';
import { generationKey } from '../keys.js';
import { managerClient } from '../manager-context.js';
import { emit, printTable } from '../output.js';
import { followJob } from './job.js';

async function jsonFile(path: string | undefined, what: string): Promise<unknown> {
  if (!path) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ReboundError(
      'INVALID_ARGUMENT',
      `${what}: cannot read ${path} as JSON (${(err as Error).message})`,
    );
  }
}

function age(seconds: number | null): string {
  if (seconds === null) return 'never backed up';
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function drCommands(program: Command): void {
  program
    .command('failover <volumes...>')
    .description('bring volumes up at a secondary site from their backups (SPEC S101-S108)')
    .requiredOption('--site <site>', 'the secondary site (made when new)')
    .requiredOption('--store <store>', 'the store holding the backups')
    .option('--generation <key>', 'the generation to restore (one volume only); default the newest')
    .option(
      '--provider <file>',
      'JSON: how to build the site\'s node ({"type":"local"} by default, or command, static)',
    )
    .option('--hooks <file>', 'JSON: {"startHosts": {"command": ...}, "stopHosts": {...}}')
    .option('--no-wait', 'start the job and print its ID')
    .action(
      async (
        refs: string[],
        opts: {
          site: string;
          store: string;
          generation?: string;
          provider?: string;
          hooks?: string;
          wait: boolean;
        },
        cmd: Command,
      ) => {
        if (opts.generation && refs.length > 1)
          throw new ReboundError(
            'INVALID_ARGUMENT',
            "--generation names one volume's generation: give one volume",
          );
        const body = {
          site: opts.site,
          store: opts.store,
          volumes: refs.map((r) =>
            opts.generation ? { volume: r, generation: generationKey(opts.generation, '--generation') } : r,
          ),
          ...(opts.provider ? { provider: await jsonFile(opts.provider, '--provider') } : {}),
          ...(opts.hooks ? { hooks: await jsonFile(opts.hooks, '--hooks') } : {}),
        } as FailoverBody;
        const client = await managerClient(cmd);
        await followJob(cmd, client, await client.failover(body), opts.wait);
      },
    );

  program
    .command('failback <volume>')
    .description(
      'bring a failed-over volume home, moving only what changed when the IDs allow (SPEC S401-S906)',
    )
    .option(
      '--method <method>',
      'remote-copy (a pair with a journal), external (the primary volume attached at the secondary and copied into) or object-store',
      'remote-copy',
    )
    .option(
      '--read-id-from <where>',
      "external only: 'primary' lets the secondary compare with the unique ID the primary gives for its volume (SPEC Fig. 27-28); default the manager's",
    )
    .option(
      '--to <volume>',
      'the primary volume to fail back into (default: the one failed over); another volume gets every block',
    )
    .option(
      '--verify <scope>',
      "before the primary's hosts start, compare 'changed' blocks (default) or 'full' volumes (every block, slower)",
    )
    .option('--no-wait', 'start the job and print its ID')
    .option('--estimate', 'show what each method would move, and start nothing')
    .action(
      async (
        volume: string,
        opts: {
          method: string;
          readIdFrom?: string;
          to?: string;
          verify?: string;
          wait: boolean;
          estimate?: boolean;
        },
        cmd: Command,
      ) => {
        if (opts.estimate) {
          const e = await (await managerClient(cmd)).failbackEstimate(volume);
          emit(globals(cmd), e, () => {
            console.log(
              `${e.volume}: ${e.changedBlocks} block${e.changedBlocks === 1 ? '' : 's'} (${formatBytes(e.changedBytes)}) changed at ${e.secondaryNode} since failover; a full copy is ${e.fullBlocks} blocks (${formatBytes(e.fullBytes)})${e.why ? `; ${e.why}` : ''}`,
            );
            printTable(
              e.methods.map((m) => ({
                method: m.method,
                blocks: m.blocks,
                bytes: formatBytes(m.bytes),
                how: m.how,
              })),
              ['method', 'blocks', 'bytes', 'how'],
            );
          });
          return;
        }
        if (opts.method !== 'object-store' && opts.method !== 'remote-copy' && opts.method !== 'external')
          throw new ReboundError(
            'INVALID_ARGUMENT',
            `--method must be remote-copy, external or object-store, not "${opts.method}"`,
          );
        if (opts.readIdFrom !== undefined && opts.readIdFrom !== 'primary' && opts.readIdFrom !== 'manager')
          throw new ReboundError(
            'INVALID_ARGUMENT',
            `--read-id-from must be primary or manager, not "${opts.readIdFrom}"`,
          );
        if (opts.verify !== undefined && opts.verify !== 'changed' && opts.verify !== 'full')
          throw new ReboundError(
            'INVALID_ARGUMENT',
            `--verify must be changed or full, not "${opts.verify}"`,
          );
        const client = await managerClient(cmd);
        const job = await client.failback({
          volume,
          method: opts.method,
          ...(opts.to ? { destination: opts.to } : {}),
          ...(opts.verify ? { verify: opts.verify as 'changed' | 'full' } : {}),
          ...(opts.readIdFrom ? { readIdFrom: opts.readIdFrom as 'primary' | 'manager' } : {}),
        });
        await followJob(cmd, client, job, opts.wait);
      },
    );

  const dr = program.command('dr').description('disaster recovery state');
  dr.command('status')
    .description(
      'per volume: active site, secondary, changes since failover, consistency, the failback (any method), RPO',
    )
    .action(async (_o, cmd: Command) => {
      const list = await (await managerClient(cmd)).drStatus();
      emit(globals(cmd), list, () => {
        printTable(
          list.map((d) => ({
            volume: d.volume,
            lineage: d.lineage,
            active:
              d.active === 'secondary'
                ? `${d.secondarySite} (${d.secondaryNode})`
                : `primary (${d.primaryNode})`,
            state: d.state,
            changed:
              d.changedBlocks === null
                ? '-'
                : `${d.changedBlocks} block${d.changedBlocks === 1 ? '' : 's'}, ${formatBytes(d.changedBytes ?? 0)}`,
            consistency: d.consistency ?? '-',
            failback: d.failback
              ? `${d.failback.method} ${d.failback.state}${d.failback.state === 'running' || d.failback.state === 'paused' ? ` at ${d.failback.step}${d.failback.bytesTotal ? ` ${Math.round((100 * (d.failback.bytesDone ?? 0)) / d.failback.bytesTotal)}%` : ''}` : ''}`
              : '-',
            pair: d.pair
              ? `${d.pair.state} ${formatBytes(d.pair.blocksCopied * d.pair.blockBytes)}/${formatBytes(d.pair.blocksToCopy * d.pair.blockBytes)}, lag ${d.pair.lagEntries}${d.pair.retrying ? `, retrying (attempt ${d.pair.retrying.attempt}: ${d.pair.retrying.message})` : ''}`
              : '-',
            rpo: age(d.rpoSeconds),
            nbd: d.secondaryNbdUri ?? '-',
          })),
          [
            'volume',
            'lineage',
            'active',
            'state',
            'changed',
            'consistency',
            'failback',
            'pair',
            'rpo',
            'nbd',
          ],
        );
        // What consistency assurance did at failover (S301-S303), or why it is owed: where
        // the primary's writes after its last backup are kept, which a table cell cannot hold.
        for (const d of list.filter((x) => x.consistencyDetail))
          console.log(
            `\n${d.volume}: consistency assurance ${d.consistency === 'owed' ? 'owed' : 'at failover'}: ${d.consistencyDetail}`,
          );
        // A secondary that does not answer leaves its columns unknown: say why, and the way back.
        for (const d of list.filter((x) => x.secondaryProblem))
          console.log(
            `\n${d.volume}: the secondary ${d.secondaryNode} (site ${d.secondarySite}) cannot be asked: ${d.secondaryProblem}` +
              `\n  if its node stopped, start it again: rebound site start ${d.secondarySite}`,
          );
      });
    });
}
