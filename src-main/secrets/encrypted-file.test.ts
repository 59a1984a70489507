import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RehostError } from '../../src-shared/errors.js';
import { KEY_FILE, SECRETS_FILE, openEncryptedFileStore } from './encrypted-file.js';

const PLANTED = 'PLANTED-SECRET-4242';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rehost-secrets-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('set, get, overwrite and delete', async (t) => {
  const store = await openEncryptedFileStore({ dataDir: await tempDir(t) });
  assert.equal(store.backend, 'encrypted-file');
  assert.equal(await store.get('src-1'), null);
  await store.set('src-1', { username: 'root', password: 'a' });
  assert.deepEqual(await store.get('src-1'), { username: 'root', password: 'a' });
  await store.set('src-1', { username: 'root', password: 'b' });
  assert.deepEqual(await store.get('src-1'), { username: 'root', password: 'b' });
  await store.delete('src-1');
  assert.equal(await store.get('src-1'), null);
  await store.delete('never-there');
});

test('records survive reopening, and the key file is 32 bytes with mode 0600', async (t) => {
  const dir = await tempDir(t);
  const first = await openEncryptedFileStore({ dataDir: dir });
  await first.set('target-1', { password: 'pw-1' });
  await first.set('target-2', { token: 'tok-2' });
  await first.delete('target-2');
  const key = await readFile(join(dir, KEY_FILE));
  const second = await openEncryptedFileStore({ dataDir: dir });
  assert.deepEqual(await second.get('target-1'), { password: 'pw-1' });
  assert.equal(await second.get('target-2'), null);
  assert.deepEqual(await readFile(join(dir, KEY_FILE)), key, 'the key file is created once, never rewritten');
  assert.equal(key.length, 32);
  if (process.platform !== 'win32') {
    assert.equal((await stat(join(dir, KEY_FILE))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, SECRETS_FILE))).mode & 0o777, 0o600);
  }
  assert.deepEqual((await readdir(dir)).sort(), [KEY_FILE, SECRETS_FILE].sort(), 'no temp files left behind');
});

test('the file on disk does not contain the plaintext', async (t) => {
  const dir = await tempDir(t);
  const store = await openEncryptedFileStore({ dataDir: dir });
  await store.set('planted-ref', { password: PLANTED });
  const bytes = await readFile(join(dir, SECRETS_FILE));
  for (const needle of [PLANTED, 'planted-ref', 'password']) {
    assert.equal(bytes.includes(Buffer.from(needle, 'utf8')), false, `${needle} found in ${SECRETS_FILE}`);
    assert.equal(bytes.includes(Buffer.from(needle, 'utf16le')), false, `${needle} (utf16) found in ${SECRETS_FILE}`);
  }
  assert.equal((await readFile(join(dir, KEY_FILE))).includes(Buffer.from(PLANTED)), false);
});

test('a tampered file gives a clear error instead of garbage', async (t) => {
  const dir = await tempDir(t);
  const store = await openEncryptedFileStore({ dataDir: dir });
  await store.set('a', { password: PLANTED });
  const file = join(dir, SECRETS_FILE);
  const good = await readFile(file);

  const flipped = Buffer.from(good);
  flipped[flipped.length - 3]! ^= 0x01; // one bit of ciphertext
  await writeFile(file, flipped);
  await assert.rejects(openEncryptedFileStore({ dataDir: dir }), (err: unknown) => {
    assert.ok(RehostError.is(err, 'UNAVAILABLE'));
    assert.match(err.message, /failed its integrity check: it was modified or damaged/);
    assert.doesNotMatch(err.message, new RegExp(PLANTED));
    return true;
  });

  const header = Buffer.from(good);
  header[8]! ^= 0x80; // the salt, part of the authenticated header
  await writeFile(file, header);
  await assert.rejects(openEncryptedFileStore({ dataDir: dir }), /failed its integrity check/);

  await writeFile(file, good.subarray(0, 20));
  await assert.rejects(openEncryptedFileStore({ dataDir: dir }), /not a Rehost secrets file/);

  await writeFile(file, good);
  await writeFile(join(dir, KEY_FILE), Buffer.alloc(32, 7)); // another key
  await assert.rejects(openEncryptedFileStore({ dataDir: dir }), /secrets\.key is not the key it was written with/);
});

test('secrets without their key file are refused, not silently re-keyed', async (t) => {
  const dir = await tempDir(t);
  const store = await openEncryptedFileStore({ dataDir: dir });
  await store.set('a', { password: 'x' });
  await rm(join(dir, KEY_FILE));
  await assert.rejects(openEncryptedFileStore({ dataDir: dir }), /key file .* is missing/);
});

test('concurrent writes are serialized and all land', async (t) => {
  const dir = await tempDir(t);
  const store = await openEncryptedFileStore({ dataDir: dir });
  await Promise.all(Array.from({ length: 25 }, (_, i) => store.set(`ref-${i}`, { n: String(i) })));
  await Promise.all([store.delete('ref-3'), store.set('ref-3', { n: 'again' }), store.delete('ref-4')]);
  const reopened = await openEncryptedFileStore({ dataDir: dir });
  for (let i = 0; i < 25; i++) {
    const expected = i === 3 ? { n: 'again' } : i === 4 ? null : { n: String(i) };
    assert.deepEqual(await reopened.get(`ref-${i}`), expected);
  }
});

test('invalid input is rejected without echoing the values', async (t) => {
  const store = await openEncryptedFileStore({ dataDir: await tempDir(t) });
  await assert.rejects(store.set('', { a: 'b' }), /non-empty/);
  await assert.rejects(store.set('r', { a: 42 } as unknown as Record<string, string>), (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.match(err.message, /field a must be a string/);
    assert.doesNotMatch(err.message, /42/);
    return true;
  });
  await assert.rejects(store.set('r', null as unknown as Record<string, string>), /object of strings/);
  assert.equal(await store.get('r'), null, 'a rejected write leaves nothing behind');
});

test('a returned record is a copy', async (t) => {
  const store = await openEncryptedFileStore({ dataDir: await tempDir(t) });
  const value = { password: 'p' };
  await store.set('r', value);
  value.password = 'changed';
  const got = await store.get('r');
  got!.password = 'mutated';
  assert.deepEqual(await store.get('r'), { password: 'p' });
});
