import type { Dialect } from '../template.js';
import type { DbTls } from './tls.js';
import type { Row } from '../types.js';

/**
 * The storage port: one small interface, one adapter per technology (postgres.js, mysql2, PGlite).
 * Domain code depends on this and never on a driver.
 */
export interface SqlStore {
  readonly dialect: Dialect;
  /** Runs one statement with bound values. Rejects with a BackendError on any failure. */
  query(text: string, params: readonly string[]): Promise<Row[]>;
  close(): Promise<void>;
}

/** Anything that runs one statement: a store, a session, or one transaction of a session. */
export type SqlRunner = Pick<SqlStore, 'dialect' | 'query'>;

/** Where a pooled driver connects when credentials come from a secret instead of a URL. */
export interface DbTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  /** DB_TLS / DB_CA_FILE: how the connection is encrypted and the server checked. */
  readonly tls: DbTls;
}
