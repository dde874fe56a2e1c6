/**
 * rebound login|logout: sign the CLI in to a manager. With a user, the password is read
 * from REBOUND_PASSWORD or standard input (never the command line: shell history, ps);
 * with --token, an existing API token is checked and kept. Either way the token is saved
 * (0600) for later verbs, see manager-context.ts.
 */
import type { Command } from 'commander';
import { ReboundError } from '../../errors.js';
import { ManagerClient } from '../../manager/client.js';
import { globals } from '../context.js';
import { managerUrl, readCredentials, saveCredentials } from '../manager-context.js';
import { emit } from '../output.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split('\n')[0].trim();
}

export function loginCommands(program: Command): void {
  program
    .command('login')
    .description('sign in to a manager and keep the token for later commands')
    .option('--user <name>', 'user to sign in as (password from REBOUND_PASSWORD or stdin)')
    .action(async (opts: { user?: string }, cmd: Command) => {
      const url = managerUrl(cmd);
      if (!url)
        throw new ReboundError(
          'INVALID_ARGUMENT',
          'which manager? pass --manager URL (or set REBOUND_MANAGER)',
          {
            detail: { field: 'manager' },
          },
        );
      const given = globals(cmd).token || process.env.REBOUND_TOKEN || undefined;
      let token: string;
      if (opts.user) {
        const password = process.env.REBOUND_PASSWORD ?? (await readStdin());
        token = (await new ManagerClient(url).signIn(opts.user, password)).token;
      } else if (given) {
        token = given;
      } else {
        throw new ReboundError('INVALID_ARGUMENT', 'pass --user NAME (password on stdin) or --token TOKEN', {
          detail: { field: 'user' },
        });
      }
      const who = await new ManagerClient(url, token).whoami();
      const creds = await readCredentials();
      creds.managers[url] = token;
      creds.current = url;
      const path = await saveCredentials(creds);
      emit(globals(cmd), { manager: url, user: who.user, role: who.role }, () =>
        console.log(`signed in to ${url} as ${who.user} (${who.role}); token saved in ${path}`),
      );
    });

  program
    .command('logout')
    .description('forget the saved token of the current manager (or --manager)')
    .action(async (_opts, cmd: Command) => {
      const creds = await readCredentials();
      const url = managerUrl(cmd) ?? creds.current;
      if (url) delete creds.managers[url];
      if (creds.current === url) creds.current = null;
      await saveCredentials(creds);
      emit(globals(cmd), { manager: url }, () => console.log(url ? `signed out of ${url}` : 'not signed in'));
    });
}
