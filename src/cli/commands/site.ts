/**
 * rebound site list|add|remove and rebound node register|list|check|remove: the sites and
 * the nodes the manager knows (SPEC "The parts"), through the manager.
 */
import type { Command } from 'commander';
import { ReboundError } from '../../errors.js';
import { globals } from '../context.js';
import { managerClient } from '../manager-context.js';
import { emit, printRecord, printTable } from '../output.js';
import { followJob } from './job.js';

export function siteCommands(program: Command): void {
  const site = program.command('site').description('sites: primary and secondary');
  site.command('list').action(async (_o, cmd: Command) => {
    const list = await (await managerClient(cmd)).listSites();
    emit(globals(cmd), list, () =>
      printTable(
        list.map((s) => ({ name: s.name, role: s.role, nodes: s.nodes.join(', ') || '-' })),
        ['name', 'role', 'nodes'],
      ),
    );
  });
  site
    .command('add <name>')
    .requiredOption('--role <role>', 'primary or secondary')
    .action(async (name: string, opts: { role: string }, cmd: Command) => {
      if (!['primary', 'secondary'].includes(opts.role))
        throw new ReboundError('INVALID_ARGUMENT', `--role must be primary or secondary, not "${opts.role}"`);
      const s = await (await managerClient(cmd)).addSite({
        name,
        role: opts.role as 'primary' | 'secondary',
      });
      emit(globals(cmd), s, () => console.log(`site ${s.name} (${s.role}) added`));
    });
  site.command('remove <name>').action(async (name: string, _o, cmd: Command) => {
    await (await managerClient(cmd)).removeSite(name);
    emit(globals(cmd), { removed: name }, () => console.log(`site ${name} removed`));
  });
  site
    .command('start <name>')
    .description(
      "start a secondary site's node again after a crash or a reboot, as its failover built it (same data and ports)",
    )
    .option('--no-wait', 'start the job and print its ID')
    .action(async (name: string, opts: { wait: boolean }, cmd: Command) => {
      const client = await managerClient(cmd);
      await followJob(cmd, client, await client.startSite(name), opts.wait);
    });
}

/** Registry verbs added to `rebound node` beside the local init/run/status. */
export function registryNodeCommands(node: Command): void {
  node
    .command('register <name>')
    .description('register a running node with the manager (its serial is learned from it)')
    .requiredOption('--site <site>', 'the site it belongs to')
    .requiredOption('--url <url>', "the node's control API URL")
    .option(
      '--node-token <token>',
      "the node's API token (or REBOUND_NODE_TOKEN; it is in the node's node.json)",
    )
    .action(async (name: string, opts: { site: string; url: string; nodeToken?: string }, cmd: Command) => {
      const token = opts.nodeToken ?? process.env.REBOUND_NODE_TOKEN;
      if (!token)
        throw new ReboundError(
          'INVALID_ARGUMENT',
          "pass the node's token: --node-token or REBOUND_NODE_TOKEN",
          {
            detail: { field: 'token' },
          },
        );
      const n = await (await managerClient(cmd)).registerNode({
        name,
        site: opts.site,
        url: opts.url,
        token,
      });
      emit(globals(cmd), n, () => printRecord({ ...n }));
    });
  node
    .command('list')
    .description('registered nodes with their health')
    .action(async (_o, cmd: Command) => {
      const list = await (await managerClient(cmd)).listNodes();
      emit(globals(cmd), list, () =>
        printTable(
          list.map((n) => ({
            name: n.name,
            site: n.site,
            serial: n.serial,
            health: n.health,
            volumes: n.volumes,
            lastSeen: n.lastSeenAt ?? '-',
            url: n.apiUrl,
          })),
          ['name', 'site', 'serial', 'health', 'volumes', 'lastSeen', 'url'],
        ),
      );
    });
  node
    .command('check <name>')
    .description('ask a registered node for its health and volumes now')
    .action(async (name: string, _o, cmd: Command) => {
      const n = await (await managerClient(cmd)).checkNode(name);
      emit(globals(cmd), n, () =>
        console.log(`node ${n.name}: ${n.health}${n.healthReason ? ` (${n.healthReason})` : ''}`),
      );
    });
  node
    .command('unregister <name>')
    .description('remove a node from the registry (the node itself keeps running)')
    .action(async (name: string, _o, cmd: Command) => {
      await (await managerClient(cmd)).removeNode(name);
      emit(globals(cmd), { removed: name }, () => console.log(`node ${name} removed from the registry`));
    });
}
