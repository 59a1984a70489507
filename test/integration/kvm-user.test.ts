/**
 * The KVM target logged in as an ordinary user (a real account on this machine, password login
 * over a real sshd on 127.0.0.1; plain QEMU, no libvirt for that user): bad input and a broken
 * host, each answered with a clear 4xx or a failed job naming the reason, and retried once fixed:
 *  - a target folder that is not writable (the sync fails naming config.path; chmod, sync again);
 *  - a flavor too small for the disk (400 naming boot.flavor_id);
 *  - QEMU missing for that user (its login shell's PATH lacks qemu-system-x86_64: the boot job
 *    fails naming it; the binary appears on the PATH, the boot is retried);
 *  - the host's folder not writable at boot (the job names config.path; chmod, boot again).
 * The agent's runtime, uploaded by this target into the user's ~/.cache, stays while the target
 * exists and is gone once the target is deleted: the user's home, /tmp, /var/tmp and the target
 * folder are as they were before. Needs root (useradd, sshd), QEMU and the shipped agent runtime.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { addTarget, assignTarget, bootAndWait, killProcessesWith, processesWith, registerImageHost, snapshotsOldestFirst, syncAndWait } from '../host-flow.js';
import { bootFixtureUnavailable, buildBusyboxImage, writeDataRegion } from '../fixtures/images/busybox.js';
import { createTestUser, listing, SSHD, startSshd, userFiles, type Sshd, type TestUser } from '../peers/sshd.js';

const RUNTIME = 'resources/agent/runtime/node-linux-x64/bin/node';
const skip = bootFixtureUnavailable() ?? (['/usr/sbin/useradd', SSHD].every((p) => existsSync(p)) ? null : 'needs openssh-server and useradd')
  ?? (process.arch === 'x64' && existsSync(RUNTIME) ? null : 'needs the shipped x64 agent runtime (scripts/fetch-agent-runtimes.mjs)');
const work = tempDir('kvm-user');
let r: Rehost | undefined;
let sshd: Sshd | undefined;
let u: TestUser | undefined;
after(async () => {
  await r?.stop();
  await sshd?.stop();
  killProcessesWith('rehost-', work);
  u?.remove();
  removeDir(work);
});

/** A PATH folder with every command of this machine but QEMU's emulators (symlinks). */
function pathWithoutQemu(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const from of ['/usr/local/bin', '/usr/bin', '/usr/sbin']) {
    for (const n of readdirSync(from)) {
      if (n.startsWith('qemu-system-') || existsSync(join(dir, n))) continue;
      symlinkSync(join(from, n), join(dir, n));
    }
  }
}

async function bootEnded(id: string, boot: Record<string, unknown>): Promise<{ host: any; job: any }> {
  return bootAndWait(r!, id, { backup_type: 'volume_snapshot', flavor_id: 'kvm.small', boot_timeout_seconds: 240, ...boot });
}

