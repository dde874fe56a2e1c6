/**
 * rebound bitmap create|list|freeze|merge|clear|delete: a volume's named update bitmaps
 * (SPEC "update difference management"); freeze is SPEC's "fix the bitmap".
 */
import type { Command } from 'commander';
import type { api } from '../../../node/index.js';
import { formatBytes } from '../../../units.js';
import { globals, nodeClient } from '../../context.js';
import { emit, printTable } from '../../output.js';

type BitmapInfo = api.BitmapInfo;

function line(b: BitmapInfo): string {
  return `${b.volume}/${b.name}: ${b.active ? 'active' : 'frozen'}, ${b.dirtyBlocks} changed blocks (${formatBytes(b.dirtyBlocks * b.blockSizeBytes)})`;
}

export function bitmapCommands(program: Command): void {
  const bitmap = program.command('bitmap').description("a volume's update bitmaps: which blocks changed");

  bitmap
    .command('create <volume> <name>')
    .description('start recording changed blocks from now on')
    .action(async (volume: string, name: string, _opts, cmd: Command) => {
      const b = await (await nodeClient(cmd)).createBitmap(volume, name);
      emit(globals(cmd), b, () => console.log(line(b)));
    });

  bitmap.command('list <volume>').action(async (volume: string, _opts, cmd: Command) => {
    const list = await (await nodeClient(cmd)).listBitmaps(volume);
    emit(globals(cmd), list, () =>
      printTable(
        list.map((b) => ({
          name: b.name,
          state: b.active ? 'active' : 'frozen',
          changedBlocks: b.dirtyBlocks,
          changed: formatBytes(b.dirtyBlocks * b.blockSizeBytes),
          created: b.createdAt,
        })),
        ['name', 'state', 'changedBlocks', 'changed', 'created'],
      ),
    );
  });

  bitmap
    .command('freeze <volume> <name>')
    .description('atomically move the bits into a frozen bitmap and restart this one empty')
    .requiredOption('--into <frozen>', 'name of the frozen bitmap that receives the bits')
    .action(async (volume: string, name: string, opts: { into: string }, cmd: Command) => {
      const b = await (await nodeClient(cmd)).freezeBitmap(volume, name, opts.into);
      emit(globals(cmd), b, () => console.log(line(b)));
    });

  bitmap
    .command('merge <volume> <into>')
    .description('add the bits of another bitmap into this one')
    .requiredOption('--from <bitmap>', 'bitmap whose bits are added')
    .action(async (volume: string, into: string, opts: { from: string }, cmd: Command) => {
      const b = await (await nodeClient(cmd)).mergeBitmap(volume, opts.from, into);
      emit(globals(cmd), b, () => console.log(line(b)));
    });

  bitmap
    .command('clear <volume> <name>')
    .action(async (volume: string, name: string, _opts, cmd: Command) => {
      const b = await (await nodeClient(cmd)).clearBitmap(volume, name);
      emit(globals(cmd), b, () => console.log(line(b)));
    });

  bitmap
    .command('delete <volume> <name>')
    .action(async (volume: string, name: string, _opts, cmd: Command) => {
      await (await nodeClient(cmd)).deleteBitmap(volume, name);
      emit(globals(cmd), { deleted: `${volume}/${name}` }, () => console.log(`deleted ${volume}/${name}`));
    });
}
