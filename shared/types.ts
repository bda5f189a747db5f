/** What the broker tells us about a client. A field is absent when it was unset (absent, null or ""). */
export interface ClientInfo {
  readonly username?: string;
  readonly clientid?: string;
  readonly peerhost?: string;
  readonly cert_common_name?: string;
  readonly cert_subject?: string;
  readonly zone?: string;
  readonly client_attrs: Readonly<Record<string, string>>;
}

/** An authentication request: the client plus its credentials. */
export interface AuthnRequest extends ClientInfo {
  readonly password?: string;
  readonly cert_pem?: string;
}

export type AclAction = 'publish' | 'subscribe';

/** An authorization request: the client, the topic (or filter) and what it wants to do with it. */
export interface AclRequest extends ClientInfo {
  readonly topic: string;
  readonly action: AclAction;
  /** Absent when the broker did not send it: then only deny rules with a qos condition apply. */
  readonly qos?: 0 | 1 | 2;
  /** Absent when the broker did not send it (publish only; as qos). */
  readonly retain?: boolean;
}

export type AuthnResult = { readonly result: 'allow'; readonly is_superuser: boolean } | { readonly result: 'deny' | 'ignore' };
export type AclResult = { readonly result: 'allow' | 'deny' | 'ignore' };

/** One row as a database driver returns it. */
export type Row = Readonly<Record<string, unknown>>;

/**
 * What a decision may tell `explain` and the decision log beyond its result, set by the code that
 * decided (never read back from the reason text). Never a password, a hash, a salt or a token.
 */
export interface OutcomeDetail {
  /** Which row decided: the user row (0) or the index of the matching ACL row. */
  readonly row?: number;
  /** A source's own name for the rule or record that decided (e.g. a built-in rule id). */
  readonly rule?: string;
  /** The password hash algorithm that ran. */
  readonly algorithm?: string;
  /** True when the outcome is the failure policy's (the backend could not answer, or a row was invalid). */
  readonly failure?: boolean;
}
