import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPasswordHasher } from './password.js';

const hasher = createPasswordHasher();

test('a hash verifies its own password and has the documented format', async () => {
  const hash = await hasher.hash('correct horse battery staple');
  assert.match(hash, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
  const [, , , , salt, key] = hash.split('$');
  assert.equal(Buffer.from(salt!, 'base64').length, 16);
  assert.equal(Buffer.from(key!, 'base64').length, 64);
  assert.equal(await hasher.verify('correct horse battery staple', hash), true);
});

test('a wrong password does not verify', async () => {
  const hash = await hasher.hash('s3cret');
  assert.equal(await hasher.verify('s3cret ', hash), false);
  assert.equal(await hasher.verify('S3cret', hash), false);
  assert.equal(await hasher.verify('', hash), false);
});

test('two hashes of one password differ (random salt) and both verify', async () => {
  const [a, b] = await Promise.all([hasher.hash('same'), hasher.hash('same')]);
  assert.notEqual(a, b);
  assert.equal(await hasher.verify('same', a), true);
  assert.equal(await hasher.verify('same', b), true);
});

test('a malformed or hostile hash is rejected, not thrown on', async () => {
  for (const bad of ['', 'plain', 'bcrypt$1$2$3$4$5', 'scrypt$3$8$1$AAAA$AAAA', 'scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$' + 'A'.repeat(88)]) {
    assert.equal(await hasher.verify('x', bad), false, bad);
  }
});

test('randomToken is base64url of the requested length; digest is sha256 hex', () => {
  const token = hasher.randomToken(32);
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(hasher.randomToken(32), token);
  assert.equal(hasher.digest('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});
