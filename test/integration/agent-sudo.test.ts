/**
 * The Agent source with a non-root login on real parts: real users created on this machine
 * (useradd, a sudoers.d drop-in, both removed at the end), the test sshd on 127.0.0.1, a loop
 * device. sudo with NOPASSWD: the agent runs as root and a full sync completes. No sudo: the
 * ACCOUNT_RIGHTS check says ERROR and a sync fails with that reason. sudo that asks for a
 * password: the source fails with a clear reason. An old glibc is refused before anything is
 * pushed (mocked: a fake getconf on that user's PATH, since no old-glibc host runs here).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, type Rehost } from '../harness.js';
import { makeMixedDisk } from '../fixtures/disks.js';
import { createTestUser, startSshd, type Sshd, type TestUser } from '../peers/sshd.js';
import { attachLoop, canUseLoop, detachLoop } from '../peers/sshhost/loop.js';
import { addAgentSource, addLocalTarget, buildAgent, registerAndAssign, settledSource, startSync, syncEnded, syncStep } from './agent-flow.js';
import { sameContent } from '../local-volume.js';

const DISK_MIB = 16;
const hasTools = ['/usr/sbin/sshd', '/usr/sbin/useradd', '/usr/bin/sudo', '/usr/sbin/visudo'].every((p) => existsSync(p));
const skip = !canUseLoop() || !hasTools ? 'needs root, loop devices, openssh-server, sudo and useradd' : false;
const work = tempDir('agent-sudo');
const users: TestUser[] = [];
let r: Rehost | undefined;
let sshd: Sshd | undefined;
let loop: string | undefined;
let target: { targetId: string; poolId: string } | undefined;

before(async () => {
  if (skip) return;
  const bundle = await buildAgent(join(work, 'agent'));
  makeMixedDisk(join(work, 'disk.raw'), DISK_MIB, 31);
  loop = attachLoop(join(work, 'disk.raw'));
  sshd = await startSshd(join(work, 'sshd'));
  r = await startRehost({ env: { REHOST_AGENT_BUNDLE: bundle } });
  await r.login();
  target = await addLocalTarget(r, join(work, 'target'));
});

after(async () => {
  await r?.stop();
  await sshd?.stop();
  for (const u of users) u.remove();
  if (loop) detachLoop(loop);
  removeDir(work);
});

function user(sudo: Parameters<typeof createTestUser>[0], shell?: string): TestUser {
  const u = createTestUser(sudo, shell);
  users.push(u);
  return u;
}

function check(detail: any, id: string): any {
  return detail.hosts[0].checks.find((c: any) => c.id === id);
}

/** The agent folders under /tmp that belong to `uid`. */
function agentDirs(uid: number): string[] {
  return readdirSync('/tmp').filter((n) => n.startsWith('rehost-agent-') && statSync(join('/tmp', n)).uid === uid);
}

