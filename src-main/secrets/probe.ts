/**
 * Does an OS keychain really answer? A store / read back / delete round-trip of a throwaway
 * entry, bounded by a timeout.
 *
 * Why a child process first: without a usable D-Bus session, libsecret can block forever (a stale
 * bus address, a bus that never answers, autolaunch). A blocked keytar call holds a libuv worker
 * thread that nothing can cancel, and Node joins those threads on exit, so even `process.exit()`
 * then hangs (seen here). So the first round-trip runs in a short-lived `node` child that we can
 * SIGKILL; only once it succeeded is keytar loaded into this process. Under Electron the child is
 * skipped: the app binary may refuse ELECTRON_RUN_AS_NODE (fuses), and desktop sessions have a bus.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { SecretStore } from '../core/ports.js';
import { KEYCHAIN_SERVICE } from './keychain.js';
import { errorMessage } from './record.js';

export const PROBE_REF_PREFIX = 'rehost-probe-';

/** Runs in the child (CommonJS, plain Node): one round-trip, prints `ok` or the error message. */
const CHILD_SCRIPT = `
const keytar = require(process.env.REHOST_KEYTAR_PATH);
const service = process.env.REHOST_KEYTAR_SERVICE;
const ref = ${JSON.stringify(PROBE_REF_PREFIX)} + require('node:crypto').randomBytes(6).toString('hex');
const nonce = require('node:crypto').randomBytes(16).toString('hex');
(async () => {
  await keytar.setPassword(service, ref, JSON.stringify({ probe: nonce }));
  let back;
  try { back = await keytar.getPassword(service, ref); } finally { await keytar.deletePassword(service, ref); }
  if (back !== JSON.stringify({ probe: nonce })) throw new Error('the OS keychain did not return the value just stored');
  process.stdout.write('ok');
})().catch((err) => { process.stderr.write(String((err && err.message) || err)); process.exitCode = 1; });
`;

export interface ProbeOptions {
  timeoutMs: number;
  service?: string;
}

/** Resolves when a keytar round-trip succeeds in a child process; rejects with the reason otherwise. */
export function probeKeytarInChild(options: ProbeOptions): Promise<void> {
  let keytarPath: string;
  try {
    keytarPath = createRequire(import.meta.url).resolve('keytar');
  } catch (err) {
    return Promise.reject(new Error(`keytar is not installed (${errorMessage(err)})`));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CHILD_SCRIPT], {
      env: { ...process.env, REHOST_KEYTAR_PATH: keytarPath, REHOST_KEYTAR_SERVICE: options.service ?? KEYCHAIN_SERVICE },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not start the keychain probe (${err.message})`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut) reject(new Error(`the OS keychain did not answer within ${options.timeoutMs} ms`));
      else if (code === 0 && stdout === 'ok') resolve();
      else reject(new Error(lastLine(stderr) || `keychain probe exited with code ${code}`));
    });
  });
}

/** The same round-trip through a `SecretStore` in this process, bounded by the timeout. */
export function probeStore(store: SecretStore, timeoutMs: number): Promise<void> {
  return withTimeout(roundTrip(store), timeoutMs, `the OS keychain did not answer within ${timeoutMs} ms`);
}

async function roundTrip(store: SecretStore): Promise<void> {
  const ref = `${PROBE_REF_PREFIX}${randomBytes(6).toString('hex')}`;
  const nonce = randomBytes(16).toString('hex');
  await store.set(ref, { probe: nonce });
  try {
    const back = await store.get(ref);
    if (back?.probe !== nonce) throw new Error('the OS keychain did not return the value just stored');
  } finally {
    await store.delete(ref);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  // A probe that settles after the timeout must not surface as an unhandled rejection.
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.trim() ?? '';
}
