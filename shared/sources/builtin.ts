import { authenticate, type AuthnOutcome } from '../authn.js';
import { authorize, type AuthzOutcome } from '../authz.js';
import { ACL_TABLE, USER_TABLE } from '../builtin/tables.js';
import type { SqlStore } from '../db/port.js';
import type { Logger } from '../log.js';
import type { Settings } from '../settings.js';
import { compileSql, type SqlTemplate } from '../template.js';
import type { AclRequest, AuthnRequest } from '../types.js';
import type { Source } from './port.js';

/**
 * The built-in store as a source, answering as EMQX's built-in database authenticator and
 * authorizer do: a user is found by username or by client id (BUILTIN_USER_ID_TYPE); no such user
 * → ignore; wrong password → deny. Rules are the client id's, then the username's, then those for
 * all, each group in id order; first match wins; no match → ignore. The password is checked with
 * PASSWORD_HASH and the rules with the one evaluator, through the same code as the SQL source.
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
    this.aclQuery = compileSql(
      `SELECT permission, action, topic, CASE WHEN qos = '0,1,2' THEN NULL ELSE qos END AS qos, CASE WHEN retain = 'all' THEN NULL ELSE retain END AS retain
         FROM ${ACL_TABLE}
        WHERE (who_type = 'clientid' AND who = \${clientid}) OR (who_type = 'username' AND who = \${username}) OR who_type = 'all'
        ORDER BY CASE who_type WHEN 'clientid' THEN 0 WHEN 'username' THEN 1 ELSE 2 END, id`,
      { dialect, context: 'authz', setting: 'BUILTIN_USER_ID_TYPE', markers },
    );
  }

  async authenticate(req: AuthnRequest): Promise<AuthnOutcome> {
    const id = this.settings.builtinUserIdType === 'clientid' ? req.clientid : req.username;
    if (id === undefined) return { result: 'ignore', reason: `built-in: no ${this.settings.builtinUserIdType} to look up` };
    const outcome = await authenticate(
      { store: this.store, query: this.userQuery, hash: this.settings.passwordHash, onBackendFailure: this.settings.authnBackendFailure, log: this.log },
      req,
    );
    return { ...outcome, reason: `built-in: ${outcome.reason}` };
  }

  async authorize(req: AclRequest): Promise<AuthzOutcome> {
    const outcome = await authorize(
      { store: this.store, query: this.aclQuery, noMatch: 'ignore', onBackendFailure: this.settings.authzBackendFailure, log: this.log },
      req,
    );
    return { ...outcome, reason: `built-in: ${outcome.reason}` };
  }
}
