import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, removeDir, startRehost, type Rehost } from '../harness.js';

const started: Rehost[] = [];
after(async () => {
  for (const r of started) {
    await r.stop();
    removeDir(r.dataDir);
  }
});

test('token, 401 without it, three wrong passwords lock the account for 5 minutes (seed 004 10440207)', async () => {
  const r = await startRehost();
  started.push(r);
  const noToken = await r.api('GET', '/hosts', undefined, { token: null });
  assert.equal(noToken.status, 401);
  assert.match(noToken.body.message, /X-AUTH-TOKEN/);
  const bad = await r.api('GET', '/hosts', undefined, { token: 'not-a-token' });
  assert.equal(bad.status, 401);

  const token = await r.login();
  assert.equal((await r.api('GET', '/hosts')).status, 200);
  assert.equal(typeof token, 'string');

  for (let i = 1; i <= 2; i++) {
    const wrong = await r.api('POST', '/users/token', { username: 'admin', password: `wrong-${i}` }, { token: null });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.field, 'password');
  }
  const third = await r.api('POST', '/users/token', { username: 'admin', password: 'wrong-3' }, { token: null });
  assert.equal(third.status, 423);
  assert.equal(third.body.error_code, 10440207);
  assert.match(third.body.message, /locked for 5 minutes/);
  // Even the right password is refused while locked.
  const locked = await r.api('POST', '/users/token', { username: 'admin', password: ADMIN_PASSWORD }, { token: null });
  assert.equal(locked.status, 423);
  // The token issued before the lock still works (locking stops new sign-ins).
  assert.equal((await r.api('GET', '/jobs')).status, 200);
});

test('first start without REHOST_ADMIN_PASSWORD prints a generated password that must be changed first', async () => {
  const r = await startRehost({ adminPassword: null });
  started.push(r);
  const m = /the admin password is (\S+)/.exec(r.output());
  assert.ok(m, r.output());
  const generated = m[1]!;
  const login = await r.api('POST', '/users/token', { username: 'admin', password: generated }, { token: null });
  assert.equal(login.status, 200);
  assert.equal(login.body.is_first_login, true);
  r.token = login.body.token;
  const blocked = await r.api('GET', '/hosts');
  assert.equal(blocked.status, 403);
  assert.match(blocked.body.message, /change the generated password/);
  const mismatch = await r.api('PUT', '/users', { old_password: generated, new_password: 'new-pass-123', check_password: 'other-pass-123' });
  assert.equal(mismatch.status, 400);
  assert.equal(mismatch.body.field, 'check_password');
  const changed = await r.api('PUT', '/users', { old_password: generated, new_password: 'new-pass-123', check_password: 'new-pass-123' });
  assert.equal(changed.status, 200);
  assert.deepEqual(changed.body, { username: 'admin' });
  assert.equal((await r.api('GET', '/hosts')).status, 200);
  // The generated password is printed only once: a restart does not print it again.
  await r.stop();
  const again = await startRehost({ dataDir: r.dataDir, adminPassword: null });
  started.push(again);
  assert.doesNotMatch(again.output(), /the admin password is/);
  await again.login('new-pass-123');
  assert.equal((await again.api('GET', '/targets')).status, 200);
});

test('OpenAPI 3.1 document lists every endpoint', async () => {
  const r = await startRehost();
  started.push(r);
  const doc = await r.api('GET', '/openapi.json', undefined, { token: null });
  assert.equal(doc.status, 200);
  assert.equal(doc.body.openapi, '3.1.0');
  const paths = Object.keys(doc.body.paths);
  for (const p of [
    '/hypermotion/v1/users/token', '/hypermotion/v1/users', '/hypermotion/v1/targets', '/hypermotion/v1/targets/{id}', '/hypermotion/v1/targets/types',
    '/hypermotion/v1/targets/{id}/resources', '/hypermotion/v1/hosts/register', '/hypermotion/v1/hosts', '/hypermotion/v1/hosts/{id}/action',
    '/hypermotion/v1/hosts/{id}', '/hypermotion/v1/hosts/target_platform', '/hypermotion/v1/hosts/{id}/sync_strategy', '/hypermotion/v1/jobs',
    '/hypermotion/v1/sources', '/hypermotion/v1/sources/{id}', '/hypermotion/v1/sources/{id}/hosts', '/hypermotion/v1/sources/{id}/refresh',
    '/hypermotion/v1/events',
  ]) {
    assert.ok(paths.includes(p), `${p} missing from ${paths.join(', ')}`);
  }
  assert.ok(doc.body.paths['/hypermotion/v1/hosts'].post.requestBody, 'request schemas are in the document');
});
