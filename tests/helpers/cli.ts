import { spawn } from 'node:child_process';

/** What one run of the `mqtt-auth` program printed, and its exit code. */
export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

const root = new URL('../../', import.meta.url).pathname;

/**
 * Runs `node bin/mqtt-auth.js …` as an operator would: a child process from the project folder,
 * no terminal, only PATH, HOME and the given settings in its environment, `stdin` on standard input.
 */
export function runCli(env: Record<string, string>, args: string[], stdin = ''): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/mqtt-auth.js', ...args], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}
