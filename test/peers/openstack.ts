/**
 * A real OpenStack (Debian's Zed: Keystone, Placement, Glance, Cinder, Neutron, Nova) on 127.0.0.1
 * as a test peer, brought up by test/peers/openstack/setup.sh (≈3 minutes, ≈3 GB RAM, needs root
 * and Debian packages). A cloud already answering on 127.0.0.1:5000 with the lab's credentials is
 * reused and left running; one started here is stopped by `stop()` unless
 * REHOST_OPENSTACK_KEEP=1 (handy when re-running tests by hand).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const SETUP = resolve(import.meta.dirname, 'openstack', 'setup.sh');
export const OPENSTACK_LAB = process.env.REHOST_OPENSTACK_LAB ?? '/tmp/rehost-openstack';
const AUTH_URL = 'http://127.0.0.1:5000/v3';
const PASSWORD = 'secret';

export interface OpenStackUser {
  username: string;
  password: string;
  projectName: string;
  userDomainId: string;
  projectDomainId: string;
}

export interface OpenStackPeer {
  authUrl: string;
  region: string;
  /** admin/secret in project admin (role admin). */
  admin: OpenStackUser;
  /** demo/secret in project demo (role member). */
  demo: OpenStackUser;
  /** True when this call brought the cloud up (and `stop()` takes it down). */
  startedHere: boolean;
  /** Seconds spent starting (0 when reused). */
  startSeconds: number;
  stop(): Promise<void>;
}

const user = (name: string): OpenStackUser => ({ username: name, password: PASSWORD, projectName: name, userDomainId: 'default', projectDomainId: 'default' });

/** Why the peer cannot be started here, or null. */
export function openStackUnavailable(): string | null {
  if (process.platform !== 'linux') return 'the OpenStack peer needs Linux (Debian packages)';
  if (process.getuid?.() !== 0) return 'the OpenStack peer needs root (apt-get, MariaDB, RabbitMQ, uwsgi)';
  return null;
}

/** True when the tests run in CI (`.ci/run` sets CI=true), where every OpenStack test must run. */
export function inCi(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI === 'true' || env.CI === '1';
}

/**
 * The one way an OpenStack test gives up on a missing peer: outside CI it skips with the reason
 * (not root, not Linux, no sshd); in CI it fails, so CI can never pass without testing OpenStack.
 */
export function skipOrFail(t: { skip(message?: string): void }, reason: string, env: NodeJS.ProcessEnv = process.env): void {
  if (inCi(env)) assert.fail(`CI=true: the OpenStack tests must run here, but ${reason}`);
  t.skip(reason);
}

/** True when a cloud with the lab's admin credentials answers on 127.0.0.1:5000. */
export async function openStackRunning(): Promise<boolean> {
  const u = user('admin');
  try {
    const res = await fetch(`${AUTH_URL}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: u.username, domain: { id: 'default' }, password: u.password } } }, scope: { project: { name: 'admin', domain: { id: 'default' } } } } }),
      signal: AbortSignal.timeout(10_000),
    });
    await res.arrayBuffer();
    if (res.status !== 201) return false;
    // a cloud still being seeded has no demo project yet: wait for the whole setup
    return (await fetch('http://127.0.0.1:8774/', { signal: AbortSignal.timeout(5000) }).then((r) => r.arrayBuffer().then(() => r.ok)).catch(() => false)) && demoReady();
  } catch {
    return false;
  }
}

async function demoReady(): Promise<boolean> {
  const res = await fetch(`${AUTH_URL}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: 'demo', domain: { id: 'default' }, password: PASSWORD } } }, scope: { project: { name: 'demo', domain: { id: 'default' } } } } }),
    signal: AbortSignal.timeout(10_000),
  }).catch(() => null);
  await res?.arrayBuffer();
  return res?.status === 201;
}

function runSetup(step: 'all' | 'stop', logFile: string, timeoutMs: number): Promise<void> {
  const fd = openSync(logFile, 'a');
  const child = spawn('bash', [SETUP, step], { env: { ...process.env, LAB: OPENSTACK_LAB }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return new Promise((resolveRun, reject) => {
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('error', (err) => (clearTimeout(timer), reject(err)));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolveRun();
      const tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
      reject(new Error(`setup.sh ${step} failed (${signal ?? code}); last lines of ${logFile}:\n${tail}`));
    });
  });
}

/** Starts the cloud (or reuses a running one). Throws with setup.sh's last log lines on failure. */
export async function startOpenStack(options: { timeoutMs?: number } = {}): Promise<OpenStackPeer> {
  const peer = (startedHere: boolean, startSeconds: number): OpenStackPeer => ({
    authUrl: AUTH_URL,
    region: 'RegionOne',
    admin: user('admin'),
    demo: user('demo'),
    startedHere,
    startSeconds,
    stop: async () => {
      if (!startedHere || process.env.REHOST_OPENSTACK_KEEP === '1') return;
      await runSetup('stop', `${OPENSTACK_LAB}.setup.log`, 120_000);
    },
  });
  if (await openStackRunning()) return peer(false, 0);
  const why = openStackUnavailable();
  if (why !== null) throw new Error(why);
  const t0 = Date.now();
  const logFile = `${OPENSTACK_LAB}.setup.log`;
  try {
    await runSetup('all', logFile, options.timeoutMs ?? 900_000);
  } catch (err) {
    await runSetup('stop', logFile, 120_000).catch(() => undefined);
    throw err;
  }
  return peer(true, (Date.now() - t0) / 1000);
}
