/**
 * The KVM target over a real sshd on 127.0.0.1 (test/peers/sshd.ts): the busybox image synced over
 * SFTP, snapshots made on the "KVM host", a test boot from the first snapshot shows the first
 * data, a cutover after a change shows the newest, and cleanup stops the machine and removes the
 * host's folder while the cutover copy stays. Needs root (sshd, image build) and QEMU. With libvirt
 * on the host, kvm-libvirt.test.ts covers the same flow through virsh.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { bootFixtureUnavailable, buildBusyboxImage, writeDataRegion } from '../fixtures/images/busybox.js';
import { SSHD, startSshd, type Sshd } from '../peers/sshd.js';

const skip = bootFixtureUnavailable() ?? (existsSync(SSHD) ? null : 'openssh-server is not installed');
const work = tempDir('kvm');
let r: Rehost | undefined;
let sshd: Sshd | undefined;
after(async () => {
  await r?.stop();
  await sshd?.stop();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes('rehost-') && cmd.includes(work)) process.kill(Number(pid), 'SIGKILL');
  }
  removeDir(work);
});

async function host(id: string): Promise<any> {
  return (await r!.api('GET', `/hosts?ids=${id}`)).body.data[0];
}

async function sync(id: string, mode: 'full' | 'incremental'): Promise<void> {
  const before = (await r!.api('GET', `/jobs?id=${id}&job_type=Sync`)).body.total;
  assert.equal((await r!.api('POST', '/hosts', { ids: [id], sync: { do_snapshot: true, sync_mode: mode } })).status, 200);
  await waitFor(`${mode} sync`, async () => {
    const h = await host(id);
    if (h.h_host_status === 'sync_failed') throw new Error(h.detail);
    const jobs = (await r!.api('GET', `/jobs?id=${id}&job_type=Sync&page_size=1`)).body;
    return jobs.total > before && jobs.data[0].job_status === 'done' && h.h_host_status === 'sync_snapshot_done';
  }, 120_000);
}

async function boot(id: string, body: Record<string, unknown>): Promise<any> {
  const before = (await r!.api('GET', `/jobs?id=${id}&job_type=Boot`)).body.total;
  const res = await r!.api('POST', `/hosts/${id}/action`, { boot: { flavor_id: 'kvm.small', boot_timeout_seconds: 120, ...body } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  // The host shows boot_done a moment before its job records the result: wait for both.
  await waitFor('boot', async () => {
    const jobs = (await r!.api('GET', `/jobs?id=${id}&job_type=Boot&page_size=1`)).body;
    return jobs.total > before && ['done', 'failed'].includes(jobs.data[0].job_status) && ['boot_done', 'boot_failed'].includes((await host(id)).h_boot_status);
  }, 300_000, 250);
  return (await r!.api('GET', `/jobs?id=${id}&job_type=Boot&page_size=1`)).body.data[0];
}

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
  const src = (await r.api('POST', '/sources', { type: 'Image', name: 'imgs', config: { path: images } })).body.data.id;
  await waitFor('source', async () => (await r!.api('GET', `/sources/${src}`)).body.source.status === 'connected');
  const id = (await r.api('GET', `/sources/${src}/hosts`)).body.data[0].id;
  await r.api('POST', '/hosts/register', { ids: [id] });
  const config = { cloud_type: 'KVM', address: '127.0.0.1', port: sshd.port, username: 'root', private_key: sshd.privateKey, host_key: sshd.hostKey, path: remote };
  const created = await r.api('POST', '/targets', { type: 'HyperGate', config, metadata: { driver_name: 'KVM' } });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const tgt = created.body.data.uuid;
  await waitFor('target active', async () => {
    const t = (await r!.api('GET', '/targets')).body.targets.data.find((x: any) => x.uuid === tgt);
    if (t?.target_status === 'create_failed') throw new Error(JSON.stringify(t));
    return t?.target_status === 'active';
  });
  assert.equal((await r.api('GET', `/targets/${tgt}/resources?kind=flavors`)).body.data[0].id, 'kvm.tiny');
  assert.equal((await r.api('PUT', '/hosts/target_platform', { ids: [id], storage_id: tgt, pool_id: tgt, step: '2' })).status, 200);
  await sync(id, 'full');
  const volume = join(remote, id, 'disk-0.raw');
  assert.equal(execFileSync('cmp', [disk, volume]).toString(), '', 'the volume equals the source after the full sync');
  writeDataRegion(disk);
  await sync(id, 'incremental');
  assert.equal((await r.api('POST', '/hosts', { ids: [id], next_step: { step: '4' } })).status, 200);
  const snaps = (await r.api('GET', `/hosts/${id}?sheet=snapshot`)).body.data.sort((a: any, b: any) => a.created_at.localeCompare(b.created_at) || a.snapshot_name.localeCompare(b.snapshot_name));
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
  const running = readdirSync('/proc').some((p) => {
    try {
      return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`rehost-${instance}`);
    } catch {
      return false;
    }
  });
  assert.equal(running, false, 'cleanup stopped the machine');
});
