/**
 * The `rebound` executable: one program, subcommands for every role (STYLE: one package,
 * one executable). Operator verbs go through the manager (--manager, REBOUND_MANAGER, or
 * the quick start's); `rebound node <verb>` talks to one node's control API directly, for
 * local administration; `manager run`, `node run` and `up` run daemons in the foreground.
 */
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { backupCommands } from './commands/backup.js';
import { drCommands } from './commands/dr.js';
import { jobCommands } from './commands/job.js';
import { loginCommands } from './commands/login.js';
import { managerCommands } from './commands/manager.js';
import { nodeCommands } from './commands/node.js';
import { backupCommands as nodeBackupCommands } from './commands/node-direct/backup.js';
import { bitmapCommands } from './commands/node-direct/bitmap.js';
import { snapshotCommands } from './commands/node-direct/snapshot.js';
import { storeCommands } from './commands/node-direct/store.js';
import { volumeCommands as nodeVolumeCommands } from './commands/node-direct/volume.js';
import { registryNodeCommands, siteCommands } from './commands/site.js';
import { upCommand } from './commands/up.js';
import { volumeCommands } from './commands/volume.js';
import { DEFAULT_DATA_DIR, nodeClient } from './context.js';
import { managerClient } from './manager-context.js';
import { reportError } from './output.js';

export function buildProgram(): Command {
  const program = new Command('rebound')
    .description('Rebound: block-storage disaster recovery')
    .version(VERSION)
    .option(
      '--manager <url>',
      'manager API URL (env REBOUND_MANAGER; default: `rebound login`, or the quick start here)',
    )
    .option('--node <url>', 'for `rebound node` verbs: the node control API URL (env REBOUND_NODE)')
    .option('--token <token>', 'API token (env REBOUND_TOKEN)')
    .option(
      '--data-dir <dir>',
      `local data directory (default ${DEFAULT_DATA_DIR}, with node/ and manager/ inside)`,
    )
    .option('--json', 'print JSON instead of text')
    .showHelpAfterError()
    .exitOverride();
  upCommand(program);
  managerCommands(program);
  loginCommands(program);
  siteCommands(program);
  volumeCommands(program);
  storeCommands(program, managerClient);
  backupCommands(program);
  jobCommands(program);
  drCommands(program);

  const node = nodeCommands(program);
  registryNodeCommands(node);
  nodeVolumeCommands(node);
  snapshotCommands(node);
  bitmapCommands(node);
  storeCommands(node, nodeClient);
  nodeBackupCommands(node);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    // A verb that ends in a "no" (volume compare: they differ) sets process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) return e.exitCode ?? 1;
    return reportError(err, argv.includes('--json'));
  }
}
