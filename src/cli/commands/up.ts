/**
 * rebound up: the quick start. Everything on embedded defaults under one directory
 * (./rebound-data): a storage node initialised on first run, a first volume, and the
 * addresses printed. Running it again reuses what exists. (The manager joins it here
 * once it exists.)
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { isReboundError } from '../../errors.js';
import { createLogger } from '../../logger.js';
import { nbdUri, readNodeConfig, startNode } from '../../node/index.js';
import { DEFAULT_DATA_DIR, globals } from '../context.js';
import { emit } from '../output.js';
import { parseSize } from '../units.js';
import { initNode, runUntilSignalled } from './node.js';

export function upCommand(program: Command): void {
  program
    .command('up')
    .description('quick start: a node on embedded defaults with a first volume, under ./rebound-data')
    .option('--volume <name>', 'first volume to create when there is none', 'vol0')
    .option('--size <size>', 'its provisioned size', '10G')
    .action(async (opts: { volume: string; size: string }, cmd: Command) => {
      const dataDir = join(globals(cmd).dataDir ?? DEFAULT_DATA_DIR, 'node');
      const config = await readNodeConfig(dataDir).catch(async (err) => {
        if (!isReboundError(err, 'POOL_NOT_INITIALISED')) throw err;
        await initNode(dataDir, { blockSize: '64K' });
        return readNodeConfig(dataDir);
      });
      const node = await startNode(dataDir, config, createLogger('rebound-node'));
      if (node.storage.listVolumes().length === 0)
        await node.storage.createVolume(opts.volume, parseSize(opts.size));
      const volumes = node.storage.listVolumes();
      const ctx = { nbd: node.nbd };
      emit(
        globals(cmd),
        {
          serial: node.serial,
          api: node.apiUrl,
          token: node.token,
          volumes: volumes.map((v) => nbdUri(ctx, v.name)),
        },
        () => {
          console.log(`Rebound is up (data in ${dataDir}).`);
          console.log(`  node serial   ${node.serial}`);
          console.log(`  control API   ${node.apiUrl}   token: ${node.token}`);
          console.log(`  NBD server    ${node.nbd.host}:${node.nbd.port}`);
          for (const v of volumes)
            console.log(`  volume        ${v.name} (${v.uniqueId})  ${nbdUri(ctx, v.name)}`);
          console.log(`Try: qemu-io -f raw -c "write -P 0x5a 0 1M" ${nbdUri(ctx, volumes[0].name)}`);
          console.log('Stop with Ctrl-C.');
        },
      );
      await runUntilSignalled(node);
    });
}
