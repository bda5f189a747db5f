import { Command, InvalidArgumentError, Option } from 'commander';
import type { Container } from '../../shared/container.js';
import { defined } from '../../shared/http/input.js';
import type { Trace } from '../../shared/sources/chain.js';
import type { AclRequest, AuthnRequest, ClientInfo } from '../../shared/types.js';

/**
 * `mqtt-auth explain`: runs one client's request through the same chain the service uses and
 * shows which source answered, which row or rule matched, which hash algorithm ran and how long
 * each step took. Never prints a password, a hash, a salt or a token.
 */

export interface ExplainInput {
  readonly client: ClientInfo;
  /** Absent: no authentication is run. */
  readonly password?: string;
  readonly acl?: { readonly topic: string; readonly action: 'publish' | 'subscribe'; readonly qos?: 0 | 1 | 2; readonly retain?: boolean };
}

export interface ExplainReport {
  readonly authn?: Trace & { readonly is_superuser?: boolean; readonly acl_rules?: number };
  readonly authz?: Trace & { readonly topic: string; readonly action: string };
}

/** Runs the request through the container's chain; the report is safe to print or share. */
export async function explain(c: Container, input: ExplainInput): Promise<ExplainReport> {
  const chain = await c.chain();
  let authn: ExplainReport['authn'];
  let authz: ExplainReport['authz'];
  if (input.password !== undefined) {
    const req: AuthnRequest = { ...input.client, password: input.password };
    const { outcome, trace } = await chain.authenticate(req, { connectAcl: true });
    authn = { ...trace, ...(outcome.result === 'allow' ? { is_superuser: outcome.is_superuser } : {}), ...(outcome.acl ? { acl_rules: outcome.acl.length } : {}) };
  }
  if (input.acl) {
    const { qos, retain, topic, action } = input.acl;
    const req: AclRequest = { ...input.client, topic, action, ...(qos === undefined ? {} : { qos }), ...(retain === undefined ? {} : { retain }) };
    const { trace } = await chain.authorize(req);
    authz = { ...trace, topic, action };
  }
  return { ...(authn ? { authn } : {}), ...(authz ? { authz } : {}) };
}

const pad = (s: string, n: number) => s.padEnd(n);

function detailOf(step: Trace['steps'][number]): string {
  const parts: string[] = [];
  if (step.rule !== undefined) parts.push(step.rule);
  else if (step.row !== undefined) parts.push(`row ${step.row}`);
  if (step.algorithm !== undefined) parts.push(step.algorithm);
  if (step.failure) parts.push('failure policy');
  return parts.length === 0 ? step.reason : `${parts.join(', ')}: ${step.reason}`;
}

function block(title: string, trace: Trace, extra: string): string[] {
  const lines = [`${title}: ${trace.decision}${extra} (${trace.ms} ms)`];
  for (const s of trace.steps) lines.push(`  ${pad(s.source, 8)} ${pad(s.result, 7)} ${pad(`${s.ms} ms`, 11)} ${detailOf(s)}`);
  if (trace.steps.length === 0) lines.push('  (no source was asked)');
  lines.push(`  answered by: ${trace.source ?? 'no source'} — ${trace.reason}`);
  return lines;
}

/** The report as text for a terminal. */
export function formatReport(r: ExplainReport, sources: readonly string[]): string {
  const lines = [`sources: ${sources.join(', ')}`];
  if (r.authn) {
    const su = r.authn.is_superuser === undefined ? '' : `, superuser ${r.authn.is_superuser ? 'yes' : 'no'}`;
    const acl = r.authn.acl_rules === undefined ? '' : `, ${r.authn.acl_rules} connect-time ACL rule(s)`;
    lines.push(...block('authentication', r.authn, `${su}${acl}`));
  }
  if (r.authz) lines.push(...block(`authorization (${r.authz.action} ${r.authz.topic})`, r.authz, ''));
  return `${lines.join('\n')}\n`;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

const qosArg = (v: string): 0 | 1 | 2 => {
  if (v === '0') return 0;
  if (v === '1') return 1;
  if (v === '2') return 2;
  throw new InvalidArgumentError('qos must be 0, 1 or 2');
};

interface Flags {
  username?: string;
  clientid?: string;
  password?: string;
  passwordStdin?: boolean;
  peerhost?: string;
  certCommonName?: string;
  certSubject?: string;
  zone?: string;
  attr: string[];
  topic?: string;
  action: 'publish' | 'subscribe';
  qos?: 0 | 1 | 2;
  retain?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('explain')
    .description('show how the service decides for one client: which source answered, which row matched, which hash ran, timings (never a password or hash)')
    .option('--username <name>', 'the client username')
    .option('--clientid <id>', 'the client id')
    .addOption(new Option('--password <password>', 'the password to check (visible to other users of this machine: prefer --password-stdin)').conflicts('passwordStdin'))
    .option('--password-stdin', 'read the password from standard input')
    .option('--peerhost <ip>', 'the client address')
    .option('--cert-common-name <cn>', 'TLS client certificate common name')
    .option('--cert-subject <subject>', 'TLS client certificate subject')
    .option('--zone <zone>', 'listener zone')
    .option('--attr <name=value>', 'a client attribute (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--topic <topic>', 'also check this topic (or filter)')
    .addOption(new Option('--action <action>', 'with --topic').choices(['publish', 'subscribe']).default('publish'))
    .option('--qos <qos>', 'with --topic: 0, 1 or 2', qosArg)
    .option('--retain', 'with --topic: a retained publish')
    .option('--json', 'print the report as JSON')
    .action(async (flags: Flags, command: Command) => {
      const password = flags.passwordStdin ? await readStdin() : flags.password;
      if (password === undefined && flags.topic === undefined) command.error('error: give a password (--password or --password-stdin), a --topic, or both', { exitCode: 2 });
      const attrs: Record<string, string> = {};
      for (const a of flags.attr) {
        const eq = a.indexOf('=');
        if (eq <= 0) command.error(`error: --attr ${a}: expected name=value`, { exitCode: 2 });
        attrs[a.slice(0, eq)] = a.slice(eq + 1);
      }
      const blank = (v: string | undefined) => (v === '' ? undefined : v);
      const given = { username: blank(flags.username), clientid: blank(flags.clientid), peerhost: blank(flags.peerhost), cert_common_name: blank(flags.certCommonName), cert_subject: blank(flags.certSubject), zone: blank(flags.zone) };
      const client: ClientInfo = { ...defined(given), client_attrs: attrs };
      const { createContainer } = await import('../../shared/container.js');
      const { createLogger } = await import('../../shared/log.js');
      const { loadSettings } = await import('../../shared/settings.js');
      const settings = loadSettings(process.env);
      // Warnings (a backend failure) to stderr; the decision records and metrics stay out of the report.
      const c = createContainer(settings, { log: createLogger(settings.logLevel === 'silent' ? 'silent' : 'warn', process.stderr), writeMetrics: () => {} });
      try {
        const report = await explain(c, {
          client,
          ...(password === undefined ? {} : { password }),
          ...(flags.topic === undefined ? {} : { acl: { topic: flags.topic, action: flags.action, ...(flags.qos === undefined ? {} : { qos: flags.qos }), ...(flags.retain ? { retain: true } : {}) } }),
        });
        const names = (await c.chain()).names;
        process.stdout.write(flags.json ? `${JSON.stringify({ sources: names, ...report })}\n` : formatReport(report, names));
      } finally {
        await c.close();
      }
    });
}
