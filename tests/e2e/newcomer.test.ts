import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli as cli } from '../helpers/cli.js';
import { runServerToExit, startServer, type RunningServer } from '../helpers/server.js';

/**
 * A newcomer's first session, as the README's Quick start and "Built-in store" sections tell it:
 * `npm start` on a fresh embedded PGlite folder answers the demo user exactly as documented; the
 * built-in tables are there from the first start; `mqtt-auth` refuses the folder in plain words
 * while the server holds it; after a stop, users and rules added with `mqtt-auth` answer on the
 * next start, through the default chain builtin,sql; a crashed server's folder is free again.
 */



async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, text: await res.text(), explain: res.headers.get('x-auth-explain') };
}

const inUse = (dir: string) =>
  `the embedded database in DATA_DIR ${dir} is in use by another process (npm start, or another mqtt-auth command): it allows one process at a time. ` +
  'Stop it (Ctrl-C), run this command, then start it again; a folder held by a process that was killed is free again within 10 s';

let base: string;
let dataDir: string;
let server: RunningServer | undefined;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'maf-newcomer-'));
  dataDir = join(base, 'data');
});
afterAll(async () => {
  await server?.stop();
  await rm(base, { recursive: true, force: true });
});

describe('a newcomer on the embedded database', () => {
  const env = () => ({ DATA_DIR: dataDir });
  const readme = async (url: string) => {
    // The three answers of the README's Quick start, byte for byte.
    expect(await post(`${url}/mqtt/auth`, { username: 'demo', password: 'public', clientid: 'c1' })).toMatchObject({ status: 200, text: '{"result":"allow","is_superuser":false}' });
    expect(await post(`${url}/mqtt/auth`, { username: 'demo', password: 'wrong', clientid: 'c1' })).toMatchObject({ status: 200, text: '{"result":"deny"}' });
    expect(await post(`${url}/mqtt/acl`, { username: 'demo', clientid: 'c1', topic: 'demo/room1', action: 'publish', qos: '1', retain: 'false' })).toMatchObject({ status: 200, text: '{"result":"allow"}' });
  };

  it('gets the README answers for the demo user, and the built-in store from the first start', async () => {
    server = await startServer({ ...env(), EXPLAIN: 'on', LOG_LEVEL: 'warn' }, 60_000);
    await readme(server.url);
    const { explain } = await post(`${server.url}/mqtt/auth`, { username: 'demo', password: 'public', clientid: 'c1' }, { 'x-auth-explain': '1' });
    const trace = JSON.parse(explain ?? 'null') as Array<{ source: string; steps: Array<{ source: string; result: string }> }>;
    expect(trace.map((t) => [t.source, t.steps.map((s) => `${s.source}:${s.result}`)])).toEqual([['sql', ['builtin:ignore', 'sql:allow']]]);
  }, 70_000);

  it('is told in plain words that the folder is in use while npm start runs, and the server is unharmed', async () => {
    expect(await cli(env(), ['user', 'add', 'newbie', '--password-stdin'], 'newbie-pw\n')).toEqual({ code: 1, stdout: '', stderr: `error: ${inUse(dataDir)}\n` });
    expect(await cli(env(), ['user', 'list'])).toEqual({ code: 1, stdout: '', stderr: `error: ${inUse(dataDir)}\n` });
    // A second server on the same folder stops at start-up with the same words.
    const second = await runServerToExit({ ...env(), PORT: '0' });
    expect(second.code).toBe(1);
    expect(second.output).toContain(`error: ${inUse(dataDir)}\n`);
    await readme(server!.url);
  }, 60_000);

  it('after a stop, adds a user and a rule; the next start answers them through builtin,sql', async () => {
    await server!.stop();
    expect(await cli(env(), ['migrate'])).toEqual({ code: 0, stdout: 'built-in tables already present: nothing to do\n', stderr: '' });
    expect(await cli(env(), ['user', 'add', 'newbie', '--password-stdin'], 'newbie-pw\n')).toEqual({ code: 0, stdout: 'added user "newbie" (sha256)\n', stderr: '' });
    expect(await cli(env(), ['rule', 'add', '--username', 'newbie', '--permission', 'allow', '--action', 'all', '--topic', 'newbie/#'])).toEqual({
      code: 0,
      stdout: 'added rule 1\tusername=newbie\tallow\tall\tnewbie/#\tqos=0,1,2\tretain=all\n',
      stderr: '',
    });
    server = await startServer({ ...env(), EXPLAIN: 'on', LOG_LEVEL: 'warn' }, 60_000);
    expect(await post(`${server.url}/mqtt/auth`, { username: 'newbie', password: 'newbie-pw', clientid: 'n1' })).toMatchObject({ text: '{"result":"allow","is_superuser":false}' });
    expect(await post(`${server.url}/mqtt/auth`, { username: 'newbie', password: 'public', clientid: 'n1' })).toMatchObject({ text: '{"result":"deny"}' });
    const acl = await post(`${server.url}/mqtt/acl`, { username: 'newbie', clientid: 'n1', topic: 'newbie/x', action: 'publish', qos: '0', retain: 'false' }, { 'x-auth-explain': '1' });
    expect(acl.text).toBe('{"result":"allow"}');
    expect(JSON.parse(acl.explain ?? 'null')).toEqual([
      { kind: 'authz', decision: 'allow', source: 'builtin', reason: 'built-in: rule 1 matched', steps: [{ source: 'builtin', result: 'allow', reason: 'built-in: rule 1 matched', ms: expect.any(Number), row: 0, rule: 'rule 1' }], ms: expect.any(Number) },
    ]);
    // No rule of the built-in store matches demo/…: the demo rules answer as before.
    await readme(server.url);
  }, 90_000);

  it('gets the folder back after the server is killed (its lock expires)', async () => {
    await server!.kill();
    server = undefined;
    let last = await cli(env(), ['user', 'list']);
    for (let i = 0; i < 20 && last.code !== 0; i++) {
      expect(last).toEqual({ code: 1, stdout: '', stderr: `error: ${inUse(dataDir)}\n` });
      await new Promise((r) => setTimeout(r, 1000));
      last = await cli(env(), ['user', 'list']);
    }
    expect(last).toEqual({ code: 0, stdout: 'newbie\n', stderr: '' });
  }, 90_000);
});
