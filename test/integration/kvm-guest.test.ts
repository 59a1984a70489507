/**
 * Boot options applied to a guest without cloud-init on the KVM target: the Debian 12 fixture
 * (boots only on IDE, NIC configured as ens192 with a static address) synced to a KVM host on
 * 127.0.0.1 over a real sshd, then cut over with `fixed_ip`, `admin_pass` and `public_key`. The
 * agent's fix-up on the KVM host writes them into the cutover copy there: root's shadow entry,
 * root's authorized_keys, the address in ens192's networkd file, and ens192 pinned to the new NIC's
 * MAC. The test reads those files out of the copy on the KVM host (debugfs at the partition's
 * offset) and the guest's console shows the fixed address on ens192. Needs root, QEMU,
 * openssh-server and the Debian fixture (REHOST_DEBIAN_IMAGE_DIR for a prebuilt one).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cancelFixup, runFixup } from '../../src-main/agent/fixup-op.js';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { addTarget, assignTarget, bootAndWait, killProcessesWith, registerImageHost, syncAndWait } from '../host-flow.js';
import { buildDebianLegacyImage, debianFixtureUnavailable } from '../fixtures/images/debian-legacy.js';
import { SSHD, startSshd, type Sshd } from '../peers/sshd.js';

const skip = debianFixtureUnavailable() ?? (existsSync(SSHD) ? null : 'openssh-server is not installed');
const work = tempDir('kvm-guest');
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@laptop';
let r: Rehost | undefined;
let sshd: Sshd | undefined;
after(async () => {
  await r?.stop();
  await sshd?.stop();
  killProcessesWith('rehost-', work);
  removeDir(work);
});

/** Mounts and loop devices a fix-up could have left behind. */
function leftovers(): string[] {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes('rehost-fixup-'));
  const loops = execFileSync('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(work));
  return [...mounts, ...loops];
}

