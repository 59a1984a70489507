/**
 * The keychain store against a real Secret Service, and openSecretStore's probe and fallback.
 * The real-keyring tests need a D-Bus session with an unlocked keyring; get one with
 *   bash test/keyring-session.sh node --import tsx --test src-main/secrets/keychain.test.ts
 * Without one they skip (and fail instead when REHOST_KEYRING_SESSION=1 says one was set up).
 * The fallback tests run in child processes, because libsecret keeps its bus connection for
 * the life of the process.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RehostError } from '../../src-shared/errors.js';
import type { Logger } from '../core/ports.js';
import { openSecretStore } from './index.js';
import { KEYCHAIN_SERVICE, createKeychainStore, loadKeytar, type KeytarApi } from './keychain.js';
import { probeKeytarInChild } from './probe.js';

const PLANTED = 'PLANTED-SECRET-4242';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rehost-keychain-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function recordingLog(): Logger & { lines: { level: string; obj: unknown; msg: string | undefined }[] } {
  const lines: { level: string; obj: unknown; msg: string | undefined }[] = [];
  const at = (level: string) => (obj: object | string, msg?: string) => void lines.push({ level, obj, msg });
  const log = { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  return log;
}

/** Why the real-keyring tests cannot run here, or null when a keyring answers. */
let keyringVerdict: Promise<string | null> | null = null;
function keyringUnavailable(): Promise<string | null> {
  keyringVerdict ??= (async () => {
    if (!process.env.DBUS_SESSION_BUS_ADDRESS) return 'DBUS_SESSION_BUS_ADDRESS is not set (run under test/keyring-session.sh)';
    try {
      // In a child process: a bus that hangs must not leave a stuck keytar call in this one.
      await probeKeytarInChild({ timeoutMs: 3000 });
      return null;
    } catch (err) {
      return `no keyring answers on the D-Bus session (${err instanceof Error ? err.message : String(err)})`;
    }
  })();
  return keyringVerdict;
}

async function needKeyring(t: TestContext): Promise<boolean> {
  const reason = await keyringUnavailable();
  if (reason === null) return true;
  if (process.env.REHOST_KEYRING_SESSION === '1') assert.fail(`keyring-session.sh set up a keyring but ${reason}`);
  t.skip(reason);
  return false;
}

async function rawKeytar(): Promise<KeytarApi & { findCredentials(service: string): Promise<{ account: string; password: string }[]> }> {
  return (await loadKeytar()) as Awaited<ReturnType<typeof rawKeytar>>;
}

// --- real keyring ----------------------------------------------------------------------------

test('keychain: store, read, overwrite and delete in the real keyring', async (t) => {
  if (!(await needKeyring(t))) return;
  const store = createKeychainStore();
  const keytar = await rawKeytar();
  const ref = `rehost-test-${randomBytes(6).toString('hex')}`;
  t.after(() => keytar.deletePassword(KEYCHAIN_SERVICE, ref));

  assert.equal(store.backend, 'keychain');
  assert.equal(await store.get(ref), null);
  await store.set(ref, { username: 'administrator@vsphere.local', password: PLANTED });
  assert.deepEqual(await store.get(ref), { username: 'administrator@vsphere.local', password: PLANTED });
  // The entry is service "Rehost", account = ref, password = the record as JSON.
  assert.equal(await keytar.getPassword('Rehost', ref), JSON.stringify({ username: 'administrator@vsphere.local', password: PLANTED }));

  await store.set(ref, { password: 'second' });
  assert.deepEqual(await store.get(ref), { password: 'second' });
  await store.delete(ref);
  assert.equal(await store.get(ref), null);
  assert.equal(await keytar.getPassword('Rehost', ref), null);
  await store.delete(ref); // deleting a missing entry is not an error
});

test('keychain: an entry that is not a Rehost record is reported, not returned', async (t) => {
  if (!(await needKeyring(t))) return;
  const keytar = await rawKeytar();
  const ref = `rehost-test-${randomBytes(6).toString('hex')}`;
  t.after(() => keytar.deletePassword(KEYCHAIN_SERVICE, ref));
  await keytar.setPassword(KEYCHAIN_SERVICE, ref, 'not json');
  await assert.rejects(createKeychainStore().get(ref), /is not a Rehost record/);
});

test('openSecretStore: the probe chooses the keychain when a keyring answers, and leaves nothing behind', async (t) => {
  if (!(await needKeyring(t))) return;
  const dataDir = await tempDir(t);
  const log = recordingLog();
  const store = await openSecretStore({ dataDir, log, env: {} });
  assert.equal(store.backend, 'keychain');
  assert.deepEqual(log.lines.filter((l) => l.level === 'warn'), []);
  assert.deepEqual(await readdir(dataDir), [], 'no secrets file or key file when the keychain is used');
  const leftovers = (await (await rawKeytar()).findCredentials(KEYCHAIN_SERVICE)).filter((c) => c.account.startsWith('rehost-probe-'));
  assert.deepEqual(leftovers, [], 'the probe entry is deleted');

  const ref = `rehost-test-${randomBytes(6).toString('hex')}`;
  t.after(() => store.delete(ref));
  await store.set(ref, { token: PLANTED });
  assert.deepEqual(await store.get(ref), { token: PLANTED });

  const forced = await openSecretStore({ dataDir, log, env: { REHOST_SECRETS: 'keychain' } });
  assert.equal(forced.backend, 'keychain');
  assert.ok(!JSON.stringify(log.lines).includes(PLANTED), 'no secret in the log');
});

// --- no keyring: fallback within the timeout -------------------------------------------------

interface ChildResult {
  backend?: string;
  error?: string;
  ms: number;
  lines: { level: string; obj: unknown; msg?: string }[];
  files: string[];
}

