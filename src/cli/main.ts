/**
 * The `rebound` executable: one program, subcommands for every role (STYLE: one package,
 * one executable). Node verbs talk to a node's control API; `node run` and `up` run
 * daemons in the foreground.
 */
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { backupCommands } from './commands/backup.js';
import { bitmapCommands } from './commands/bitmap.js';
import { nodeCommands } from './commands/node.js';
import { snapshotCommands } from './commands/snapshot.js';
import { storeCommands } from './commands/store.js';
import { upCommand } from './commands/up.js';
import { volumeCommands } from './commands/volume.js';
import { DEFAULT_NODE_DIR } from './context.js';
import { reportError } from './output.js';

export function buildProgram(): Command {
  const program = new Command('rebound')
    .description('Rebound: block-storage disaster recovery')
    .version(VERSION)
    .option('--node <url>', 'node control API URL (env REBOUND_NODE)')
    .option('--token <token>', 'API token (env REBOUND_TOKEN)')
    .option(
      '--data-dir <dir>',
      `local data directory (default ${DEFAULT_NODE_DIR} for node verbs, rebound-data for up)`,
    )
    .option('--json', 'print JSON instead of text')
    .showHelpAfterError()
    .exitOverride();
  upCommand(program);
  nodeCommands(program);
  volumeCommands(program);
  snapshotCommands(program);
  bitmapCommands(program);
  storeCommands(program);
  backupCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) return e.exitCode ?? 1;
    return reportError(err, argv.includes('--json'));
  }
}
