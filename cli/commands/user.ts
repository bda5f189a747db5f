import { text } from 'node:stream/consumers';
import type { Command } from 'commander';
import { checkUser } from '../../shared/builtin/model.js';
import { deleteUser, existingUsers, upsertUsers, userPages } from '../../shared/builtin/repo.js';
import { fail, say, withTables } from './builtin-common.js';

interface AddOptions {
  password?: string;
  passwordStdin?: boolean;
  superuser?: boolean;
  replace?: boolean;
}

/** `mqtt-auth user add|remove|list`: built-in users, hashed with PASSWORD_HASH. */
export function register(program: Command): void {
  const user = program.command('user').description('manage built-in users (identified as BUILTIN_USER_ID_TYPE says: username or client id)');

  user
    .command('add <user_id>')
    .description('add a user, hashing the password with PASSWORD_HASH')
    .option('--password <password>', 'the password (visible in shell history; prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input (one line)')
    .option('--superuser', 'the user is a superuser (every ACL check allows)')
    .option('--replace', 'replace the user if it exists')
    .action((userId: string, opts: AddOptions) =>
      withTables(async (session, settings) => {
        const password = opts.passwordStdin ? (await text(process.stdin)).replace(/\r?\n$/, '') : opts.password;
        if (password === undefined || password === '') {
          fail('give the password with --password-stdin (or --password)');
          return;
        }
        const checked = await checkUser({ user_id: userId, password, is_superuser: opts.superuser ?? false }, settings.passwordHash);
        if ('invalid' in checked) {
          fail(checked.invalid);
          return;
        }
        const replaced = await session.transaction(async (tx) => {
          const exists = (await existingUsers(tx, [checked.ok.userId])).size > 0;
          if (exists && !opts.replace) return undefined;
          await upsertUsers(tx, [checked.ok]);
          return exists;
        });
        if (replaced === undefined) {
          fail(`user ${JSON.stringify(userId)} exists; add --replace to replace it`);
          return;
        }
        say(`${replaced ? 'replaced' : 'added'} user ${JSON.stringify(userId)} (${settings.passwordHash.name}${checked.ok.isSuperuser ? ', superuser' : ''})`);
      }),
    );

  user
    .command('remove <user_id>')
    .description('remove a user')
    .action((userId: string) =>
      withTables(async (session) => {
        if (await deleteUser(session, userId)) say(`removed user ${JSON.stringify(userId)}`);
        else {
          fail(`no user ${JSON.stringify(userId)}`);
        }
      }),
    );

  user
    .command('list')
    .description('list users (never their hashes): user_id and superuser flag, one per line')
    .action(() =>
      withTables(async (session) => {
        for await (const page of userPages(session)) {
          for (const u of page) say(u.isSuperuser ? `${u.userId}\tsuperuser` : u.userId);
        }
      }),
    );
}
