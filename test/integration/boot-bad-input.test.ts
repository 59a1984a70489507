/**
 * Boot bad input on the Local target that boot.test.ts does not cover, through the API: a
 * snapshot whose creation failed, stop_source_services where it cannot apply, cloud-init options
 * that are not valid, an unknown key pair, and a target folder that stopped being writable (a
 * failed job naming the folder, then a successful retry). The retry boots the busybox image under
 * QEMU with a fixed IP, a password and a key: QEMU gets the cloud-init NoCloud seed drive (the
 * busybox guest has no cloud-init, so applying it is not checked here) and the guest agent
 * channel. Cleanup leaves the target folder as it was before the host synced.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { addTarget, assignTarget, hostRow, killProcessesWith, registerImageHost, syncAndWait } from '../host-flow.js';
import { bootFixtureUnavailable, buildBusyboxImage, writeDataRegion } from '../fixtures/images/busybox.js';

const fixture = bootFixtureUnavailable();
const chattr = (() => {
  try {
    execFileSync('chattr', ['--help'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
})();
const skip = fixture ?? (chattr ? false : 'needs chattr (e2fsprogs) to make a folder unwritable for root');
const work = tempDir('boot-bad');
let r: Rehost | undefined;
const immutable: string[] = [];
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@laptop';

after(async () => {
  for (const dir of immutable) execFileSync('chattr', ['-i', dir], { stdio: 'ignore' });
  await r?.stop();
  killProcessesWith('rehost-', work);
  removeDir(work);
});

function setImmutable(dir: string, on: boolean): void {
  execFileSync('chattr', [on ? '+i' : '-i', dir]);
  if (on) immutable.push(dir);
  else immutable.splice(immutable.indexOf(dir), 1);
}

const host = (id: string) => hostRow(r!, id);
const sync = (id: string, mode: 'full' | 'incremental', doSnapshot: boolean) => syncAndWait(r!, id, mode, { doSnapshot, allowFailure: true });

async function boot(id: string, fields: Record<string, unknown>): Promise<{ status: number; body: any }> {
  return r!.api('POST', `/hosts/${id}/action`, { boot: { backup_type: 'volume_snapshot', flavor_id: 'local.small', boot_timeout_seconds: 180, ...fields } });
}

async function bootEnded(id: string): Promise<{ host: any; job: any }> {
  const h = await waitFor('boot end', async () => {
    const current = await host(id);
    return current.h_boot_status === 'boot_done' || current.h_boot_status === 'boot_failed' ? current : null;
  }, 300_000, 250);
  const job = (await r!.api('GET', `/jobs?id=${id}&job_type=Boot&page_size=1`)).body.data[0];
  return { host: h, job };
}

test('boot bad input on the Local target: failed snapshot, options that cannot apply, unwritable folder, then a booted retry with a cloud-init seed', { skip, timeout: 600_000 }, async () => {
  const image = buildBusyboxImage(1100);
  const images = join(work, 'images');
  const targetDir = join(work, 'target');
  mkdirSync(images);
  mkdirSync(join(targetDir, 'keypairs'), { recursive: true });
  writeFileSync(join(targetDir, 'keypairs', 'ops.pub'), `${KEY}\n`);
  const disk = join(images, 'tiny-01.raw');
  execFileSync('cp', ['--sparse=always', image, disk]);
  const gen1 = writeDataRegion(disk);
  r = await startRehost();
  await r.login();
  const id = await registerImageHost(r, images);
  const tgt = await addTarget(r, { cloud_type: 'Local', path: targetDir });
  const folderBefore = readdirSync(targetDir).sort();
  const pairs = await r.api('GET', `/targets/${tgt}/resources?kind=keypairs`);
  assert.equal(pairs.status, 200, JSON.stringify(pairs.body));
  assert.deepEqual(JSON.stringify(pairs.body).includes('"ops"'), true, 'the key pair folder is listed');
  await assignTarget(r, id, tgt);
  assert.equal((await sync(id, 'full', true)).h_host_status, 'sync_snapshot_done');
  const good = (await r.api('GET', `/hosts/${id}?sheet=snapshot`)).body.data[0];
  assert.equal(good.status, 'create_done');
  assert.deepEqual([good.is_available, good.display_is_available, good.reason], [true, 'true', null]);

  // A snapshot that could not be made: create_failed with the reason, the host retryable, and never bootable.
  const snapshots = join(targetDir, id, 'snapshots');
  setImmutable(snapshots, true);
  const failed = await sync(id, 'incremental', true);
  setImmutable(snapshots, false);
  assert.equal(failed.h_host_status, 'sync_failed');
  const sheet = (await r.api('GET', `/hosts/${id}?sheet=snapshot`)).body.data;
  const bad = sheet.find((s: any) => s.status === 'create_failed');
  assert.ok(bad, JSON.stringify(sheet));
  assert.deepEqual([bad.is_available, bad.display_is_available], [false, 'false']);
  assert.match(bad.reason, new RegExp(`^EPERM: operation not permitted, mkdir '${snapshots}/${bad.snapshot_name}'$`), 'the reason is the file system\'s refusal, naming the folder');
  assert.match(bad.snapshot_name, /^HyperMotion-\d{8}T\d{6}$/);
  assert.equal(readFileSync(join(targetDir, id, 'disk-0.qcow2')).length > 0, true, 'the volume is still there after the failed snapshot');
  assert.equal((await sync(id, 'incremental', false)).h_host_status, 'sync_snapshot_done', 'retried');
  assert.equal((await r.api('POST', '/hosts', { ids: [id], next_step: { step: '4' } })).status, 200);
  const notDone = await boot(id, { snapshot_id: bad.id });
  assert.equal(notDone.status, 409, JSON.stringify(notDone.body));
  assert.equal(notDone.body.field, 'boot.snapshot_id');
  assert.match(notDone.body.message, /create_failed; only a create_done snapshot can boot/);

  // Options that cannot apply: answered at once, naming the field; the host stays bootable.
  const cases: [Record<string, unknown>, number, string][] = [
    [{ stop_source_services: ['nginx'] }, 400, 'boot.stop_source_services'],
    [{ backup_type: 'volume_backup', stop_source_services: ['nginx'] }, 422, 'boot.stop_source_services'],
    [{ stop_source_services: ['-bad unit'] }, 400, 'boot.stop_source_services.0'],
    [{ fixed_ip: 'fe80::1' }, 400, 'boot.fixed_ip'],
    [{ public_key: 'ssh-rsa nope' }, 400, 'boot.public_key'],
    [{ keypair_id: 'nobody' }, 404, 'boot.keypair_id'],
  ];
  for (const [fields, status, field] of cases) {
    const res = await boot(id, { snapshot_id: good.id, ...fields });
    assert.equal(res.status, status, `${JSON.stringify(fields)} → ${JSON.stringify(res.body)}`);
    assert.ok(String(res.body.field).startsWith(field.replace(/\.0$/, '')), `${JSON.stringify(fields)} names ${field}: ${JSON.stringify(res.body)}`);
  }
  assert.equal((await host(id)).h_boot_status, 'not_boot');

  // The target folder stopped being writable: a failed job that names it; the host can retry.
  const hostDir = join(targetDir, id);
  setImmutable(hostDir, true);
  assert.equal((await boot(id, { snapshot_id: good.id })).status, 200);
  const denied = await bootEnded(id);
  setImmutable(hostDir, false);
  assert.equal(denied.host.h_boot_status, 'boot_failed');
  assert.equal(denied.job.job_status, 'failed');
  assert.match(JSON.stringify(denied.job), /config\.path: cannot create the machine's disks in the target folder .*: it is not writable/);

  // The retry boots, with a cloud-init NoCloud seed and the guest agent channel on the QEMU command line.
  assert.equal((await boot(id, { snapshot_id: good.id, fixed_ip: '192.168.77.20', admin_pass: 'Secr3t-pass', keypair_id: 'ops' })).status, 200);
  const ok = await bootEnded(id);
  assert.equal(ok.host.h_boot_status, 'boot_done', JSON.stringify(ok.job));
  assert.match(ok.job.steps.at(-1).detail, new RegExp(`data=${gen1}`));
  assert.match(ok.job.steps.at(-1).detail, /cloud-init NoCloud seed attached \(fixed_ip 192\.168\.77\.20, admin_pass, 1 public key\(s\)\)/);
  assert.ok(!JSON.stringify(ok.job).includes('Secr3t-pass'), 'the password is in no job');
  const instance = ok.host.cloud_instance_id as string;
  const pid = readdirSync('/proc').find((p) => /^\d+$/.test(p) && (() => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`rehost-${instance}`);
    } catch {
      return false;
    }
  })());
  assert.ok(pid, 'the machine runs');
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const seed = join(hostDir, 'boot', instance, 'cidata.img');
  assert.ok(args.includes(`file=${seed},format=raw,if=virtio,readonly=on`), args.join(' '));
  assert.ok(args.some((a) => a.startsWith('user,model=virtio-net-pci,mac=52:54:00:') && a.endsWith(',net=192.168.77.0/24,host=192.168.77.2,dns=192.168.77.3')), args.join(' '));
  assert.ok(args.includes('virtserialport,bus=rehost-vser0.0,chardev=rehost-qga0,name=org.qemu.guest_agent.0'));
  const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
  const userData = execFileSync('mtype', ['-i', seed, '::user-data'], { encoding: 'utf8', env });
  assert.match(userData, /root:\$6\$/);
  assert.ok(userData.includes(KEY) && !userData.includes('Secr3t-pass'));
  assert.match(execFileSync('mtype', ['-i', seed, '::network-config'], { encoding: 'utf8', env }), /addresses: \["192\.168\.77\.20\/24"\]/);

  // Cleanup: every VM, layer, overlay and seed of the host is gone; the folder is as before the sync.
  assert.equal((await r.api('POST', '/hosts', { ids: [id], clean: { force: false } })).status, 200);
  await waitFor('cleaned', async () => (await r!.api('GET', '/hosts')).body.total === 0, 60_000);
  assert.deepEqual(readdirSync(targetDir).sort(), folderBefore);
  assert.ok(!existsSync(hostDir));
  assert.ok(!existsSync(`/tmp/rehost-qga-${instance}.sock`), 'the guest agent socket is removed');
});
