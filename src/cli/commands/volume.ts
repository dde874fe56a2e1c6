/**
 * rebound volume list|create|show|delete|compare: volumes on every registered node,
 * through the manager (SPEC Fig. 7); compare proves two volumes identical by block hashes.
 */
import type { Command } from 'commander';
import type { VolumeView } from '../../manager/api-schema.js';
import { formatBytes, parseSize } from '../../units.js';
import { globals } from '../context.js';
import { managerClient } from '../manager-context.js';
import { emit, printRecord, printTable } from '../output.js';

function showVolume(v: VolumeView): void {
  printRecord({
    name: v.name,
    'unique id': v.uniqueId,
    'inherited id': v.inheritedUniqueId,
    node: `${v.node} (site ${v.site}, ${v.nodeHealth})`,
    serial: v.serial,
    number: v.number,
    pool: v.pool,
    provisioned: `${formatBytes(v.sizeBytes)} (${v.sizeBytes} bytes)`,
    used: `${formatBytes(v.usedBytes)} (${v.usedPercent}%)`,
    'backed up': v.backedUp ? `yes, last ${v.lastBackupAt}` : 'no',
    created: v.createdAt,
  });
}

export function volumeCommands(program: Command): void {
  const volume = program
    .command('volume')
    .description('volumes on the registered nodes (through the manager)');

  volume
    .command('list')
    .description('list volumes with capacity, use, node health and last backup')
    .option('--node <node>', 'only the volumes of this node')
    .action(async (opts: { node?: string }, cmd: Command) => {
      const list = await (await managerClient(cmd)).listVolumes(opts.node ? { node: opts.node } : {});
      emit(globals(cmd), list, () =>
        printTable(
          list.map((v) => ({
            name: v.name,
            node: v.node,
            uniqueId: v.uniqueId,
            inherited: v.inheritedUniqueId ?? '-',
            size: formatBytes(v.sizeBytes),
            used: `${v.usedPercent}%`,
            health: v.nodeHealth,
            lastBackup: v.lastBackupAt ?? 'never',
          })),
          ['name', 'node', 'uniqueId', 'inherited', 'size', 'used', 'health', 'lastBackup'],
        ),
      );
    });

  volume
    .command('create <name>')
    .description('create a thin volume on a node (no space is used until it is written)')
    .requiredOption('--on <node>', 'the node to create it on')
    .requiredOption('-s, --size <size>', 'provisioned size, e.g. 10G')
    .action(async (name: string, opts: { on: string; size: string }, cmd: Command) => {
      const v = await (await managerClient(cmd)).createVolume(opts.on, name, parseSize(opts.size));
      emit(globals(cmd), v, () => showVolume(v));
    });

  volume
    .command('show <volume>')
    .description('a volume by name or unique ID')
    .action(async (ref: string, _opts, cmd: Command) => {
      const v = await (await managerClient(cmd)).getVolume(ref);
      emit(globals(cmd), v, () => showVolume(v));
    });

  volume
    .command('delete <volume>')
    .description('delete a volume and free its blocks')
    .action(async (ref: string, _opts, cmd: Command) => {
      await (await managerClient(cmd)).deleteVolume(ref);
      emit(globals(cmd), { deleted: ref }, () => console.log(`deleted volume ${ref}`));
    });

  volume
    .command('compare <a> <b>')
    .description(
      'are two volumes identical? each node hashes its own (SHA-256 per 64 KiB block); exits 1 when they differ',
    )
    .addHelpText('after', '\nA and B: a unique ID, a name held by one node, or NODE/NAME.')
    .action(async (a: string, b: string, _opts, cmd: Command) => {
      const r = await (await managerClient(cmd)).compareVolumes(a, b);
      emit(globals(cmd), r, () => {
        const what = `${r.a.node}/${r.a.volume} and ${r.b.node}/${r.b.volume}`;
        if (r.identical)
          console.log(`${what} are identical (${r.blocksCompared} blocks of ${r.hashBlockBytes / 1024} KiB)`);
        else if (r.why) console.log(`${what} differ: ${r.why}`);
        else {
          console.log(
            `${what} differ in ${r.mismatchCount} of ${r.blocksCompared} blocks of ${r.hashBlockBytes / 1024} KiB; first:`,
          );
          for (const m of r.firstMismatches) console.log(`  block ${m.block} (offset ${m.offset})`);
        }
      });
      if (!r.identical) process.exitCode = 1;
    });
}
