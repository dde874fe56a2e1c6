/** rebound volume create|list|show|grow|delete|fence|unfence */
import type { Command } from 'commander';
import type { api } from '../../../node/index.js';
import { formatBytes, parseSize } from '../../../units.js';
import { globals, nodeClient } from '../../context.js';
import { emit, printRecord, printTable } from '../../output.js';

type VolumeInfo = api.VolumeInfo;

function showVolume(v: VolumeInfo): void {
  printRecord({
    name: v.name,
    'unique id': v.uniqueId,
    'inherited id': v.inheritedUniqueId,
    serial: v.serial,
    number: v.number,
    pool: v.pool,
    provisioned: `${formatBytes(v.sizeBytes)} (${v.sizeBytes} bytes)`,
    used: `${formatBytes(v.usedBytes)} (${pct(v)})`,
    fenced: v.fenced,
    snapshots: v.snapshots,
    bitmaps: v.bitmaps,
    created: v.createdAt,
    nbd: v.nbdUri,
  });
}

function pct(v: VolumeInfo): string {
  return `${v.sizeBytes ? ((100 * v.usedBytes) / v.sizeBytes).toFixed(1) : '0.0'}%`;
}

export function volumeCommands(program: Command): void {
  const volume = program.command('volume').description('thin volumes on a node');

  volume
    .command('create <name>')
    .description('create a thin volume (no space is used until it is written)')
    .requiredOption('-s, --size <size>', 'provisioned size, e.g. 10G')
    .action(async (name: string, opts: { size: string }, cmd: Command) => {
      const v = await (await nodeClient(cmd)).createVolume(name, parseSize(opts.size));
      emit(globals(cmd), v, () => showVolume(v));
    });

  volume
    .command('list')
    .description('list volumes with capacity, use and state')
    .action(async (_opts, cmd: Command) => {
      const list = await (await nodeClient(cmd)).listVolumes();
      emit(globals(cmd), list, () =>
        printTable(
          list.map((v) => ({
            name: v.name,
            uniqueId: v.uniqueId,
            size: formatBytes(v.sizeBytes),
            used: pct(v),
            state: v.fenced ? 'fenced' : 'online',
            nbd: v.nbdUri,
          })),
          ['name', 'uniqueId', 'size', 'used', 'state', 'nbd'],
        ),
      );
    });

  volume
    .command('show <name>')
    .description('show one volume: identity, capacity, snapshots, bitmaps')
    .action(async (name: string, _opts, cmd: Command) => {
      const v = await (await nodeClient(cmd)).getVolume(name);
      emit(globals(cmd), v, () => showVolume(v));
    });

  volume
    .command('grow <name>')
    .description('grow a volume to a new provisioned size')
    .requiredOption('-s, --size <size>', 'new size, e.g. 20G')
    .action(async (name: string, opts: { size: string }, cmd: Command) => {
      const v = await (await nodeClient(cmd)).growVolume(name, parseSize(opts.size));
      emit(globals(cmd), v, () => showVolume(v));
    });

  volume
    .command('delete <name>')
    .description('delete a volume and give its blocks back to the pool')
    .action(async (name: string, _opts, cmd: Command) => {
      await (await nodeClient(cmd)).deleteVolume(name);
      emit(globals(cmd), { deleted: name }, () => console.log(`deleted ${name}`));
    });

  volume
    .command('fence <name>')
    .description('stop accepting host I/O on a volume (waits for requests in flight)')
    .action(async (name: string, _opts, cmd: Command) => {
      const v = await (await nodeClient(cmd)).fence(name);
      emit(globals(cmd), v, () => console.log(`${name}: host I/O stopped`));
    });

  volume
    .command('unfence <name>')
    .description('accept host I/O on a volume again')
    .action(async (name: string, _opts, cmd: Command) => {
      const v = await (await nodeClient(cmd)).unfence(name);
      emit(globals(cmd), v, () => console.log(`${name}: host I/O accepted`));
    });
}
