import { parseHashConfig } from '../../shared/hash.js';
import type { HttpRequest } from '../../shared/http/event.js';
import { parseAuthnRequest } from '../../shared/http/input.js';
import { parseMosquittoAcl } from '../../shared/http/mosquitto.js';
import { parseVerne } from '../../shared/http/vernemq.js';
import { loadSettings } from '../../shared/settings.js';
import { thrownBy } from '../helpers/errors.js';

/**
 * shared/schema.ts: valibot with the messages and object semantics the project had with zod. These
 * are the places where valibot's own behaviour differs (its default wording, arrays taken for
 * objects, absent keys not run, `constructor` dropped from records), each held to what it was.
 */

const messageOf = (f: () => unknown): string | undefined => {
  const err = thrownBy(f);
  return err instanceof Error ? err.message : undefined;
};
const json = (path: string, body: unknown, headers: Record<string, string> = {}): HttpRequest => ({
  method: 'POST',
  path,
  headers: { 'content-type': 'application/json', ...headers },
  query: new Map(),
  body: JSON.stringify(body),
});

test.each([
  ['PORT', 'abc', 'PORT: Invalid input: expected number, received NaN'],
  ['PORT', 'Infinity', 'PORT: Invalid input: expected number, received Infinity'],
  ['PORT', '1.5', 'PORT: Invalid input: expected int, received number'],
  ['PORT', '-1', 'PORT: Too small: expected number to be >=0'],
  ['PORT', '65536', 'PORT: Too big: expected number to be <=65535'],
  ['DB_POOL_MAX', '0', 'DB_POOL_MAX: Too small: expected number to be >=1'],
  ['LOG_LEVEL', 'loud', 'LOG_LEVEL: Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent"'],
])('setting %s=%s fails with the message it always had', (name, value, message) => {
  expect(messageOf(() => loadSettings({ [name]: value }))).toBe(message);
});

test('a number setting is read as Number() reads the text', () => {
  expect(loadSettings({ PORT: ' 12 ' }).port).toBe(12);
  expect(loadSettings({ PORT: '1e3' }).port).toBe(1000);
  expect(loadSettings({ PORT: '0x10' }).port).toBe(16);
});

test.each([
  [{ name: 'sha256', extra: 1, more: 2 }, 'Unrecognized keys: "extra", "more"'],
  [{ name: 'sha256', salt_position: 'prefix', constructor: 1 }, 'Unrecognized key: "constructor"'],
  [['sha256'], 'Invalid input: expected object, received array'],
  [null, 'Invalid input: expected object, received null'],
  [{ name: 'rot13' }, "name: Invalid discriminator value. Expected 'plain' | 'md5' | 'sha' | 'sha256' | 'sha512' | 'bcrypt' | 'pbkdf2' | 'auto'"],
  [{ salt_position: 'prefix' }, "name: Invalid discriminator value. Expected 'plain' | 'md5' | 'sha' | 'sha256' | 'sha512' | 'bcrypt' | 'pbkdf2' | 'auto'"],
  [{ name: 'sha256', salt_position: 'middle' }, 'salt_position: Invalid option: expected one of "disable"|"prefix"|"suffix"'],
  [{ name: 'bcrypt', salt_rounds: Infinity }, 'salt_rounds: Invalid input: expected number, received Infinity'],
  [{ name: 'bcrypt', salt_rounds: null }, 'salt_rounds: Invalid input: expected number, received null'],
  [{ name: 'bcrypt', salt_rounds: 4.5 }, 'salt_rounds: Invalid input: expected int, received number'],
  [{ name: 'bcrypt', salt_rounds: 32 }, 'salt_rounds: Too big: expected number to be <=31'],
  [{ name: 'pbkdf2' }, 'mac_fun: Invalid input: expected string, received undefined'],
  [{ name: 'pbkdf2', mac_fun: 'sha256', iterations: 0 }, 'iterations: Too small: expected number to be >0'],
  [{ name: 'auto', salt_encoding: 'hex' }, 'salt_encoding: Invalid option: expected one of "base64"|"utf8"|"utf-8"'],
])('PASSWORD_HASH %j fails with the message it always had', (value, message) => {
  expect(messageOf(() => parseHashConfig(value))).toBe(`PASSWORD_HASH: ${message}`);
});

test('a missing hash option takes its default', () => {
  expect(parseHashConfig({ name: 'bcrypt' })).toEqual({ name: 'bcrypt', salt_rounds: 10 });
  expect(parseHashConfig('{"name":"sha256"}')).toEqual({ name: 'sha256', salt_position: 'prefix' });
});

test('a request field that is absent is judged as unset: its checks still run', () => {
  expect(messageOf(() => parseMosquittoAcl(json('/mosquitto/acl', { username: 'u', topic: 't' })))).toBe('acc must be 1 (read), 2 (write), 3 (read-write) or 4 (subscribe)');
  expect(messageOf(() => parseMosquittoAcl(json('/mosquitto/acl', { topic: 't', acc: 1 })))).toBe('username is required');
  expect(messageOf(() => parseVerne(json('/vernemq', { username: 'u' }, { 'vernemq-hook': 'auth_on_publish' })))).toBe('topic is required');
  expect(messageOf(() => parseVerne(json('/vernemq', { username: 'u', topics: [{ topic: 'a' }] }, { 'vernemq-hook': 'auth_on_subscribe' })))).toBe('qos must be 0, 1 or 2');
});

test('an array is not an object', () => {
  expect(messageOf(() => parseVerne(json('/vernemq', { topics: [[{ topic: 'a', qos: 1 }]] }, { 'vernemq-hook': 'auth_on_subscribe' })))).toBe('Invalid input: expected object, received array');
  expect(messageOf(() => parseAuthnRequest(json('/mqtt/auth', { username: 'u', client_attrs: ['x'] })))).toBe('client_attrs must be an object of strings');
});

test('client_attrs keeps every key, constructor and prototype included', () => {
  expect(parseAuthnRequest(json('/mqtt/auth', { username: 'u', client_attrs: { constructor: 'x', prototype: 'y', b: 2 } })).client_attrs).toEqual({ constructor: 'x', prototype: 'y', b: '2' });
});

test.each([
  ['/mqtt/auth', { username: 'u', password: '1e999' }, 'password must be a string', (r: HttpRequest) => parseAuthnRequest(r)],
  ['/mqtt/auth', { username: '-1e999', password: 'p' }, 'username must be a string', (r: HttpRequest) => parseAuthnRequest(r)],
  ['/mqtt/auth', { username: 'u', 'client_attrs.role': '1e999' }, 'client_attrs.role must be a string', (r: HttpRequest) => parseAuthnRequest(r)],
  ['/mqtt/auth', { username: 'u', client_attrs: { role: '1e999' } }, 'client_attrs value must be a string', (r: HttpRequest) => parseAuthnRequest(r)],
  ['/mosquitto/acl', { username: 'u', topic: '1e999', acc: 1 }, 'topic must be a string', (r: HttpRequest) => parseMosquittoAcl(r)],
])('a JSON number beyond a double (%s %j) is a 400, never the text "Infinity"', (path, fields, message, parse) => {
  // JSON.stringify cannot write 1e999: the marked strings become bare numbers in the body.
  const body = JSON.stringify(fields).replace(/"(-?1e999)"/g, '$1');
  expect(body).toContain('1e999');
  expect(messageOf(() => parse({ method: 'POST', path, headers: { 'content-type': 'application/json' }, query: new Map(), body }))).toBe(message);
});
