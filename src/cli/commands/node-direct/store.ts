/**
 * rebound store add|list|remove: the object stores backups go to (SPEC Fig. 9), registered
 * with the manager (which pushes them to the nodes that need them) or with one node.
 * Secrets are read from the environment or a file, never from the command line (it would
 * land in shell history and `ps`), and never printed.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ReboundError } from '../../../errors.js';
import type { AddStoreBody, StoreView } from '../../../node/api-schema.js';
import { globals } from '../../context.js';
import { emit, printRecord, printTable } from '../../output.js';

interface AddOptions {
  provider: 'directory' | 's3';
  path?: string;
  endpoint?: string;
  region?: string;
  bucket?: string;
  accessKeyId?: string;
  encryption: 'none' | 'aes-256-gcm';
  encryptionKeyFile?: string;
  tag?: string[];
}

/** What both a node and the manager answer for stores (NodeClient, ManagerClient). */
export interface StoreApi {
  addStore(body: AddStoreBody): Promise<StoreView>;
  listStores(): Promise<StoreView[]>;
  removeStore(name: string): Promise<void>;
}

/** The store verbs, against a node (`rebound node store`) or the manager (`rebound store`). */
export function storeCommands(program: Command, connect: (cmd: Command) => Promise<StoreApi>): void {
  const store = program.command('store').description('object stores that hold the backups');

  store
    .command('add <name>')
    .description('register an object store (the node checks it can reach it)')
    .option('--provider <provider>', 'directory or s3', 'directory')
    .option('--path <dir>', 'directory: where the objects go')
    .option('--endpoint <url>', 's3: service endpoint, e.g. http://127.0.0.1:7480 (empty for AWS)')
    .option('--region <region>', 's3: region', 'us-east-1')
    .option('--bucket <bucket>', 's3: bucket (default: a new one named after the node)')
    .option('--access-key-id <id>', 's3: access key ID (or AWS_ACCESS_KEY_ID)')
    .option('--encryption <method>', 'client-side encryption: none or aes-256-gcm', 'none')
    .option(
      '--encryption-key-file <file>',
      'aes-256-gcm: file holding the 64-hex-digit key (keep a copy off-site)',
    )
    .option('--tag <key=value...>', 'extra tags')
    .addHelpText('after', '\nThe S3 secret key is read from AWS_SECRET_ACCESS_KEY.')
    .action(async (name: string, opts: AddOptions, cmd: Command) => {
      if (!['directory', 's3'].includes(opts.provider)) {
        throw new ReboundError(
          'INVALID_ARGUMENT',
          `--provider must be directory or s3, not "${opts.provider}"`,
        );
      }
      const tags = Object.fromEntries(
        (opts.tag ?? []).map((t) => {
          const at = t.indexOf('=');
          if (at < 1) throw new ReboundError('INVALID_ARGUMENT', `--tag "${t}" is not key=value`);
          return [t.slice(0, at), t.slice(at + 1)];
        }),
      );
      const encryptionKey = opts.encryptionKeyFile
        ? (await readFile(opts.encryptionKeyFile, 'utf8')).trim()
        : undefined;
      if (opts.encryption === 'aes-256-gcm' && !encryptionKey) {
        throw new ReboundError(
          'INVALID_ARGUMENT',
          '--encryption aes-256-gcm needs --encryption-key-file (make one with `openssl rand -hex 32 > backup.key`)',
        );
      }
      const view = await (await connect(cmd)).addStore({
        name,
        provider: opts.provider,
        ...(opts.path && { path: opts.path }),
        ...(opts.provider === 's3' && {
          endpoint: opts.endpoint,
          region: opts.region,
          bucket: opts.bucket,
          accessKeyId: opts.accessKeyId ?? process.env.AWS_ACCESS_KEY_ID,
          secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
        }),
        encryption: opts.encryption,
        ...(encryptionKey && { encryptionKey }),
        tags,
      });
      emit(globals(cmd), view, () =>
        printRecord({ ...view, tags: Object.entries(view.tags).map(([k, v]) => `${k}=${v}`) }),
      );
    });

  store
    .command('list')
    .description('list registered stores (secrets are never shown)')
    .action(async (_opts, cmd: Command) => {
      const list = await (await connect(cmd)).listStores();
      emit(globals(cmd), list, () =>
        printTable(
          list.map((s) => ({
            name: s.name,
            provider: s.provider,
            where: s.provider === 'directory' ? (s.path ?? '') : `${s.bucket}@${s.endpoint ?? 'aws'}`,
            region: s.region ?? '-',
            encryption: s.encryption,
          })),
          ['name', 'provider', 'where', 'region', 'encryption'],
        ),
      );
    });

  store
    .command('remove <name>')
    .description('forget a store (its objects stay where they are)')
    .action(async (name: string, _opts, cmd: Command) => {
      await (await connect(cmd)).removeStore(name);
      emit(globals(cmd), { removed: name }, () => console.log(`removed store ${name}`));
    });
}