/** Runs openSecretStore in a fresh node process with the given D-Bus address. */
async function openInChild(dataDir: string, busAddress: string, extraEnv: Record<string, string> = {}): Promise<ChildResult> {
  const indexUrl = new URL('./index.ts', import.meta.url).href;
  const code = `
    import { readdirSync } from 'node:fs';
    import { openSecretStore } from ${JSON.stringify(indexUrl)};
    const lines = [];
    const at = (level) => (obj, msg) => { lines.push({ level, obj, msg }); };
    const log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
    const started = Date.now();
    let out;
    try {
      const store = await openSecretStore({ dataDir: ${JSON.stringify(dataDir)}, log });
      await store.set('src-1', { password: ${JSON.stringify(PLANTED)} });
      out = { backend: store.backend };
    } catch (err) {
      out = { error: String(err && err.message) };
    }
    out.ms = Date.now() - started;
    out.lines = lines;
    try { out.files = readdirSync(${JSON.stringify(dataDir)}).sort(); } catch { out.files = []; }
    process.stdout.write(JSON.stringify(out));
    // No process.exit(): the process must end by itself, i.e. no keytar call is stuck in it.
  `;
  const env: NodeJS.ProcessEnv = { ...process.env, DBUS_SESSION_BUS_ADDRESS: busAddress, ...extraEnv };
  delete env.REHOST_SECRETS;
  delete env.DISPLAY;
  if (extraEnv.REHOST_SECRETS) env.REHOST_SECRETS = extraEnv.REHOST_SECRETS;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(killer);
  assert.equal(exitCode, 0, `child failed: ${stderr}`);
  return JSON.parse(stdout) as ChildResult;
}

function assertFellBack(result: ChildResult, reason: RegExp): void {
  assert.equal(result.error, undefined);
  assert.equal(result.backend, 'encrypted-file');
  const warns = result.lines.filter((l) => l.level === 'warn');
  assert.equal(warns.length, 1);
  assert.match(warns[0]!.msg ?? '', /no OS keychain is reachable: secrets are stored in an encrypted file/);
  assert.match(JSON.stringify(warns[0]!.obj), reason);
  assert.deepEqual(result.files, ['secrets.enc', 'secrets.key']);
  assert.ok(!JSON.stringify(result.lines).includes(PLANTED), 'no secret in the log');
}

test('openSecretStore: falls back to the encrypted file when the D-Bus socket does not exist', async (t) => {
  const root = await tempDir(t);
  const dataDir = join(root, 'data');
  const result = await openInChild(dataDir, `unix:path=${join(root, 'no-such-bus')}`);
  assertFellBack(result, /Could not connect|No such file/);
  assert.ok(result.ms < 3000, `fell back in ${result.ms} ms, within the 3 s probe timeout`);
});

test('openSecretStore: falls back after the 3 s timeout when D-Bus never answers', async (t) => {
  const root = await tempDir(t);
  const dataDir = join(root, 'data');
  const socketPath = join(root, 'silent-bus');
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => void sockets.add(socket.on('data', () => undefined))); // accepts, never answers
  await new Promise<void>((resolve) => silent.listen(socketPath, resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => silent.close(() => resolve()));
  });
  const result = await openInChild(dataDir, `unix:path=${socketPath}`);
  assertFellBack(result, /did not answer within 3000 ms/);
  assert.ok(result.ms >= 2900 && result.ms < 6000, `fell back in ${result.ms} ms`);
});

test('openSecretStore: REHOST_SECRETS=keychain fails clearly instead of falling back', async (t) => {
  const root = await tempDir(t);
  const dataDir = join(root, 'data');
  const result = await openInChild(dataDir, `unix:path=${join(root, 'no-such-bus')}`, { REHOST_SECRETS: 'keychain' });
  assert.equal(result.backend, undefined);
  assert.match(result.error ?? '', /REHOST_SECRETS=keychain but no OS keychain is reachable/);
  assert.deepEqual(result.files, [], 'no fallback file was created');
});

// --- with a fake keytar ----------------------------------------------------------------------

test('keychain store with a fake keytar: service Rehost, account = ref, value = JSON; loaded lazily', async () => {
  const entries = new Map<string, string>();
  let loads = 0;
  const fake: KeytarApi = {
    getPassword: async (service, account) => entries.get(`${service}/${account}`) ?? null,
    setPassword: async (service, account, password) => void entries.set(`${service}/${account}`, password),
    deletePassword: async (service, account) => entries.delete(`${service}/${account}`),
  };
  const store = createKeychainStore({ loadKeytar: async () => (loads++, fake) });
  assert.equal(loads, 0, 'nothing is loaded before the first call');
  await store.set('src-1', { password: PLANTED });
  assert.deepEqual([...entries], [['Rehost/src-1', JSON.stringify({ password: PLANTED })]]);
  assert.deepEqual(await store.get('src-1'), { password: PLANTED });
  await store.delete('src-1');
  assert.equal(entries.size, 0);
  await assert.rejects(store.set('x', { n: 1 } as unknown as Record<string, string>), (err: unknown) => RehostError.is(err, 'VALIDATION') && /field n must be a string/.test(err.message));
});

test('keychain store: a keytar that fails to load gives an UNAVAILABLE error naming the cause', async () => {
  const store = createKeychainStore({ loadKeytar: () => Promise.reject(new Error('libsecret-1.so.0: cannot open shared object file')) });
  await assert.rejects(store.get('a'), (err: unknown) => {
    assert.ok(RehostError.is(err, 'UNAVAILABLE'));
    assert.match(err.message, /keytar could not be loaded \(libsecret-1\.so\.0/);
    return true;
  });
});
