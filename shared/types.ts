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
