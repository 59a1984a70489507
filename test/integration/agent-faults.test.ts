/**
 * The Agent source when things go wrong, on real parts (sshd on 127.0.0.1, loop devices, the
 * delay proxy as a cuttable link): clear refusals for a wrong password, a changed host key and an
 * unreachable host; a sync whose agent is killed, or whose link is cut, resumes from its
 * checkpoint when retried; a target that runs out of space fails clearly and stays retryable.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, ROOT, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { makeMixedDisk, sha256File } from '../fixtures/disks.js';
import { freePort, startSshd, type Sshd } from '../peers/sshd.js';
import { attachLoop, canUseLoop, detachLoop } from '../peers/sshhost/loop.js';
import { addAgentSource, addLocalTarget, buildAgent, host, registerAndAssign, settledSource, startSync, syncEnded, syncStep } from './agent-flow.js';

const DISK_MIB = 48;
/** Slow enough that a fault lands mid-sync after a checkpoint (every 2 s): 48 MiB at 3 MB/s. */
const SLOW_MBPS = 24;
const skip = !canUseLoop() || !existsSync('/usr/sbin/sshd') ? 'needs root, loop devices and openssh-server' : false;
const work = tempDir('agent-faults');
const loops: string[] = [];
let r: Rehost | undefined;
let sshd: Sshd | undefined;
let proxy: ChildProcess | undefined;
let tmpfs: string | null = null;

function disk(name: string, mib: number, seed: number): string {
  makeMixedDisk(join(work, name), mib, seed);
  const dev = attachLoop(join(work, name));
  loops.push(dev);
  return dev;
}

async function startProxy(port: number): Promise<ChildProcess> {
  const p = spawn(process.execPath, [join(ROOT, 'test/peers/sshhost/delay-proxy.mjs'), `127.0.0.1:${port}`, `127.0.0.1:${sshd!.port}`, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => p.stdout!.once('data', () => resolve()));
  return p;
}

before(async () => {
  if (skip) return;
  const bundle = await buildAgent(join(work, 'agent'));
  sshd = await startSshd(join(work, 'sshd'));
  r = await startRehost({ env: { REHOST_AGENT_BUNDLE: bundle } });
  await r.login();
});

after(async () => {
  await r?.stop();
  proxy?.kill('SIGKILL');
  await sshd?.stop();
  for (const l of loops) detachLoop(l);
  if (tmpfs) execFileSync('umount', [tmpfs]);
  removeDir(work);
});

test('wrong password, changed host key, unreachable host: clear refusals', { skip }, async () => {
  const rh = r!;
  const base = { address: '127.0.0.1', port: sshd!.port, username: 'root', disks: ['/dev/loop0'] };
  const pw = await addAgentSource(rh, 'wrong-password', { ...base, password: 'not-the-password' });
  const pwDetail = await settledSource(rh, pw.id);
  assert.equal(pwDetail.source.status, 'failed');
  assert.match(pwDetail.source.status_reason, /refused: wrong password or key/);

  const wrongKey = 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
  const hk = await addAgentSource(rh, 'wrong-host-key', { ...base, private_key: sshd!.privateKey, host_key: wrongKey });
  const hkDetail = await settledSource(rh, hk.id);
  assert.equal(hkDetail.source.status, 'failed');
  assert.ok(hkDetail.source.status_reason.includes(wrongKey) && hkDetail.source.status_reason.includes(sshd!.hostKey), hkDetail.source.status_reason);

  const closed = await freePort();
  const un = await addAgentSource(rh, 'unreachable', { ...base, port: closed, private_key: sshd!.privateKey });
  const unDetail = await settledSource(rh, un.id);
  assert.equal(unDetail.source.status, 'failed');
  assert.match(unDetail.source.status_reason, /cannot reach root@127\.0\.0\.1:\d+: ECONNREFUSED/);
});

async function expectResume(rh: Rehost, hostId: string, dev: string, volume: string, fault: () => Promise<void>): Promise<void> {
  await startSync(rh, hostId, 'full', SLOW_MBPS);
  await waitFor('sync past 40%', async () => ((await host(rh, hostId)).detail_data?.percent ?? 0) >= 40, 60_000);
  await fault();
  const failed = await syncEnded(rh, hostId);
  assert.equal(failed.h_host_status, 'sync_failed', JSON.stringify(failed));
  assert.equal(failed.is_sync, true, 'a failed sync can be retried');
  await startSync(rh, hostId, 'full', 0);
  const done = await syncEnded(rh, hostId);
  assert.equal(done.h_host_status, 'sync_snapshot_done', JSON.stringify(done));
  const { step } = await syncStep(rh, hostId, 'Copy disk 0');
  assert.match(step.detail, /resumed from [1-9]/, step.detail);
  assert.equal(sha256File(volume), sha256File(dev));
}

test('agent killed mid-sync, then link cut mid-sync: each retry resumes from the checkpoint', { skip }, async () => {
  const rh = r!;
  const target = await addLocalTarget(rh, join(work, 'target'));

  const devA = disk('a.raw', DISK_MIB, 21);
  const a = await addAgentSource(rh, 'killed', { address: '127.0.0.1', port: sshd!.port, username: 'root', private_key: sshd!.privateKey, disks: [devA] });
  const aDetail = await settledSource(rh, a.id);
  assert.equal(aDetail.source.status, 'connected', aDetail.source.status_reason);
  const hostA = await registerAndAssign(rh, a.id, target);
  await expectResume(rh, hostA, devA, join(work, 'target', hostA, 'disk-0.raw'), async () => {
    process.kill(aDetail.tree.agent.pid, 'SIGKILL');
  });

  const proxyPort = await freePort();
  proxy = await startProxy(proxyPort);
  const devB = disk('b.raw', DISK_MIB, 22);
  const b = await addAgentSource(rh, 'link-cut', { address: '127.0.0.1', port: proxyPort, username: 'root', private_key: sshd!.privateKey, disks: [devB] });
  assert.equal((await settledSource(rh, b.id)).source.status, 'connected');
  const hostB = await registerAndAssign(rh, b.id, target);
  await expectResume(rh, hostB, devB, join(work, 'target', hostB, 'disk-0.raw'), async () => {
    proxy!.kill('SIGKILL');
    proxy = await startProxy(proxyPort);
  });
});

test('target out of space: the sync fails with a clear reason and stays retryable', { skip }, async (t) => {
  const rh = r!;
  const mount = join(work, 'small');
  mkdirSync(mount);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mount]);
    tmpfs = mount;
  } catch {
    t.skip('tmpfs cannot be mounted here');
    return;
  }
  const target = await addLocalTarget(rh, join(mount, 'target'));
  const dev = disk('c.raw', 16, 23);
  const c = await addAgentSource(rh, 'no-space', { address: '127.0.0.1', port: sshd!.port, username: 'root', private_key: sshd!.privateKey, disks: [dev] });
  assert.equal((await settledSource(rh, c.id)).source.status, 'connected');
  const hostC = await registerAndAssign(rh, c.id, target);
  await startSync(rh, hostC, 'full');
  const failed = await syncEnded(rh, hostC);
  assert.equal(failed.h_host_status, 'sync_failed');
  assert.equal(failed.is_sync, true);
  assert.match(String(failed.description), /space|ENOSPC/i, String(failed.description));
});