test('KVM target as a plain user: unwritable folder, flavor too small, QEMU missing, each retried once fixed; the runtime cache goes with the target', { skip: skip ?? false, timeout: 900_000 }, async () => {
  chmodSync(work, 0o755);
  const bin = join(work, 'bin');
  pathWithoutQemu(bin);
  const shell = join(work, 'shell');
  writeFileSync(shell, `#!/bin/sh\nPATH=${bin}\nexport PATH\nexec /bin/sh "$@"\n`, { mode: 0o755 });
  u = createTestUser('none', shell);
  const remote = join(work, 'kvm-host');
  mkdirSync(remote);
  chownSync(remote, u.uid, u.uid);
  const images = join(work, 'images');
  mkdirSync(images);
  const disk = join(images, 'big-01.raw');
  execFileSync('cp', ['--sparse=always', buildBusyboxImage(1100), disk]);
  const gen1 = writeDataRegion(disk);
  sshd = await startSshd(join(work, 'sshd'));
  const before = { user: userFiles(u), remote: listing(remote) };
  r = await startRehost();
  await r.login();
  const id = await registerImageHost(r, images);
  const tgt = await addTarget(r, { cloud_type: 'KVM', address: '127.0.0.1', port: sshd.port, username: u.name, password: u.password, host_key: sshd.hostKey, path: remote });
  await assignTarget(r, id, tgt);

  // The target folder is not writable: the sync fails naming it, and syncs once it is.
  chmodSync(remote, 0o555);
  const denied = await syncAndWait(r, id, 'full', { allowFailure: true });
  assert.equal(denied.h_host_status, 'sync_failed');
  const deniedJob = (await r.api('GET', `/jobs?id=${id}&job_type=Sync&page_size=1`)).body.data[0];
  assert.match(JSON.stringify(deniedJob), /config\.path: cannot create the host's volumes in the target folder .*kvm-host on the KVM host: it is not writable \(Permission denied\)/);
  chmodSync(remote, 0o755);
  assert.equal((await syncAndWait(r, id, 'full')).h_host_status, 'sync_snapshot_done', 'the sync is retried');
  assert.ok(existsSync(join(remote, '.rehost-runtime-cache')), 'this target noted that it uploaded the agent runtime');
  assert.ok(readdirSync(join(u.home, '.cache', 'rehost', 'runtime')).length > 0, 'the runtime is cached in the user\'s home');
  assert.equal((await r.api('POST', '/hosts', { ids: [id], next_step: { step: '4' } })).status, 200);
  const [snap] = await snapshotsOldestFirst(r, id);

  const tiny = await r.api('POST', `/hosts/${id}/action`, { boot: { backup_type: 'volume_snapshot', snapshot_id: snap.id, flavor_id: 'kvm.tiny' } });
  assert.equal(tiny.status, 400, JSON.stringify(tiny.body));
  assert.equal(tiny.body.field, 'boot.flavor_id');
  assert.match(tiny.body.message, /flavor kvm\.tiny \(1 GiB\) is too small for the host's 1\.07 GiB of disks/);

  // QEMU is not on the user's PATH: a failed job that names it, nothing left behind.
  const noQemu = await bootEnded(id, { snapshot_id: snap.id });
  assert.equal(noQemu.host.h_boot_status, 'boot_failed');
  assert.match(noQemu.job.failure_reason, new RegExp(`QEMU is missing on the KVM host ${u.name}@127\\.0\\.0\\.1:\\d+: qemu-system-x86_64 not found on the PATH of ${u.name}`));
  assert.ok(!existsSync(join(remote, id, 'boot')) || readdirSync(join(remote, id, 'boot')).length === 0);
  symlinkSync('/usr/bin/qemu-system-x86_64', join(bin, 'qemu-system-x86_64'));

  // The host's folder is not writable: the job names the target folder.
  chmodSync(join(remote, id), 0o555);
  const readOnly = await bootEnded(id, { snapshot_id: snap.id });
  chmodSync(join(remote, id), 0o755);
  assert.equal(readOnly.host.h_boot_status, 'boot_failed');
  assert.match(readOnly.job.failure_reason, /config\.path: cannot create the machine's disks in the target folder .* on the KVM host: it is not writable/);

  const ok = await bootEnded(id, { snapshot_id: snap.id });
  assert.equal(ok.host.h_boot_status, 'boot_done', JSON.stringify(ok.job));
  assert.match(ok.job.steps.at(-1).detail, new RegExp(`via plain QEMU .*data=${gen1}`));
  assert.match(ok.job.steps.at(-1).detail, /^OS fix-up skipped: it needs root/, 'a login user without sudo cannot mount the disk; said so');
  const instance = ok.host.cloud_instance_id as string;

  assert.equal((await r.api('POST', '/hosts', { ids: [id], clean: { force: false } })).status, 200);
  await waitFor('cleaned', async () => (await r!.api('GET', '/hosts')).body.total === 0, 60_000);
  assert.deepEqual(processesWith(`rehost-${instance}`), [], 'cleanup stopped the machine');
  assert.deepEqual(listing(remote), ['.rehost-runtime-cache 0'.replace(' 0', ` ${statSync(join(remote, '.rehost-runtime-cache')).size}`)], 'the host\'s folder is gone; the note stays with the target');
  assert.ok(existsSync(join(u.home, '.cache', 'rehost', 'runtime')), 'the runtime cache stays while the target exists');

  const del = await r.api('DELETE', `/targets/${tgt}`);
  assert.equal(del.status, 200, JSON.stringify(del.body));
  assert.deepEqual(listing(remote), before.remote, 'the target folder is as it was');
  assert.deepEqual(userFiles(u), before.user, 'the user\'s home, /tmp and /var/tmp are as they were: no runtime cache left');
});
