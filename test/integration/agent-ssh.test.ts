/**
 * SSH edges of the Agent source on real parts: a passphrase-protected private key end to end
 * (the agent is pushed and inventories the host), a wrong or missing passphrase refused by name;
 * the host key pinned on first use, then the test sshd restarted with a new host key: the refresh
 * is refused naming both fingerprints, and PUT /sources/:id with the new `config.host_key`
 * accepts it; a host that drops every packet (an address blackholed inside a network namespace
 * this test creates, the engine running in that namespace) fails within a bounded time.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ROOT, removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { startSshd, type Sshd } from '../peers/sshd.js';
import { addAgentSource, buildAgent, settledSource } from './agent-flow.js';

const skip = process.getuid?.() !== 0 || !existsSync('/usr/sbin/sshd') ? 'needs root and openssh-server' : false;
const work = tempDir('agent-ssh');
let r: Rehost | undefined;
let sshd: Sshd | undefined;

before(async () => {
  if (skip) return;
  sshd = await startSshd(join(work, 'sshd'));
  r = await startRehost({ env: { REHOST_AGENT_BUNDLE: await buildAgent(join(work, 'agent')) } });
  await r.login();
});

after(async () => {
  await r?.stop();
  await sshd?.stop();
  removeDir(work);
});

const base = () => ({ address: '127.0.0.1', port: sshd!.port, username: 'root' });

test('a passphrase-protected private key: the agent is pushed and runs; a wrong or missing passphrase is refused by name', { skip }, async () => {
  const rh = r!;
  const passphrase = `pp-${randomBytes(6).toString('hex')}`;
  const keyFile = join(work, 'pp_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'rehost-passphrase', '-f', keyFile]);
  appendFileSync(join(sshd!.dir, 'authorized_keys'), readFileSync(`${keyFile}.pub`));
  const key = readFileSync(keyFile, 'utf8');
  assert.match(key, /BEGIN OPENSSH PRIVATE KEY/);

  const ok = await addAgentSource(rh, 'passphrase-ok', { ...base(), private_key: key, passphrase });
  const detail = await settledSource(rh, ok.id);
  assert.equal(detail.source.status, 'connected', JSON.stringify(detail.source));
  assert.equal(detail.source.pinned_identity, sshd!.hostKey);
  assert.equal(detail.tree.inventory.uid, 0, 'the agent ran on the host');
  assert.equal(detail.hosts[0].checks.length, 12);
  assert.equal(JSON.stringify(detail).includes(passphrase), false, 'the passphrase is not shown');

  const wrong = await settledSource(rh, (await addAgentSource(rh, 'passphrase-wrong', { ...base(), private_key: key, passphrase: 'not-it' })).id);
  assert.equal(wrong.source.status, 'failed');
  assert.match(wrong.source.status_reason, /config\.private_key is encrypted and config\.passphrase is wrong/);
  const missing = await settledSource(rh, (await addAgentSource(rh, 'passphrase-missing', { ...base(), private_key: key })).id);
  assert.equal(missing.source.status, 'failed');
  assert.match(missing.source.status_reason, /config\.passphrase is missing/);
  for (const d of [wrong, missing]) assert.equal(d.source.status_reason.includes('PRIVATE KEY'), false, 'the key is not quoted');
});

test('host key pinned on first use; the host re-keyed: refused naming both fingerprints, accepted with PUT config.host_key', { skip }, async () => {
  const rh = r!;
  const src = await addAgentSource(rh, 'rekeyed', { ...base(), private_key: sshd!.privateKey });
  const first = await settledSource(rh, src.id);
  assert.equal(first.source.status, 'connected', JSON.stringify(first.source));
  const oldKey = sshd!.hostKey;
  assert.equal(first.source.pinned_identity, oldKey, 'pinned on first use');

  await sshd!.restart({ newHostKey: true });
  const newKey = sshd!.hostKey;
  assert.notEqual(newKey, oldKey);
  assert.equal((await rh.api('POST', `/sources/${src.id}/refresh`)).status, 200);
  const refused = await waitFor('refresh refused', async () => {
    const d = (await rh.api('GET', `/sources/${src.id}`)).body;
    return d.source.status === 'disconnected' ? d : null;
  });
  const reason: string = refused.source.status_reason;
  assert.ok(reason.includes(`pinned ${oldKey}`) && reason.includes(`presented ${newKey}`), reason);
  assert.match(reason, /PUT \/hypermotion\/v1\/sources\/<id> \{"config":\{"host_key":/);
  assert.equal(refused.source.pinned_identity, oldKey, 'a refusal keeps the old pin');

  // Bad input names the field.
  const extra = await rh.api('PUT', `/sources/${src.id}`, { config: { password: 'x' } });
  assert.equal(extra.status, 400, JSON.stringify(extra.body));
  assert.equal(extra.body.field, 'config.password');
  const other = await rh.api('PUT', `/sources/${src.id}`, { config: { thumbprint: 'AB:'.repeat(31) + 'AB' } });
  assert.equal(other.status, 400, JSON.stringify(other.body));
  assert.equal(other.body.field, 'config.thumbprint');
  const malformed = await rh.api('PUT', `/sources/${src.id}`, { config: { host_key: 'SHA256:short' } });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.body.field, 'config.host_key');

  const put = await rh.api('PUT', `/sources/${src.id}`, { config: { host_key: newKey } });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  const accepted = await waitFor('refresh with the new key', async () => {
    const d = (await rh.api('GET', `/sources/${src.id}`)).body;
    return d.source.status === 'connected' ? d : null;
  });
  assert.deepEqual([accepted.source.pinned_identity, accepted.source.config.host_key], [newKey, newKey]);
  assert.equal(accepted.tree.host_key, newKey);
});

test('a host that drops every packet: the source fails with "no answer" within a bounded time', { skip }, async () => {
  // The namespace has no route out; 192.0.2.2 (TEST-NET-1) sits behind a veth whose far end
  // answers nothing, with a fixed neighbour entry so the SYNs leave and vanish.
  const ns = `wt-inventory-${randomBytes(4).toString('hex')}`;
  const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args]);
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    ip('link', 'set', 'lo', 'up');
    ip('link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb');
    ip('addr', 'add', '192.0.2.1/24', 'dev', 'va');
    ip('link', 'set', 'va', 'up');
    ip('link', 'set', 'vb', 'up');
    ip('neigh', 'add', '192.0.2.2', 'lladdr', '02:00:00:00:00:02', 'dev', 'va', 'nud', 'permanent');
    const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', join(ROOT, 'test/integration/ssh-unreachable-probe.ts'), '192.0.2.2'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { status: string; reason: string; elapsedMs: number };
    assert.equal(result.status, 'failed', JSON.stringify(result));
    assert.match(result.reason, /^cannot reach root@192\.0\.2\.2:22: no answer within 20 s \(the host is down, or a firewall drops the connection\)$/);
    assert.ok(result.elapsedMs >= 15_000 && result.elapsedMs < 60_000, `failed after ${result.elapsedMs} ms: bounded by the 20 s handshake timeout`);
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
});
