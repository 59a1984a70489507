/**
 * The KVM target over a real sshd on 127.0.0.1 (test/peers/sshd.ts): the busybox image synced over
 * SFTP, snapshots made on the "KVM host", a test boot from the first snapshot shows the first
 * data, a cutover after a change shows the newest, and cleanup removes the host's folder while the
 * migrated server keeps running from its copy. Needs root (sshd, image build) and QEMU. With libvirt
 * on the host, kvm-libvirt.test.ts covers the same flow through virsh.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { addTarget, assignTarget, bootAndWait, hostRow, killProcessesWith, processesWith, registerImageHost, snapshotsOldestFirst, syncAndWait } from '../host-flow.js';
import { bootFixtureUnavailable, buildBusyboxImage, writeDataRegion } from '../fixtures/images/busybox.js';
import { SSHD, startSshd, type Sshd } from '../peers/sshd.js';

const skip = bootFixtureUnavailable() ?? (existsSync(SSHD) ? null : 'openssh-server is not installed');
const work = tempDir('kvm');
let r: Rehost | undefined;
let sshd: Sshd | undefined;
after(async () => {
  await r?.stop();
  await sshd?.stop();
  killProcessesWith('rehost-', work);
  removeDir(work);
});

const host = (id: string) => hostRow(r!, id);
const sync = (id: string, mode: 'full' | 'incremental') => syncAndWait(r!, id, mode);
const boot = async (id: string, body: Record<string, unknown>) => (await bootAndWait(r!, id, { flavor_id: 'kvm.small', boot_timeout_seconds: 180, ...body })).job;

test('KVM target over SSH: sync, test boot from a snapshot, cutover, cleanup', { skip: skip ?? false, timeout: 600_000 }, async () => {
  const image = buildBusyboxImage(128);
  sshd = await startSshd(join(work, 'sshd'));
  const images = join(work, 'images');
  const remote = join(work, 'kvm-host');
  mkdirSync(images);
  const disk = join(images, 'kvm-01.raw');
  execFileSync('cp', ['--sparse=always', image, disk]);
  const gen1 = writeDataRegion(disk);
  r = await startRehost();
  await r.login();
  const id = await registerImageHost(r, images);
  const tgt = await addTarget(r, { cloud_type: 'KVM', address: '127.0.0.1', port: sshd.port, username: 'root', private_key: sshd.privateKey, host_key: sshd.hostKey, path: remote });
  assert.equal((await r.api('GET', `/targets/${tgt}/resources?kind=flavors`)).body.data[0].id, 'kvm.tiny');
  await assignTarget(r, id, tgt);
  await sync(id, 'full');
  const volume = join(remote, id, 'disk-0.raw');
  assert.equal(execFileSync('cmp', [disk, volume]).toString(), '', 'the volume equals the source after the full sync');
  // Verification hashed the volume on the KVM host (an agent in the sink role), then let it go.
  assert.match(r.output(), /agent started/);
  assert.deepEqual(processesWith('rehost-agent-', 'agent.cjs'), [], 'no agent left running after the sync');
  writeDataRegion(disk);
  await sync(id, 'incremental');
  assert.equal((await r.api('POST', '/hosts', { ids: [id], next_step: { step: '4' } })).status, 200);
  const snaps = await snapshotsOldestFirst(r, id);
  assert.equal(snaps.length, 2);

  const test1 = await boot(id, { backup_type: 'volume_snapshot', snapshot_id: snaps[0].id });
  assert.equal(test1.job_status, 'done', JSON.stringify(test1));
  assert.match(test1.steps[0].detail, new RegExp(`data=${gen1}`), 'the old snapshot boots the old data');
  assert.match(test1.steps[0].detail, /^OS fix-up skipped: no Linux root found/, 'the agent ran the fix-up on the KVM host; busybox has no Linux root to fix');
  // Without a libvirt daemon on the host, the machine runs as a plain QEMU process.
  if (spawnSync('virsh', ['-c', 'qemu:///system', 'version'], { stdio: 'ignore' }).status !== 0) assert.match(test1.steps[0].detail, /via plain QEMU/);
  assert.match((await r.api('GET', `/hosts/${id}/console`)).body, new RegExp(`data=${gen1}`));

  const gen3 = writeDataRegion(disk);
  const cut = await boot(id, { backup_type: 'volume_backup', snapshot_id: snaps[1].id });
  assert.equal(cut.job_status, 'done', JSON.stringify(cut));
  assert.match(cut.steps[1].detail, new RegExp(`data=${gen3}`), 'the cutover boots the newest data');
  const instance = (await host(id)).cloud_instance_id;

  assert.equal((await r.api('POST', '/hosts', { ids: [id], clean: { force: false } })).status, 200);
  await waitFor('cleaned', async () => (await r!.api('GET', '/hosts')).body.total === 0, 60_000);
  assert.deepEqual(readdirSync(remote).sort(), ['migrated'], 'only the cutover copy is left on the KVM host');
  assert.equal(processesWith(`rehost-${instance}`).length, 1, 'the migrated server keeps running: cleanup never stops it');
});
