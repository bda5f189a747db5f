import type { Command } from 'commander';
import { checkRule, type WhoType } from '../../shared/builtin/model.js';
import { deleteRule, existingRules, findRule, ruleKey, rulePages, upsertRules, type RuleFilter, type StoredRule } from '../../shared/builtin/repo.js';
import { fail, say, withTables } from './builtin-common.js';

interface Owner {
  clientid?: string;
  username?: string;
  all?: boolean;
}

interface AddOptions extends Owner {
  permission: string;
  action: string;
  topic: string;
  qos?: string;
  retain?: string;
}

function owner(opts: Owner): { whoType: WhoType; who: string } | string {
  const given = [opts.clientid !== undefined, opts.username !== undefined, opts.all === true].filter(Boolean).length;
  if (given !== 1) return 'give exactly one of --clientid, --username or --all';
  if (opts.clientid !== undefined) return { whoType: 'clientid', who: opts.clientid };
  if (opts.username !== undefined) return { whoType: 'username', who: opts.username };
  return { whoType: 'all', who: '' };
}

const describe = (r: StoredRule): string =>
  [r.id, r.whoType === 'all' ? 'all' : `${r.whoType}=${r.who}`, r.permission, r.action, r.topic, `qos=${r.qos}`, `retain=${r.retain}`].join('\t');

/** `mqtt-auth rule add|remove|list`: built-in ACL rules per client id, per username, or for all. */
export function register(program: Command): void {
  const rule = program
    .command('rule')
    .description('manage built-in ACL rules: client id rules are checked first, then username rules, then rules for all; first match wins');

  rule
    .command('add')
    .description('add a rule (an existing identical rule gets the new permission)')
    .option('--clientid <clientid>', 'the rule is for this client id')
    .option('--username <username>', 'the rule is for this username')
    .option('--all', 'the rule is for every client')
    .requiredOption('--permission <permission>', 'allow or deny')
    .requiredOption('--action <action>', 'publish, subscribe or all')
    .requiredOption('--topic <topic>', 'a topic filter, "eq <topic>" for an exact topic; ${username} and ${clientid} are filled in')
    .option('--qos <list>', 'only for these QoS levels, e.g. 0,1 (default: any)')
    .option('--retain <retain>', 'only for retained (true) or non-retained (false) publishes (default: all)')
    .action((opts: AddOptions) =>
      withTables(async (session) => {
        const who = owner(opts);
        if (typeof who === 'string') {
          fail(who);
          return;
        }
        const fields = {
          ...(who.whoType === 'all' ? {} : { [who.whoType]: who.who }),
          permission: opts.permission,
          action: opts.action,
          topic: opts.topic,
          qos: opts.qos,
          retain: opts.retain,
        };
        const checked = checkRule(fields);
        if ('invalid' in checked) {
          fail(checked.invalid);
          return;
        }
        const existed = await session.transaction(async (tx) => {
          const found = (await existingRules(tx, [checked.ok])).has(ruleKey(checked.ok));
          await upsertRules(tx, [checked.ok]);
          return found;
        });
        const stored = await findRule(session, checked.ok);
        say(`${existed ? 'updated' : 'added'} rule ${stored === undefined ? '' : describe(stored)}`.trimEnd());
      }),
    );

  rule
    .command('remove <id...>')
    .description('remove rules by id (as rule list shows them)')
    .action((ids: string[]) =>
      withTables(async (session) => {
        for (const id of ids) {
          if (!/^[0-9]{1,18}$/.test(id)) {
            fail(`rule id ${JSON.stringify(id)} is not a number`);
          } else if (await deleteRule(session, id)) say(`removed rule ${id}`);
          else {
            fail(`no rule ${id}`);
          }
        }
      }),
    );

  rule
    .command('list')
    .description('list rules in id order: id, owner, permission, action, topic, qos, retain')
    .option('--clientid <clientid>', "only this client id's rules")
    .option('--username <username>', "only this username's rules")
    .option('--all', 'only the rules for all clients')
    .action((opts: Owner) =>
      withTables(async (session) => {
        const any = opts.clientid === undefined && opts.username === undefined && opts.all !== true;
        const who = any ? undefined : owner(opts);
        if (typeof who === 'string') {
          fail(who);
          return;
        }
        const filter: RuleFilter = who === undefined ? {} : who;
        for await (const page of rulePages(session, filter)) {
          for (const r of page) say(describe(r));
        }
      }),
    );
}
