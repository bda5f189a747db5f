/**
 * The http source's settings and EMQX's default bodies: what `settings.ts` needs of the http source,
 * apart from the source itself, so a Lambda bundle whose stage has no http source can leave
 * `http.ts` out.
 */

export interface HttpSourceSettings {
  /** Where authentication requests go (HTTP_SOURCE_URL). */
  readonly url: string;
  /** Where authorization requests go (HTTP_SOURCE_ACL_URL); unset: the source ignores authorization. */
  readonly aclUrl: string | undefined;
  readonly method: 'post' | 'get';
  /** Static headers (e.g. a shared secret); lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly authnBody: Readonly<Record<string, string>>;
  readonly authzBody: Readonly<Record<string, string>>;
}

const fields = (names: readonly string[]): Readonly<Record<string, string>> => Object.freeze(Object.fromEntries(names.map((n) => [n, `\${${n}}`])));
/** EMQX's recommended body (emqx.md §2.3). */
export const DEFAULT_HTTP_AUTHN_BODY = fields(['clientid', 'username', 'password', 'peerhost', 'cert_common_name', 'cert_subject']);
/** EMQX's authorization placeholders (emqx.md §4.1), all strings on the wire. */
export const DEFAULT_HTTP_AUTHZ_BODY = fields(['clientid', 'username', 'peerhost', 'topic', 'action', 'access', 'qos', 'retain']);
