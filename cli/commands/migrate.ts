import type { Command } from 'commander';
import { migrate } from '../../shared/builtin/schema.js';
import { say, withSession } from './builtin-common.js';

/** `mqtt-auth migrate`: creates the built-in store's tables where missing (safe to run again). */
export function register(program: Command): void {
  program
    .command('migrate')
    .description('create the built-in tables (mqtt_builtin_user, mqtt_builtin_acl) where missing; safe to run again')
    .action(() =>
      withSession(async (session) => {
        const created = await migrate(session);
        say(created.length === 0 ? 'built-in tables already present: nothing to do' : `created ${created.join(', ')}`);
      }),
    );
}
