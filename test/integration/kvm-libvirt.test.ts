/**
 * The KVM target with libvirt on the "KVM host": a real libvirtd (test/peers/libvirt.ts, in its own
 * network namespace) and a real sshd on 127.0.0.1. The busybox image is synced by the sink agent on the host (raw base, then
 * qcow2 layers through qemu-nbd), snapshots freeze layers there, a test boot from the first snapshot runs as a
 * transient libvirt domain on the peer's network (Rehost's MAC on the NIC, a read-only cloud-init
 * seed with a fixed IP and a key, the guest agent channel) and shows the first data on its console, a cutover runs as a persistent
 * domain with the newest data, and cleanup removes every domain and file it made to sync and test
 * the host, while the migrated server (the persistent cutover domain, its copy and the console log
 * its XML names) stays and keeps running. Needs root, QEMU, openssh-server and libvirt.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { addTarget, assignTarget, bootAndWait, hostRow, processesWith, registerImageHost, snapshotsOldestFirst, syncAndWait } from '../host-flow.js';
import { bootFixtureUnavailable, buildBusyboxImage, writeDataRegion } from '../fixtures/images/busybox.js';
import { libvirtUnavailable, startLibvirt, type LibvirtPeer } from '../peers/libvirt.js';
import { SSHD, startSshd, type Sshd } from '../peers/sshd.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@laptop';
const skip = bootFixtureUnavailable() ?? (existsSync(SSHD) ? null : 'openssh-server is not installed') ?? libvirtUnavailable();
const work = tempDir('kvm-libvirt');
let r: Rehost | undefined;
let sshd: Sshd | undefined;
let libvirt: LibvirtPeer | undefined;
after(async () => {
  await r?.stop();
  await sshd?.stop();
  await libvirt?.stop();
  removeDir(work);
});

const host = (id: string) => hostRow(r!, id);
const sync = (id: string, mode: 'full' | 'incremental') => syncAndWait(r!, id, mode);
const boot = async (id: string, body: Record<string, unknown>) => (await bootAndWait(r!, id, { flavor_id: 'kvm.small', boot_timeout_seconds: 180, ...body })).job;

test('KVM target with libvirt: snapshots as qcow2 deltas, test boot and cutover as libvirt domains, cleanup', { skip: skip ?? false, timeout: 900_000 }, async () => {
  const image = buildBusyboxImage(128);
  // libvirt runs guests as libvirt-qemu: it must reach the disks under the test folder.
  chmodSync(work, 0o755);
  libvirt = await startLibvirt(join(work, 'libvirt'));
  sshd = await startSshd(join(work, 'sshd'));
  const images = join(work, 'images');
  const remote = join(work, 'kvm-host');
  mkdirSync(images);
  mkdirSync(remote);
  const disk = join(images, 'kvm-lv-01.raw');
  execFileSync('cp', ['--sparse=always', image, disk]);
  const gen1 = writeDataRegion(disk);
  const domainsBefore = libvirt.virsh('list', '--all', '--name');
  r = await startRehost();
  await r.login();
  const id = await registerImageHost(r, images);
  const ssh = { cloud_type: 'KVM', address: '127.0.0.1', port: sshd.port, username: 'root', private_key: sshd.privateKey, host_key: sshd.hostKey, path: remote };
  const bad = await r.api('POST', '/targets', { type: 'HyperGate', config: { ...ssh, libvirt_uri: 'not a uri' }, metadata: { driver_name: 'KVM' } });
  assert.equal(bad.status, 400, JSON.stringify(bad.body));
  assert.match(JSON.stringify(bad.body), /libvirt_uri/);
  const tgt = await addTarget(r, { ...ssh, libvirt_uri: libvirt.uri });

  const networks = (await r.api('GET', `/targets/${tgt}/resources?kind=networks`)).body.data;
  assert.ok(networks.some((n: any) => n.id === libvirt!.network && n.type === 'network' && n.active), JSON.stringify(networks));
  assert.ok(networks.some((n: any) => n.id === 'default' && n.active === false), 'the inactive default network is listed as such');

  await assignTarget(r, id, tgt);
  await sync(id, 'full');
  writeDataRegion(disk);
  await sync(id, 'incremental');
  assert.equal((await r.api('POST', '/hosts', { ids: [id], next_step: { step: '4' } })).status, 200);
  const snaps = await snapshotsOldestFirst(r, id);
  assert.equal(snaps.length, 2);
  // On a file system with reflinks every snapshot is a reflinked raw file instead of a delta.
  const reflinks = spawnSync('cp', ['--reflink=always', disk, join(remote, 'probe')]).status === 0;
  rmSync(join(remote, 'probe'), { force: true });
  const second = join(remote, id, 'snapshots', snaps[1].snapshot_name, `disk-0.${reflinks ? 'raw' : 'qcow2'}`);
  assert.ok(lstatSync(second).isSymbolicLink(), 'a snapshot links to its layer');
  const delta = execFileSync('du', ['-B1', '-L', second], { encoding: 'utf8' });
  if (!reflinks) assert.ok(Number(delta.split('\t')[0]) < 32 * 1024 * 1024, `the delta holds the changed data only, not the 128 MiB disk: ${delta}`);

  const unknown = await r.api('POST', `/hosts/${id}/action`, { boot: { backup_type: 'volume_snapshot', snapshot_id: snaps[0].id, flavor_id: 'kvm.small', network_id: 'x; reboot' } });
  assert.equal(unknown.status, 400, JSON.stringify(unknown.body));

  const wrongNet = await boot(id, { backup_type: 'volume_snapshot', snapshot_id: snaps[0].id, network_id: 'no-such-net' });
  assert.equal(wrongNet.job_status, 'failed');
  assert.match(wrongNet.steps[0].detail, /network_id no-such-net is neither a libvirt network nor a bridge.*rehost-test-/);
  assert.equal(existsSync(join(remote, id, 'boot')) ? readdirSync(join(remote, id, 'boot')).length : 0, 0, 'a failed boot leaves no overlay behind');

  // The peer's network has no subnet of its own: a fixed IP gets a /24 and no gateway.
  const test1 = await boot(id, { backup_type: 'volume_snapshot', snapshot_id: snaps[0].id, network_id: libvirt.network, fixed_ip: '10.20.30.40', public_key: KEY });
  assert.equal(test1.job_status, 'done', JSON.stringify(test1));
  const detail1 = test1.steps[0].detail as string;
  console.log(`# test boot: ${detail1.replace(/\n/g, ' ').slice(0, 600)}`);
  assert.match(detail1, /via libvirt/);
  assert.match(detail1, new RegExp(`transient domain rehost-${id}-`));
  assert.match(detail1, new RegExp(`network ${libvirt.network}`));
  assert.match(detail1, new RegExp(`MIGRATION-BOOT-OK.*data=${gen1}`), 'the old snapshot boots the old data');
  assert.match((await r.api('GET', `/hosts/${id}/console`)).body, new RegExp(`data=${gen1}`));
  const test1Id = (await host(id)).cloud_instance_id;
  assert.ok(libvirt.virsh('list', '--transient', '--name').includes(`rehost-${id}-${test1Id}`), 'the test boot runs as a transient domain');
  const xml = libvirt.virsh('dumpxml', `rehost-${id}-${test1Id}`);
  assert.match(xml, new RegExp(`<source network='${libvirt.network}'`));
  assert.match(xml, /<target dev='vda' bus='virtio'\/>/);
  const mac = /<mac address='(52:54:00:[0-9a-f:]+)'\/>/.exec(xml)?.[1];
  assert.ok(mac, `the NIC has Rehost's MAC: ${xml}`);
  assert.match(detail1, new RegExp(`MAC ${mac}`));
  assert.match(xml, /<channel type='unix'>[\s\S]*<target type='virtio' name='org\.qemu\.guest_agent\.0'/, 'the guest agent channel');
  const seed = join(remote, id, 'boot', test1Id, 'cidata.img');
  assert.match(xml, new RegExp(`<source file='${seed}'[^>]*/>[\\s\\S]*?<target dev='vdb' bus='virtio'/>\\s*<readonly/>`), 'the seed is a read-only disk');
  assert.match(detail1, /cloud-init NoCloud seed attached \(fixed_ip 10\.20\.30\.40\/24, 1 public key\(s\)/);
  const net = execFileSync('mtype', ['-i', seed, '::network-config'], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  assert.match(net, new RegExp(`macaddress: "${mac}"`));
  assert.match(net, /addresses: \["10\.20\.30\.40\/24"\]/);
  assert.doesNotMatch(net, /gateway4/, 'an address-less network gives no gateway');

  const gen3 = writeDataRegion(disk);
  const cut = await boot(id, { backup_type: 'volume_backup', snapshot_id: snaps[1].id });
  assert.equal(cut.job_status, 'done', JSON.stringify(cut));
  assert.match(cut.steps[1].detail, /via libvirt.*persistent domain/);
  assert.match(cut.steps[1].detail, new RegExp(`data=${gen3}`), 'the cutover boots the newest data');
  const instance = (await host(id)).cloud_instance_id;
  const persistent = libvirt.virsh('list', '--persistent', '--name');
  assert.ok(persistent.includes(`rehost-${id}-${instance}`), `the cutover machine is a persistent domain: ${persistent}`);
  assert.ok(!libvirt.virsh('list', '--all', '--name').includes(test1Id), 'the cutover stopped the test boot');

  assert.equal((await r.api('POST', '/hosts', { ids: [id], clean: { force: false } })).status, 200);
  await waitFor('cleaned', async () => (await r!.api('GET', '/hosts')).body.total === 0, 60_000);
  const migratedDomain = `rehost-${id}-${instance}`;
  const names = (text: string) => text.split('\n').map((n) => n.trim()).filter(Boolean).sort();
  assert.deepEqual(names(libvirt.virsh('list', '--all', '--name')), [...names(domainsBefore), migratedDomain].sort(), 'cleanup removed every test domain and kept the migrated server');
  assert.equal(libvirt.virsh('domstate', migratedDomain).trim(), 'running', 'the migrated server keeps running');
  assert.deepEqual(readdirSync(remote).sort(), [id, 'migrated'].sort());
  assert.deepEqual(readdirSync(join(remote, id, 'machines')), [`${instance}.console.log`], 'only the console log the migrated domain names is left of the host folder');
  assert.deepEqual(readdirSync(join(remote, id)), ['machines']);
  assert.deepEqual(processesWith('qemu-nbd', remote), [], 'no qemu-nbd left');
  const kept = readdirSync(join(remote, 'migrated'));
  assert.equal(kept.length, 1);
  assert.deepEqual(readdirSync(join(remote, 'migrated', kept[0]!)).sort(), ['disk-0.raw', 'domain.xml'], 'the cutover disk and its domain XML, to define it again by hand');
  // The migrated server is the user's from here on; the test removes it itself.
  libvirt.virsh('destroy', migratedDomain);
  libvirt.virsh('undefine', migratedDomain);
  assert.deepEqual(names(libvirt.virsh('list', '--all', '--name')), names(domainsBefore));
});
