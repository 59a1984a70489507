/**
 * The Agent source when things go wrong, on real parts (sshd on 127.0.0.1, loop devices, a relay
 * in this test as a cuttable link): clear refusals for a wrong password, a changed host key and an
 * unreachable host; a sync whose agent is killed, whose link is cut for a moment, or whose host
 * "reboots" (sshd and every session killed, the disk detached and attached again) reconnects
 * within the job and resumes from its checkpoint; a link cut for longer fails the job, retryable,
 * and the retry resumes; a target that runs out of space fails clearly, and once there is room
 * the retry resumes; a disk whose storage goes away mid-sync fails the sync naming the disk, and
 * once it is attached again the retry resumes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { makeMixedDisk } from '../fixtures/disks.js';
import { freePort, startSshd, type Sshd } from '../peers/sshd.js';
import { startLinkProxy, type LinkProxy } from '../peers/link-proxy.js';
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
let proxy: LinkProxy | undefined;
let shared: { targetId: string; poolId: string } | undefined;
let tmpfs: string | null = null;
/** The ext4 file system that holds the "removable" disk's backing file, while mounted. */
let backing: string | null = null;

function disk(name: string, mib: number, seed: number): string {
  makeMixedDisk(join(work, name), mib, seed);
  const dev = attachLoop(join(work, name));
  loops.push(dev);
  return dev;
}

/** The Local target the resume tests share. */
async function target(rh: Rehost): Promise<{ targetId: string; poolId: string }> {
  shared ??= await addLocalTarget(rh, join(work, 'target'));
  return shared;
}

/** An Agent source on a fresh loop disk, its host registered and assigned; `port`: sshd or a relay in front of it. */
async function agentHost(rh: Rehost, name: string, seed: number, port = sshd!.port): Promise<{ dev: string; hostId: string; sourceId: string; detail: any }> {
  const dev = disk(`${name}.raw`, DISK_MIB, seed);
  const src = await addAgentSource(rh, name, { address: '127.0.0.1', port, username: 'root', private_key: sshd!.privateKey, disks: [dev] });
  const detail = await settledSource(rh, src.id);
  assert.equal(detail.source.status, 'connected', detail.source.status_reason);
  return { dev, hostId: await registerAndAssign(rh, src.id, await target(rh)), sourceId: src.id, detail };
}

async function syncJobs(rh: Rehost, hostId: string): Promise<number> {
  return (await rh.api('GET', `/jobs?id=${hostId}&job_type=Sync&page_size=1`)).body.total;
}

/** Starts a slow full sync and runs `fault` once it is past 40%. */
async function faultMidSync(rh: Rehost, hostId: string, fault: () => Promise<void>): Promise<void> {
  await startSync(rh, hostId, 'full', SLOW_MBPS);
  await waitFor('sync past 40%', async () => ((await host(rh, hostId)).detail_data?.percent ?? 0) >= 40, 60_000);
  await fault();
}

/**
 * The fault is cured within the job: the same sync job ends done, its copy step names the
 * reconnects and the resume, and the target holds the disk's bytes.
 */
