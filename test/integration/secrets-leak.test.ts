/**
 * Credentials never reach the database, the logs, job details or error bodies: a planted secret
 * is sent everywhere a password can go, then the data folder is searched byte by byte.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, type Rehost } from '../harness.js';

const PLANTED = 'PLANTED-S3CRET-7e1f';
let r: Rehost;
after(async () => {
  await r?.stop();
  if (r) removeDir(r.dataDir);
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

test('a planted secret is found in no file of the data folder and in no answer', async () => {
  r = await startRehost({ adminPassword: `${PLANTED}-admin`, env: { REHOST_LOG_LEVEL: 'debug', REHOST_LOG_REQUESTS: '1' } });
  await r.login(`${PLANTED}-admin`);
  const answers: string[] = [];
  const send = async (method: string, path: string, body: unknown) => answers.push(JSON.stringify((await r.api(method, path, body)).body));
  await send('POST', '/users/token', { username: 'admin', password: PLANTED });
  await send('PUT', '/users', { old_password: PLANTED, new_password: `${PLANTED}-new`, check_password: `${PLANTED}-new` });
  await send('POST', '/targets', { type: 'HyperGate', config: { cloud_type: 'OpenStack', os_auth_url: 'http://127.0.0.1:1/v3', os_username: 'u', os_password: PLANTED, os_project_name: 'p' } });
  await send('POST', '/targets', {
    type: 'HyperGate',
    config: { cloud_type: 'OpenStack', os_auth_url: 'http://127.0.0.1:1/v3', os_username: 'u', os_password: 'x', os_project_name: 'p', gateway_address: '127.0.0.1', gateway_password: PLANTED, gateway_private_key: PLANTED, gateway_passphrase: PLANTED },
  });
  await send('POST', '/targets', { type: 'HyperGate', config: { cloud_type: 'KVM', address: '127.0.0.1', port: 1, username: 'root', password: PLANTED, passphrase: PLANTED } });
  await send('POST', '/targets', { type: 'HyperGate', config: { cloud_type: 'Local', path: '/tmp', password: PLANTED } });
  // boot passwords go to the target only: never stored, never logged, never echoed
  await send('POST', '/hosts/00000000-0000-4000-8000-000000000000/action', { boot: { backup_type: 'volume_snapshot', snapshot_id: '00000000-0000-4000-8000-000000000001', admin_pass: PLANTED, user_password: PLANTED } });
  await send('POST', '/sources', { type: 'Agent', name: 'a', config: { address: '127.0.0.1', username: 'root', password: PLANTED } });
  await send('POST', '/sources', { type: 'VMware', name: 'v', config: { host: '127.0.0.1', username: 'root', password: PLANTED } });
  await r.api('GET', `/events?token=${PLANTED}`, undefined, { token: null });
  for (const a of answers) assert.doesNotMatch(a, new RegExp(PLANTED), a);
  await r.stop();
  const files = filesUnder(r.dataDir);
  assert.ok(files.some((f) => f.endsWith('rehost.db')));
  assert.ok(files.some((f) => f.endsWith('rehost.log')));
  for (const file of files) {
    assert.equal(readFileSync(file).includes(PLANTED), false, `${file} contains the planted secret`);
  }
});
