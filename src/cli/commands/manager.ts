/** rebound manager run: the management service (registry, scheduler, jobs, API) in the foreground. */
import type { Command } from 'commander';
import { createLogger } from '../../logger.js';
import { readManagerConfig } from '../../manager/config.js';
import { startManager } from '../../manager/daemon.js';
import { DEFAULT_DATA_DIR, globals } from '../context.js';
import { emit } from '../output.js';
import { parseListen } from './node.js';

export const DEFAULT_MANAGER_DIR = `${DEFAULT_DATA_DIR}/manager`;

export function managerCommands(program: Command): void {
  const manager = program.command('manager').description('the management service');
  manager
    .command('run')
    .description('run the manager until stopped (Ctrl-C); the first start prints an admin token, once')
    .option('--listen <host:port>', 'API address (default from manager.json, else 127.0.0.1:7600)')
    .action(async (opts: { listen?: string }, cmd: Command) => {
      const dataDir = globals(cmd).dataDir ?? DEFAULT_MANAGER_DIR;
      const config = await readManagerConfig(dataDir);
      if (opts.listen) {
        const l = parseListen(opts.listen, '--listen');
        config.apiHost = l.host;
        config.apiPort = l.port;
      }
      const m = await startManager(dataDir, config, { logger: createLogger('rebound-manager') });
      emit(globals(cmd), { api: m.apiUrl, bootstrap: m.bootstrap ?? null }, () => {
        console.log(`manager running: ${m.apiUrl} (data in ${dataDir})`);
        if (m.bootstrap) {
          console.log(`first start: user ${m.bootstrap.user}, API token (shown once): ${m.bootstrap.token}`);
          console.log(
            `sign the CLI in with: rebound login --manager ${m.apiUrl} --token ${m.bootstrap.token}`,
          );
        }
      });
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await m.close();
    });
}
