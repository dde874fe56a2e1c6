/**
 * rebound up: the quick start. Everything on embedded defaults under one directory
 * (./rebound-data): a manager (SQLite) in manager/, a primary storage node in node/, a
 * directory object store in store/; the node and the store registered with the manager,
 * a first volume, an admin token kept in quickstart.json (0600) so the CLI works from
 * this directory without flags, and the addresses printed. Running it again reuses what
 * exists.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { isReboundError } from '../../errors.js';
import { createLogger } from '../../logger.js';
import { BOOTSTRAP_USER, issueToken } from '../../manager/accounts.js';
import { ManagerClient } from '../../manager/client.js';
import { systemClock } from '../../manager/clock.js';
import { readManagerConfig } from '../../manager/config.js';
import { startManager } from '../../manager/daemon.js';
import { nbdUri, readNodeConfig, startNode } from '../../node/index.js';
import { parseSize } from '../../units.js';
import { DEFAULT_DATA_DIR, globals } from '../context.js';
import { QUICKSTART_FILE, readQuickstart } from '../manager-context.js';
import { emit } from '../output.js';
import { initNode } from './node.js';

export const QUICKSTART = { site: 'site-a', node: 'node1', store: 'local' };

/** Ignore "already exists": a rerun finds what the first run made. */
async function existing<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isReboundError(err, 'ALREADY_EXISTS')) return undefined;
    throw err;
  }
}

export function upCommand(program: Command): void {
  program
    .command('up')
    .description('quick start: a manager and a primary node on embedded defaults, under ./rebound-data')
    .option('--volume <name>', 'first volume to create when there is none', 'vol0')
    .option('--size <size>', 'its provisioned size', '10G')
    .action(async (opts: { volume: string; size: string }, cmd: Command) => {
      const root = resolve(globals(cmd).dataDir ?? DEFAULT_DATA_DIR);
      const nodeDir = join(root, 'node');
      const managerDir = join(root, 'manager');
      const storeDir = join(root, 'store');

      const config = await readNodeConfig(nodeDir).catch(async (err) => {
        if (!isReboundError(err, 'POOL_NOT_INITIALISED')) throw err;
        await initNode(nodeDir, { blockSize: '64K' });
        return readNodeConfig(nodeDir);
      });
      const node = await startNode(nodeDir, config, createLogger('rebound-node'));
      const manager = await startManager(managerDir, await readManagerConfig(managerDir), {
        logger: createLogger('rebound-manager'),
      }).catch(async (err) => {
        await node.close();
        throw err;
      });
      try {
        // The admin token for this directory's CLI: the bootstrap one at first start, else
        // the one kept from before (a new one if that file was lost).
        let token = manager.bootstrap?.token ?? (await readQuickstart(root))?.token;
        if (!token) {
          const admin = await manager.db.getUser(BOOTSTRAP_USER);
          if (!admin)
            throw new Error(`the manager has no ${BOOTSTRAP_USER} user; sign in with \`rebound login\``);
          token = (await issueToken(manager.db, systemClock, admin, 'quickstart', null)).token;
        }
        const qsPath = join(root, QUICKSTART_FILE);
        await writeFile(qsPath, `${JSON.stringify({ manager: manager.apiUrl, token }, null, 2)}\n`, {
          mode: 0o600,
        });
        await chmod(qsPath, 0o600);

        const client = new ManagerClient(manager.apiUrl, token);
        await existing(client.addSite({ name: QUICKSTART.site, role: 'primary' }));
        const known = (await client.listNodes()).find((n) => n.serial === node.serial);
        if (!known)
          await client.registerNode({
            name: QUICKSTART.node,
            site: QUICKSTART.site,
            url: node.apiUrl,
            token: node.token,
          });
        await existing(client.addStore({ name: QUICKSTART.store, provider: 'directory', path: storeDir }));
        const nodeName = known?.name ?? QUICKSTART.node;
        if ((await client.listVolumes({ node: nodeName })).length === 0)
          await client.createVolume(nodeName, opts.volume, parseSize(opts.size));
        const volumes = await client.listVolumes({ node: nodeName });
        const ctx = { nbd: node.nbd };
        emit(
          globals(cmd),
          {
            manager: manager.apiUrl,
            console: `${manager.apiUrl}/`,
            token,
            node: {
              name: nodeName,
              serial: node.serial,
              api: node.apiUrl,
              nbd: `${node.nbd.host}:${node.nbd.port}`,
            },
            store: { name: QUICKSTART.store, path: storeDir },
            volumes: volumes.map((v) => ({ name: v.name, uniqueId: v.uniqueId, nbd: nbdUri(ctx, v.name) })),
          },
          () => {
            const first = volumes[0];
            console.log(`Rebound is up (data in ${root}).`);
            console.log(`  console, API  ${manager.apiUrl}/   (OpenAPI: ${manager.apiUrl}/v1/openapi.json)`);
            console.log(`  admin token   ${token}   (kept in ${qsPath}; the CLI here uses it)`);
            console.log(`  node          ${nodeName}, serial ${node.serial}, API ${node.apiUrl}`);
            console.log(`  NBD server    ${node.nbd.host}:${node.nbd.port}`);
            console.log(`  object store  ${QUICKSTART.store}: ${storeDir}`);
            for (const v of volumes)
              console.log(`  volume        ${v.name} (${v.uniqueId})  ${nbdUri(ctx, v.name)}`);
            console.log('Try, in another terminal here:');
            console.log(`  qemu-io -f raw -c "write -P 0x5a 0 1M" ${nbdUri(ctx, first.name)}`);
            console.log(`  rebound backup run ${first.name} --store ${QUICKSTART.store} --method full`);
            console.log('Stop with Ctrl-C.');
          },
        );
      } catch (err) {
        await manager.close();
        await node.close();
        throw err;
      }
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          manager
            .close()
            .then(() => node.close())
            .then(done, done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
