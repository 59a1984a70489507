/**
 * The Agent source when things go wrong, on real parts (sshd on 127.0.0.1, loop devices, the
 * delay proxy as a cuttable link): clear refusals for a wrong password, a changed host key and an
 * unreachable host; a sync whose agent is killed, or whose link is cut, resumes from its
 * checkpoint when retried; a target that runs out of space fails clearly and stays retryable; a
 * disk whose storage goes away mid-sync fails the sync naming the disk, and once it is attached
 * again the retry resumes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, ROOT, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { makeMixedDisk } from '../fixtures/disks.js';
import { freePort, startSshd, type Sshd } from '../peers/sshd.js';
import { attachLoop, canUseLoop, detachLoop } from '../peers/sshhost/loop.js';
import { addAgentSource, addLocalTarget, buildAgent, host, registerAndAssign, settledSource, startSync, syncEnded, syncStep } from './agent-flow.js';
import { sameContent } from '../local-volume.js';

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
/** The ext4 file system that holds the "removable" disk's backing file, while mounted. */
let backing: string | null = null;

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
  if (backing) execFileSync('umount', [backing]);
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

async function expectResume(rh: Rehost, hostId: string, dev: string, hostDir: string, fault: () => Promise<void>): Promise<void> {
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
  assert.ok(sameContent(hostDir, dev), 'the target holds the disk\'s bytes');
}

test('agent killed mid-sync, then link cut mid-sync: each retry resumes from the checkpoint', { skip }, async () => {
  const rh = r!;
  const target = await addLocalTarget(rh, join(work, 'target'));

  const devA = disk('a.raw', DISK_MIB, 21);
  const a = await addAgentSource(rh, 'killed', { address: '127.0.0.1', port: sshd!.port, username: 'root', private_key: sshd!.privateKey, disks: [devA] });
  const aDetail = await settledSource(rh, a.id);
  assert.equal(aDetail.source.status, 'connected', aDetail.source.status_reason);
  const hostA = await registerAndAssign(rh, a.id, target);
  await expectResume(rh, hostA, devA, join(work, 'target', hostA), async () => {
    process.kill(aDetail.tree.agent.pid, 'SIGKILL');
  });

  const proxyPort = await freePort();
  proxy = await startProxy(proxyPort);
  const devB = disk('b.raw', DISK_MIB, 22);
  const b = await addAgentSource(rh, 'link-cut', { address: '127.0.0.1', port: proxyPort, username: 'root', private_key: sshd!.privateKey, disks: [devB] });
  assert.equal((await settledSource(rh, b.id)).source.status, 'connected');
  const hostB = await registerAndAssign(rh, b.id, target);
  await expectResume(rh, hostB, devB, join(work, 'target', hostB), async () => {
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

/**
 * Takes the storage away under a loop device the way a pulled disk does: the ext4 file system
 * holding its backing file is shut down (EXT4_IOC_SHUTDOWN, flushed first), so every read that
 * reaches the device fails with EIO. (`losetup -d` alone would not do: the kernel detaches a
 * loop device that is open only at its last close.)
 */
function pullDisk(backingFile: string): void {
  execFileSync('perl', ['-e', 'open(my $f, "<", $ARGV[0]) or die "$!\\n"; my $how = pack("L", 0); ioctl($f, 0x8004587d, $how) or die "EXT4_IOC_SHUTDOWN: $!\\n"', backingFile]);
}

/** Detaches `dev` and unmounts the file system that held its backing file. */
async function detachDisk(dev: string, mount: string): Promise<void> {
  await waitFor('disk detached and file system unmounted', async () => {
    detachLoop(dev);
    try {
      execFileSync('umount', [mount], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }, 30_000);
  backing = null;
}

/** Remounts the file system and attaches the backing file to `dev` again. */
function reattachDisk(dev: string, image: string, mount: string, backingFile: string): void {
  execFileSync('mount', ['-o', 'loop', image, mount]);
  backing = mount;
  execFileSync('losetup', [dev, backingFile]);
}

test('disk removed mid-sync: the sync fails naming the disk; attached again, the retry resumes', { skip }, async (t) => {
  const rh = r!;
  const image = join(work, 'removable-fs.img');
  const mount = join(work, 'removable');
  mkdirSync(mount);
  execFileSync('truncate', ['-s', '96M', image]);
  execFileSync('mkfs.ext4', ['-q', '-F', image]);
  try {
    execFileSync('mount', ['-o', 'loop', image, mount]);
    backing = mount;
  } catch {
    t.skip('an ext4 image cannot be mounted here');
    return;
  }
  const file = join(mount, 'disk.raw');
  makeMixedDisk(file, DISK_MIB, 24);
  execFileSync('sync', ['-f', file]);
  const dev = attachLoop(file);
  loops.push(dev);
  const target = await addLocalTarget(rh, join(work, 'target-removed'));
  const d = await addAgentSource(rh, 'removed', { address: '127.0.0.1', port: sshd!.port, username: 'root', private_key: sshd!.privateKey, disks: [dev] });
  assert.equal((await settledSource(rh, d.id)).source.status, 'connected');
  const hostD = await registerAndAssign(rh, d.id, target);

  await startSync(rh, hostD, 'full', SLOW_MBPS);
  await waitFor('sync past 40%', async () => ((await host(rh, hostD)).detail_data?.percent ?? 0) >= 40, 60_000);
  pullDisk(file);
  const failed = await syncEnded(rh, hostD);
  assert.equal(failed.h_host_status, 'sync_failed', JSON.stringify(failed));
  assert.equal(failed.is_sync, true, 'the host stays retryable');
  t.diagnostic(`failure reason: ${failed.description}`);
  assert.ok(String(failed.description).includes(dev), `the reason names the disk: ${failed.description}`);
  assert.match(String(failed.description), /removed, detached or (failed|shrunk)/, String(failed.description));

  // While the disk is gone, a retry fails at once and says so.
  await detachDisk(dev, mount);
  await startSync(rh, hostD, 'full', 0);
  const gone = await syncEnded(rh, hostD);
  assert.equal(gone.h_host_status, 'sync_failed', JSON.stringify(gone));
  t.diagnostic(`with the disk detached: ${gone.description}`);
  assert.match(String(gone.description), new RegExp(`the disk ${dev} named in config.disks is not on 127.0.0.1: it was removed or detached`), String(gone.description));

  reattachDisk(dev, image, mount, file);
  await startSync(rh, hostD, 'full', 0);
  const done = await syncEnded(rh, hostD);
  assert.equal(done.h_host_status, 'sync_snapshot_done', JSON.stringify(done));
  const { step } = await syncStep(rh, hostD, 'Copy disk 0');
  assert.match(step.detail, /resumed from [1-9]/, step.detail);
  assert.ok(sameContent(join(work, 'target-removed', hostD), dev), 'the target holds the disk\'s bytes');
});