async function expectReconnected(rh: Rehost, hostId: string, dev: string, fault: () => Promise<void>): Promise<string> {
  const before = await syncJobs(rh, hostId);
  await faultMidSync(rh, hostId, fault);
  const done = await syncEnded(rh, hostId);
  assert.equal(done.h_host_status, 'sync_snapshot_done', JSON.stringify(done));
  assert.equal(await syncJobs(rh, hostId), before + 1, 'no manual retry: one job did it');
  const { step } = await syncStep(rh, hostId, 'Copy disk 0');
  assert.match(step.detail, /resumed from [1-9]/, step.detail);
  assert.match(step.detail, /reconnected [1-9] time\(s\): link lost \(/, step.detail);
  assert.ok(sameContent(join(work, 'target', hostId), dev), 'the target holds the disk\'s bytes');
  return step.detail as string;
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
  await proxy?.close();
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

test('agent killed mid-sync: the job reconnects, pushes a new agent and resumes on its own', { skip }, async (t) => {
  const rh = r!;
  const a = await agentHost(rh, 'killed', 21);
  const started = rh.output().split('agent started').length;
  const detail = await expectReconnected(rh, a.hostId, a.dev, async () => {
    process.kill(a.detail.tree.agent.pid, 'SIGKILL');
  });
  t.diagnostic(detail);
  assert.ok(rh.output().split('agent started').length > started, 'a new agent was pushed');
});

test('link cut for a moment mid-sync: the job reconnects and resumes on its own', { skip }, async (t) => {
  const rh = r!;
  proxy = await startLinkProxy(sshd!.port);
  const b = await agentHost(rh, 'link-blip', 22, proxy.port);
  const detail = await expectReconnected(rh, b.hostId, b.dev, async () => {
    await proxy!.cut();
    setTimeout(() => void proxy!.restore(), 2000);
  });
  t.diagnostic(detail);
});

test('link cut for longer than the reconnects last: the job fails, retryable, and the retry resumes', { skip }, async (t) => {
  const rh = r!;
  proxy ??= await startLinkProxy(sshd!.port);
  const c = await agentHost(rh, 'link-cut', 25, proxy.port);
  let cutAt = 0;
  await faultMidSync(rh, c.hostId, async () => {
    await proxy!.cut();
    cutAt = Date.now();
  });
  const failed = await syncEnded(rh, c.hostId);
  const lasted = (Date.now() - cutAt) / 1000;
  t.diagnostic(`failed ${lasted.toFixed(1)} s after the cut: ${failed.description}`);
  assert.equal(failed.h_host_status, 'sync_failed', JSON.stringify(failed));
  assert.equal(failed.is_sync, true, 'a failed sync can be retried');
  assert.match(String(failed.description), /the link did not come back: 3 reconnect attempt\(s\) over \d+ s; retry the sync/);
  assert.ok(lasted >= 20 && lasted < 90, `the reconnects took ${lasted.toFixed(1)} s`);
  const { step } = await syncStep(rh, c.hostId, 'Copy disk 0');
  assert.equal(step.status, 'failed');

  await proxy!.restore();
  await startSync(rh, c.hostId, 'full', 0);
  const done = await syncEnded(rh, c.hostId);
  assert.equal(done.h_host_status, 'sync_snapshot_done', JSON.stringify(done));
  assert.match((await syncStep(rh, c.hostId, 'Copy disk 0')).step.detail, /resumed from [1-9]/);
  assert.ok(sameContent(join(work, 'target', c.hostId), c.dev), 'the target holds the disk\'s bytes');
});

/** The loop device's backing file, or null once it is detached. */
function backingOf(dev: string): string | null {
  try {
    return execFileSync('losetup', ['-n', '-O', 'BACK-FILE', dev], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

test('source host "reboot" mid-sync (sshd, sessions and agent killed, disk detached and attached again): reconnected within the job, host key still pinned, resumed', { skip }, async (t) => {
  const rh = r!;
  const d = await agentHost(rh, 'reboot', 26);
  const image = backingOf(d.dev)!;
  const pinned = (await rh.api('GET', `/sources/${d.sourceId}`)).body.source;
  const started = rh.output().split('agent started').length;
  const detail = await expectReconnected(rh, d.hostId, d.dev, async () => {
    const downAt = Date.now();
    await sshd!.down();
    await waitFor('loop device detached', async () => {
      detachLoop(d.dev);
      return backingOf(d.dev) === null;
    }, 30_000);
    await waitFor('loop device attached again', async () => {
      execFileSync('losetup', [d.dev, image], { stdio: 'ignore' });
      return backingOf(d.dev) !== null;
    }, 30_000);
    // Down long enough that the first reconnect finds nobody listening.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 6000 - (Date.now() - downAt))));
    await sshd!.up();
  });
  t.diagnostic(detail);
  assert.match(detail, /ECONNREFUSED/, 'a reconnect met the host while it was down');
  assert.ok(rh.output().split('agent started').length > started, 'the agent was pushed again');
  const after = (await rh.api('GET', `/sources/${d.sourceId}`)).body.source;
  assert.equal(pinned.pinned_identity, sshd!.hostKey);
  assert.deepEqual([after.status, after.pinned_identity], [pinned.status, sshd!.hostKey], "the host key stays pinned");
});

test('target out of space: the sync fails with a clear reason; with room made, the retry resumes and ends equal', { skip }, async (t) => {
  const rh = r!;
  const mount = join(work, 'small');
  mkdirSync(mount);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs', mount]);
    tmpfs = mount;
  } catch {
    t.skip('tmpfs cannot be mounted here');
    return;
  }
  const target = await addLocalTarget(rh, join(mount, 'target'));
  const dev = disk('c.raw', 32, 23);
  const c = await addAgentSource(rh, 'no-space', { address: '127.0.0.1', port: sshd!.port, username: 'root', private_key: sshd!.privateKey, disks: [dev] });
  assert.equal((await settledSource(rh, c.id)).source.status, 'connected');
  const hostC = await registerAndAssign(rh, c.id, target);
  await startSync(rh, hostC, 'full');
  const failed = await syncEnded(rh, hostC);
  assert.equal(failed.h_host_status, 'sync_failed');
  assert.equal(failed.is_sync, true);
  assert.match(String(failed.description), /space|ENOSPC/i, String(failed.description));
  assert.doesNotMatch((await syncStep(rh, hostC, 'Copy disk 0')).step.detail, /reconnect/, 'a full target is not a link to reconnect');

  // Room made on the target: the retry resumes where the full disk stopped it.
  execFileSync('mount', ['-o', 'remount,size=96m', mount]);
  await startSync(rh, hostC, 'full');
  const done = await syncEnded(rh, hostC);
  assert.equal(done.h_host_status, 'sync_snapshot_done', JSON.stringify(done));
  const { step } = await syncStep(rh, hostC, 'Copy disk 0');
  t.diagnostic(step.detail);
  assert.match(step.detail, /resumed from [1-9]/, step.detail);
  assert.ok(sameContent(join(mount, 'target', hostC), dev), 'the target holds the disk\'s bytes');
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
