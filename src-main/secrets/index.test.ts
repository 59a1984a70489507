/** openSecretStore's choice of backend, with fake keychains (the real one: keychain.test.ts). */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger, SecretStore } from '../core/ports.js';
import { openSecretStore } from './index.js';

const PLANTED = 'PLANTED-SECRET-4242';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rehost-secrets-index-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function recordingLog(): Logger & { lines: { level: string; obj: unknown; msg: string | undefined }[] } {
  const lines: { level: string; obj: unknown; msg: string | undefined }[] = [];
  const at = (level: string) => (obj: object | string, msg?: string) => void lines.push({ level, obj, msg });
  const log = { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  return log;
}

function memoryKeychain(): SecretStore & { calls: string[]; map: Map<string, Record<string, string>> } {
  const map = new Map<string, Record<string, string>>();
  const calls: string[] = [];
  return {
    backend: 'keychain',
    calls,
    map,
    set: async (ref, value) => void (calls.push(`set ${ref}`), map.set(ref, { ...value })),
    get: async (ref) => (calls.push(`get ${ref}`), map.get(ref) ?? null),
    delete: async (ref) => void (calls.push(`delete ${ref}`), map.delete(ref)),
  };
}

function brokenKeychain(behaviour: 'throws' | 'hangs' | 'lies'): SecretStore & { touched: boolean } {
  const store = {
    backend: 'keychain',
    touched: false,
    set: async () => {
      store.touched = true;
      if (behaviour === 'throws') throw new Error('Cannot autolaunch D-Bus without X11 $DISPLAY');
      if (behaviour === 'hangs') await new Promise(() => undefined);
    },
    get: async () => ({ probe: 'something else' }),
    delete: async () => undefined,
  };
  return store;
}

test('a keychain that answers the round-trip is chosen, and the probe entry is removed', async (t) => {
  const dataDir = await tempDir(t);
  const keychain = memoryKeychain();
  const log = recordingLog();
  const store = await openSecretStore({ dataDir, log, keychain, env: {} });
  assert.equal(store, keychain);
  assert.equal(store.backend, 'keychain');
  assert.deepEqual(keychain.calls.map((c) => c.split(' ')[0]), ['set', 'get', 'delete']);
  assert.match(keychain.calls[0]!, /^set rehost-probe-[0-9a-f]{12}$/);
  assert.equal(keychain.map.size, 0);
  assert.deepEqual(log.lines.filter((l) => l.level === 'warn'), []);
  assert.deepEqual(await readdir(dataDir), []);
});

for (const behaviour of ['throws', 'hangs', 'lies'] as const) {
  test(`a keychain that ${behaviour} falls back to the encrypted file with a warning`, async (t) => {
    const dataDir = await tempDir(t);
    const log = recordingLog();
    const started = Date.now();
    const store = await openSecretStore({ dataDir, log, keychain: brokenKeychain(behaviour), env: {}, probeTimeoutMs: 200 });
    assert.ok(Date.now() - started < 2000);
    assert.equal(store.backend, 'encrypted-file');
    const warns = log.lines.filter((l) => l.level === 'warn');
    assert.equal(warns.length, 1);
    assert.match(warns[0]!.msg!, /^no OS keychain is reachable: secrets are stored in an encrypted file/);
    const reason = { throws: /autolaunch D-Bus/, hangs: /did not answer within 200 ms/, lies: /did not return the value just stored/ }[behaviour];
    assert.match(JSON.stringify(warns[0]!.obj), reason);
    await store.set('r', { password: PLANTED });
    assert.deepEqual(await store.get('r'), { password: PLANTED });
    assert.deepEqual((await readdir(dataDir)).sort(), ['secrets.enc', 'secrets.key']);
    assert.ok(!JSON.stringify(log.lines).includes(PLANTED));
  });
}

test('REHOST_SECRETS=file and prefer: file use the file without touching the keychain', async (t) => {
  for (const opts of [{ env: { REHOST_SECRETS: 'file' } }, { env: {}, prefer: 'file' as const }]) {
    const keychain = brokenKeychain('throws');
    const log = recordingLog();
    const store = await openSecretStore({ dataDir: await tempDir(t), log, keychain, ...opts });
    assert.equal(store.backend, 'encrypted-file');
    assert.equal(keychain.touched, false);
    assert.match(log.lines.find((l) => l.level === 'warn')?.msg ?? '', /encrypted file .*not used by configuration/);
  }
});

test('REHOST_SECRETS overrides prefer', async (t) => {
  const store = await openSecretStore({ dataDir: await tempDir(t), log: recordingLog(), keychain: memoryKeychain(), prefer: 'file', env: { REHOST_SECRETS: 'keychain' } });
  assert.equal(store.backend, 'keychain');
});

test('REHOST_SECRETS=keychain with no keychain is an error, not a fallback', async (t) => {
  const dataDir = await tempDir(t);
  await assert.rejects(
    openSecretStore({ dataDir, log: recordingLog(), keychain: brokenKeychain('throws'), env: { REHOST_SECRETS: 'keychain' } }),
    /REHOST_SECRETS=keychain but no OS keychain is reachable: Cannot autolaunch/,
  );
  assert.deepEqual(await readdir(dataDir), []);
});

test('an unknown REHOST_SECRETS value is refused', async (t) => {
  await assert.rejects(openSecretStore({ dataDir: await tempDir(t), log: recordingLog(), env: { REHOST_SECRETS: 'vault' } }), /REHOST_SECRETS must be "file" or "keychain"/);
});