/** A file of the guest's root file system (partition 1) in a raw disk image, read without mounting. */
function guestFile(disk: string, path: string): string {
  const start = JSON.parse(execFileSync('sfdisk', ['-J', disk], { encoding: 'utf8' })).partitiontable.partitions[0].start as number;
  return execFileSync('debugfs', ['-c', '-R', `cat ${path}`, `${disk}?offset=${start * 512}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

test('KVM target: fixed_ip, admin_pass and a key written into a guest without cloud-init by the fix-up on the KVM host', { skip: skip ?? false, timeout: 1_800_000 }, async () => {
  const t0 = Date.now();
  const images = join(work, 'images');
  const remote = join(work, 'kvm-host');
  mkdirSync(images);
  execFileSync('cp', ['--sparse=always', buildDebianLegacyImage().path, join(images, 'legacy-kvm.raw')]);
  sshd = await startSshd(join(work, 'sshd'));
  r = await startRehost();
  await r.login();
  const id = await registerImageHost(r, images, 'legacy-kvm');
  const kvm = { cloud_type: 'KVM', address: '127.0.0.1', port: sshd.port, username: 'root', private_key: sshd.privateKey, host_key: sshd.hostKey, path: remote };
  await assignTarget(r, id, await addTarget(r, kvm));
  await syncAndWait(r, id, 'full', { timeoutMs: 400_000 });
  assert.equal((await r.api('POST', '/hosts', { ids: [id], next_step: { step: '4' } })).status, 200);
  const snapshot = (await r.api('GET', `/hosts/${id}?sheet=snapshot&page_size=5`)).body.data[0].id;
  console.log(`# setup and full sync: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // QEMU's user-mode NAT is 10.0.2.0/24: the fixed address sits in it, so the gateway stays 10.0.2.2.
  const options = { backup_type: 'volume_backup', snapshot_id: snapshot, flavor_id: 'kvm.small', boot_timeout_seconds: 1200, fixed_ip: '10.0.2.50', admin_pass: 'Kvm-fixup-9', public_key: KEY };
  const { host, job } = await bootAndWait(r, id, options, 1_500_000);
  assert.equal(host.h_boot_status, 'boot_done', JSON.stringify(job));
  const detail: string = job.steps.find((s: any) => /MIGRATION-BOOT-OK/.test(s.detail ?? ''))?.detail ?? JSON.stringify(job.steps);
  console.log(`# cutover: ${detail.replace(/\n/g, ' ').slice(0, 700)}`);
  assert.match(detail, /OS fix-up \(chroot\) of Debian GNU\/Linux 12 \(bookworm\): Virtio drivers in initramfs: done, .*Network interface names: done, VMware tools removed: done, Boot options without cloud-init: done/);
  assert.match(detail, /MIGRATION-BOOT-OK host=migsrc-legacy .*root=\/dev\/vda1 net=ens192:10\.0\.2\.50\/24/, 'the console shows the fixed address on the kept interface name');
  assert.match(detail, /cloud-init NoCloud seed attached \(fixed_ip 10\.0\.2\.50\/24, admin_pass, 1 public key\(s\)/);
  assert.ok(!JSON.stringify(job).includes('Kvm-fixup-9'), 'the password is in no job');
  const mac = /MAC (52:54:00:[0-9a-f:]+)/.exec(detail)?.[1];
  assert.ok(mac, 'the job names the NIC\'s MAC');

  // What the fix-up wrote into the cutover copy on the KVM host.
  const kept = readdirSync(join(remote, 'migrated'));
  assert.equal(kept.length, 1);
  const copy = join(remote, 'migrated', kept[0]!, 'disk-0.raw');
  const rootEntry = guestFile(copy, '/etc/shadow').split('\n').find((l) => l.startsWith('root:')) ?? '';
  assert.match(rootEntry, /^root:\$6\$[^:]+:\d+:/, 'root has a SHA-512 password hash');
  assert.ok(!rootEntry.includes('Kvm-fixup-9'));
  assert.ok(guestFile(copy, '/root/.ssh/authorized_keys').includes(KEY), 'the key is authorized for root');
  assert.match(guestFile(copy, '/etc/systemd/network/10-ens192.network'), /^Address=10\.0\.2\.50\/24$/m);
  assert.match(guestFile(copy, '/etc/udev/rules.d/70-rehost-net-names.rules'), new RegExp(`ATTR\\{address\\}=="${mac}".*NAME="ens192"`), 'ens192 is pinned to the new NIC\'s MAC');

  assert.equal((await r.api('POST', '/hosts', { ids: [id], clean: { force: false } })).status, 200);
  await waitFor('cleaned', async () => (await r!.api('GET', '/hosts')).body.total === 0, 120_000);
  assert.deepEqual(readdirSync(remote), ['migrated'], 'only the cutover copy is left on the KVM host');
  console.log(`# total: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

test('the agent\'s fix-up cancelled while it runs (an aborted boot) answers with the reason and leaves no mount or loop device', { skip: skip ?? false, timeout: 600_000 }, async () => {
  const disk = join(work, 'cancel.raw');
  execFileSync('cp', ['--sparse=always', buildDebianLegacyImage().path, disk]);
  const t0 = Date.now();
  const running = runFixup({ id: 'cancel-1', path: disk, format: 'raw', nicMacs: ['52:54:00:00:00:01'] });
  running.catch(() => undefined);
  // Cancelled once it has the guest mounted: the initramfs rebuild, its longest step, is then under way.
  await waitFor('guest mounted', async () => leftovers().length > 0, 120_000, 100);
  assert.deepEqual(cancelFixup({ id: 'cancel-1' }), { cancelled: true });
  await assert.rejects(running, /cancelled by the engine|aborted/);
  assert.deepEqual(leftovers(), [], 'every mount and loop device was released');
  assert.deepEqual(cancelFixup({ id: 'cancel-1' }), { cancelled: false }, 'it is no longer running');
  console.log(`# cancelled fix-up answered after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