test('non-root user with NOPASSWD sudo: the agent runs as root, full sync completes', { skip }, async () => {
  const rh = r!;
  const u = user('nopasswd');
  const src = await addAgentSource(rh, 'sudo-user', { address: '127.0.0.1', port: sshd!.port, username: u.name, password: u.password, sudo: true, disks: [loop] });
  assert.equal(src.status, 200, JSON.stringify(src.body));
  const detail = await settledSource(rh, src.id);
  assert.equal(detail.source.status, 'connected', detail.source.status_reason);
  const rights = check(detail, 'ACCOUNT_RIGHTS');
  assert.equal(rights.severity, 'OK', JSON.stringify(rights));
  assert.equal(detail.tree.inventory.uid, 0, 'the agent runs as root through sudo');
  assert.ok(detail.tree.agent.runtime.path.startsWith(`${u.home}/.cache/rehost/runtime/`), 'the runtime is cached in the login user\'s home');
  assert.equal(agentDirs(u.uid).length, 1, 'the per-run folder belongs to the login user');

  const hostId = await registerAndAssign(rh, src.id, target!);
  await startSync(rh, hostId, 'full');
  const h = await syncEnded(rh, hostId);
  assert.equal(h.h_host_status, 'sync_snapshot_done', JSON.stringify(h));
  assert.ok(sameContent(join(work, 'target', hostId), loop!), 'the target holds the disk\'s bytes');
  const { step } = await syncStep(rh, hostId, 'Open source snapshot');
  assert.match(step.detail, /consistency: converging passes \(\/dev\/loop\d+ is not an LVM logical volume/, step.detail);
});

test('non-root user without sudo: ACCOUNT_RIGHTS is ERROR with a reason, and a sync fails clearly', { skip }, async () => {
  const rh = r!;
  const u = user('none');
  const src = await addAgentSource(rh, 'plain-user', { address: '127.0.0.1', port: sshd!.port, username: u.name, password: u.password, sudo: false, disks: [loop] });
  const detail = await settledSource(rh, src.id);
  assert.equal(detail.source.status, 'connected', detail.source.status_reason);
  const rights = check(detail, 'ACCOUNT_RIGHTS');
  assert.equal(rights.severity, 'ERROR');
  assert.equal(rights.code, 'NOT_ROOT');
  assert.match(rights.reason, new RegExp(`uid ${u.uid}: reading disks needs root \\(set "sudo": true`));

  const hostId = await registerAndAssign(rh, src.id, target!);
  await startSync(rh, hostId, 'full');
  const h = await syncEnded(rh, hostId);
  assert.equal(h.h_host_status, 'sync_failed', JSON.stringify(h));
  assert.equal(h.is_sync, true, 'the host stays retryable');
  assert.match(String(h.description), new RegExp(`runs as ${u.name} \\(uid ${u.uid}\\) and reading disks needs root .*ACCOUNT_RIGHTS`), String(h.description));
});

test('sudo: true but sudo asks for a password: the source fails with a clear reason', { skip }, async () => {
  const rh = r!;
  const u = user('password');
  const src = await addAgentSource(rh, 'sudo-password', { address: '127.0.0.1', port: sshd!.port, username: u.name, password: u.password, sudo: true, disks: [loop] });
  const detail = await settledSource(rh, src.id);
  assert.equal(detail.source.status, 'failed');
  assert.match(detail.source.status_reason, new RegExp(`sudo for ${u.name} asks for a password; .*NOPASSWD`), detail.source.status_reason);
  assert.deepEqual(agentDirs(u.uid), [], 'nothing was left in /tmp');
});

test('glibc older than 2.28 (mocked: a fake getconf on the user\'s PATH): refused before anything is pushed', { skip }, async () => {
  const rh = r!;
  const fake = join(work, 'old-glibc');
  mkdirSync(join(fake, 'bin'), { recursive: true });
  writeFileSync(join(fake, 'bin/getconf'), '#!/bin/sh\necho "glibc 2.17"\n');
  writeFileSync(join(fake, 'shell'), `#!/bin/sh\nPATH=${fake}/bin:$PATH\nexport PATH\nexec /bin/sh "$@"\n`);
  chmodSync(join(fake, 'bin/getconf'), 0o755);
  chmodSync(join(fake, 'shell'), 0o755);
  chmodSync(work, 0o755);
  const u = user('nopasswd', join(fake, 'shell'));
  const src = await addAgentSource(rh, 'old-glibc', { address: '127.0.0.1', port: sshd!.port, username: u.name, password: u.password, sudo: true, disks: [loop] });
  const detail = await settledSource(rh, src.id);
  assert.equal(detail.source.status, 'failed');
  assert.match(detail.source.status_reason, /environment check OS_VERSION: ERROR GLIBC_TOO_OLD, glibc 2\.17: the agent runtime needs glibc ≥ 2\.28 .*nothing was pushed/, detail.source.status_reason);
  assert.deepEqual(agentDirs(u.uid), [], 'no agent folder was made');
  assert.equal(existsSync(join(u.home, '.cache/rehost')), false, 'no runtime was uploaded');
});
