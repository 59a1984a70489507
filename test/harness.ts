/**
 * Test composition root: starts `rehost serve` as a real process on a free loopback port with its
 * own data folder, and talks to it only over HTTP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { V8_FLAGS } from '../src-main/v8-flags.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const ADMIN_PASSWORD = 'test-admin-pass-1';

export interface ApiAnswer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface Rehost {
  url: string;
  dataDir: string;
  proc: ChildProcess;
  output: () => string;
  token: string | null;
  api<T = any>(method: string, path: string, body?: unknown, init?: { token?: string | null; raw?: string; headers?: Record<string, string> }): Promise<ApiAnswer<T>>;
  login(password?: string): Promise<string>;
  /** SIGTERM and wait (clean shutdown). */
  stop(): Promise<void>;
  /** SIGKILL and wait (crash). */
  kill(): Promise<void>;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `rehost-${prefix}-`));
}

/**
 * Starts `rehost serve` on a free port. `built`: the engine as shipped (dist/, after `npm run
 * build`) instead of the sources through tsx, whose compiler costs about 40 MB of RSS (the bench).
 */
export async function startRehost(options: { dataDir?: string; env?: Record<string, string>; adminPassword?: string | null; listen?: string; built?: boolean } = {}): Promise<Rehost> {
  const dataDir = options.dataDir ?? tempDir('data');
  const env: Record<string, string> = { ...(process.env as Record<string, string>), REHOST_SECRETS: 'file', REHOST_LOG_LEVEL: 'info', ...options.env };
  if (options.adminPassword !== null) env.REHOST_ADMIN_PASSWORD = options.adminPassword ?? ADMIN_PASSWORD;
  else delete env.REHOST_ADMIN_PASSWORD;
  const entry = options.built ? [...V8_FLAGS, join(ROOT, 'bin/rehost.mjs')] : ['--import', 'tsx', join(ROOT, 'src-main/cli.ts')];
  const proc = spawn(process.execPath, [...entry, 'serve', '--listen', options.listen ?? '127.0.0.1:0', '--data', dataDir], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`rehost did not start in 30 s:\n${out}`)), 30_000);
    const check = () => {
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]!);
      }
    };
    proc.stdout!.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`rehost exited with ${code}:\n${out}`));
    });
  });
  const rehost: Rehost = {
    url,
    dataDir,
    proc,
    output: () => out,
    token: null,
    async api(method, path, body, init = {}) {
      const headers: Record<string, string> = { ...(init.headers ?? {}) };
      const token = init.token === undefined ? rehost.token : init.token;
      if (token) headers['X-AUTH-TOKEN'] = token;
      let payload: string | undefined = init.raw;
      if (body !== undefined) {
        payload = JSON.stringify(body);
        headers['Content-Type'] ??= 'application/json';
      }
      const res = await fetch(`${url}${path.startsWith('/hypermotion') ? '' : '/hypermotion/v1'}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text === '' ? null : JSON.parse(text);
      } catch {
        // Not JSON (text/plain console, SSE): keep the text.
      }
      return { status: res.status, body: parsed as any, headers: res.headers };
    },
    async login(password = options.adminPassword ?? ADMIN_PASSWORD) {
      const res = await rehost.api('POST', '/users/token', { username: 'admin', password }, { token: null });
      if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
      rehost.token = res.body.token as string;
      return rehost.token;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
  return rehost;
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
