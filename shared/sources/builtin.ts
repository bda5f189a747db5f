import { authenticate, type AuthnDeps } from '../authn.js';
import { authorizeMany, type AuthzDeps } from '../authz.js';
import { ACL_TABLE, USER_TABLE } from '../builtin/tables.js';
import { connectAcl, type ConnectAcl } from '../connectacl.js';
import type { SqlStore } from '../db/port.js';
import type { Logger } from '../log.js';
import type { Settings } from '../settings.js';
import { checkSuperuser } from '../superuser.js';
import { compileSql, type SqlTemplate } from '../template.js';
import type { AclRequest, AuthnRequest, ClientInfo } from '../types.js';
import type { Source, SourceAuthn, SourceAuthz, SuperuserAnswer } from './port.js';
import { superuserAnswer } from './sql.js';

/**
 * The built-in store as a source, answering as EMQX's built-in database authenticator and
 * authorizer do: a user is found by username or by client id (BUILTIN_USER_ID_TYPE); no such user
 * → ignore; wrong password → deny. Rules are the client id's, then the username's, then those for
 * all, each group in id order; first match wins; no match → ignore. The password is checked with
 * PASSWORD_HASH and the rules with the one evaluator, through the same code as the SQL source; the
 * superuser check and the connect-time rules read the same rows as authentication and
 * authorization do.
 */
export class BuiltinSource implements Source {
  readonly name = 'builtin';
  private readonly userQuery: SqlTemplate;
  private readonly aclQuery: SqlTemplate;

  /**
   * @param store the tenant's database (the container's store); the tables come from `mqtt-auth migrate`.
   * @param settings the service settings: PASSWORD_HASH, BUILTIN_USER_ID_TYPE, the failure policies,
   *   and the driver (the Data API takes named markers).
   * @param log where backend failures and malformed stored hashes are reported (never a secret).
   */
  constructor(
    private readonly store: SqlStore,
    private readonly settings: Settings,
    private readonly log: Logger,
  ) {
    const dialect = store.dialect;
    const db = settings.database;
    const markers = 'driver' in db && db.driver === 'data-api' ? 'named' : 'native';
    const id = settings.builtinUserIdType === 'clientid' ? '${clientid}' : '${username}';
    this.userQuery = compileSql(`SELECT password_hash, salt, is_superuser FROM ${USER_TABLE} WHERE user_id = ${id}`, {
      dialect,
      context: 'authn',
      setting: 'BUILTIN_USER_ID_TYPE',
      markers,
    });
    // qos '0,1,2' and retain 'all' are stored for "no condition"; the evaluator reads NULL as that.
    // `id` names the rule that decided (the id `mqtt-auth rule list` shows); the evaluator ignores it.
    this.aclQuery = compileSql(
      `SELECT id, permission, action, topic, CASE WHEN qos = '0,1,2' THEN NULL ELSE qos END AS qos, CASE WHEN retain = 'all' THEN NULL ELSE retain END AS retain
         FROM ${ACL_TABLE}
        WHERE (who_type = 'clientid' AND who = \${clientid}) OR (who_type = 'username' AND who = \${username}) OR who_type = 'all'
        ORDER BY CASE who_type WHEN 'clientid' THEN 0 WHEN 'username' THEN 1 ELSE 2 END, id`,
      { dialect, context: 'authz', setting: 'BUILTIN_USER_ID_TYPE', markers },
    );
  }

  private authnDeps(): AuthnDeps {
    return { store: this.store, query: this.userQuery, hash: this.settings.passwordHash, onBackendFailure: this.settings.authnBackendFailure, log: this.log };
  }

  private authzDeps(): AuthzDeps {
    return { store: this.store, query: this.aclQuery, noMatch: 'ignore', onBackendFailure: this.settings.authzBackendFailure, log: this.log, rowShape: 'emqx5' };
  }

  /** The user id this client is looked up by, or why there is none. */
  private userId(client: ClientInfo): { id: string } | { none: string } {
    const id = this.settings.builtinUserIdType === 'clientid' ? client.clientid : client.username;
    return id === undefined ? { none: `built-in: no ${this.settings.builtinUserIdType} to look up` } : { id };
  }

  async authenticate(req: AuthnRequest): Promise<SourceAuthn> {
    const who = this.userId(req);
    if ('none' in who) return { result: 'ignore', reason: who.none };
    const outcome = await authenticate(this.authnDeps(), req);
    return { ...outcome, reason: `built-in: ${outcome.reason}` };
  }

  async authorize(req: AclRequest): Promise<SourceAuthz> {
    const [answer] = await this.authorizeMany([req]);
    return answer!;
  }

  /** One query for the client's rules, each request judged over them as `authorize` judges it. */
  async authorizeMany(reqs: readonly AclRequest[]): Promise<SourceAuthz[]> {
    return (await authorizeMany(this.authzDeps(), reqs)).map(({ outcome, rows }) => {
      const index = outcome.detail?.row;
      if (index === undefined) return { ...outcome, reason: `built-in: ${outcome.reason}` };
      // The matching row's rule id, as `mqtt-auth rule list` shows it.
      const id = rows[index]?.['id'];
      const rule = typeof id === 'number' || typeof id === 'bigint' || typeof id === 'string' ? `rule ${id}` : undefined;
      return { ...outcome, reason: `built-in: ${rule ?? `row ${index}`} matched`, detail: { row: index, ...(rule === undefined ? {} : { rule }) } };
    });
  }

  /**
   * mosquitto-go-auth's and EMQX 4's superuser question, from the user's `is_superuser` flag
   * without a password: unknown when the store has no such user (the next source answers). A
   * request without the identity this store keys users by (go-auth sends no client id) answers
   * no and stops the chain: the client may have logged in here, and a later source must not grant
   * superuser to whatever username it chose.
   */
  async superuser(client: ClientInfo): Promise<SuperuserAnswer> {
    const who = this.userId(client);
    if ('none' in who) return { known: true, is_superuser: false, reason: `${who.none}: not a superuser` };
    return superuserAnswer(await checkSuperuser(this.authnDeps(), client), this.settings.authnBackendFailure, 'built-in: ');
  }

  /** The client's built-in rules in EMQX's `acl` form, in the order authorize() judges them. */
  connectAcl(client: AuthnRequest): Promise<ConnectAcl> {
    return connectAcl(this.authzDeps(), client);
  }
}
