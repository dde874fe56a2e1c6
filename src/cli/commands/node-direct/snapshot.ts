/** rebound snapshot create|list|delete */
import type { Command } from 'commander';
import { formatBytes } from '../../../units.js';
import { globals, nodeClient } from '../../context.js';
import { emit, printTable } from '../../output.js';

export function snapshotCommands(program: Command): void {
  const snapshot = program.command('snapshot').description('read-only, copy-on-write snapshots of a volume');

  snapshot
    .command('create <volume> <name>')
    .description('take a snapshot (costs nothing until the volume changes)')
    .action(async (volume: string, name: string, _opts, cmd: Command) => {
      const s = await (await nodeClient(cmd)).createSnapshot(volume, name);
      emit(globals(cmd), s, () => console.log(`snapshot ${volume}@${name} taken; read-only at ${s.nbdUri}`));
    });

  snapshot.command('list <volume>').action(async (volume: string, _opts, cmd: Command) => {
    const list = await (await nodeClient(cmd)).listSnapshots(volume);
    emit(globals(cmd), list, () =>
      printTable(
        list.map((s) => ({
          name: s.name,
          size: formatBytes(s.sizeBytes),
          created: s.createdAt,
          nbd: s.nbdUri,
        })),
        ['name', 'size', 'created', 'nbd'],
      ),
    );
  });

  snapshot
    .command('delete <volume> <name>')
    .action(async (volume: string, name: string, _opts, cmd: Command) => {
      await (await nodeClient(cmd)).deleteSnapshot(volume, name);
      emit(globals(cmd), { deleted: `${volume}@${name}` }, () => console.log(`deleted ${volume}@${name}`));
    });
}
