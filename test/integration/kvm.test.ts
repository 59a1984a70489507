/**
 * The KVM target over a real sshd on 127.0.0.1 (test/peers/sshd.ts): the busybox image synced to
 * the "KVM host" (the sink agent there writes the raw base in the first sync, the active qcow2 layer
 * through qemu-nbd in the second), snapshots that freeze layers (the second one a small delta), a test
 * boot from the first snapshot after the second sync shows the first data, with a fixed IP, a
 * password and a key pair on a cloud-init seed the KVM host built, the NIC's MAC and the guest
 * agent channel on QEMU's command line; a cutover after a change shows the newest data, and
 * cleanup stops the test machine and removes the host's folder while the migrated server keeps
 * running from its copy. Needs
 * root (sshd, image build) and QEMU. With libvirt on the host, kvm-libvirt.test.ts covers the
 * same flow through virsh.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { guestAgentPing } from '../../src-main/targets/local/guest-agent.js';
import { agentSocket } from '../../src-main/targets/kvm/layout.js';
import { KvmSsh } from '../../src-main/targets/kvm/ssh.js';
import { bridgeUnixSocket } from '../../src-main/targets/kvm/unix-bridge.js';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { addTarget, assignTarget, bootAndWait, hostRow, killProcessesWith, processesWith, registerImageHost, snapshotsOldestFirst, syncAndWait } from '../host-flow.js';
import { bootFixtureUnavailable, buildBusyboxImage, DATA_MIB, writeDataRegion } from '../fixtures/images/busybox.js';
import { SSHD, startSshd, type Sshd } from '../peers/sshd.js';

const skip = bootFixtureUnavailable() ?? (existsSync(SSHD) ? null : 'openssh-server is not installed');
const work = tempDir('kvm');
const MiB = 1024 * 1024;
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@laptop';
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
const boot = async (id: string, body: Record<string, unknown>) => (await bootAndWait(r!, id, { flavor_id: 'kvm.small', boot_timeout_seconds: 240, ...body })).job;
/** The guest-visible bytes of a volume or layer chain on the "KVM host". */
const flatten = (image: string, out: string) => (execFileSync('qemu-img', ['convert', '-U', '-O', 'raw', image, out]), out);
/** A file of the seed image (vfat), read with mtools. */
const seedFile = (seed: string, name: string) => execFileSync('mtype', ['-i', seed, `::${name}`], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
/** qemu-nbd sockets on the "KVM host" and the engine's ends of the SSH-forwarded sockets. */
const sockets = () => readdirSync('/tmp').filter((n) => /^rehost-(kvmnbd|kvm-nbd|kvm-qga)-.*\.sock$/.test(n));

test('KVM target over SSH: layered snapshots, test boot from an old snapshot with guest options, cutover, cleanup', { skip: skip ?? false, timeout: 900_000 }, async () => {
  const image = buildBusyboxImage(128);
  sshd = await startSshd(join(work, 'sshd'));
  const images = join(work, 'images');
  const remote = join(work, 'kvm-host');
  mkdirSync(images);
  mkdirSync(join(remote, 'keypairs'), { recursive: true });
  writeFileSync(join(remote, 'keypairs', 'ops.pub'), `${KEY}\n`);
  const disk = join(images, 'kvm-01.raw');
  execFileSync('cp', ['--sparse=always', image, disk]);
  const gen1 = writeDataRegion(disk);
  const socketsBefore = sockets();
  r = await startRehost();
  await r.login();
  const id = await registerImageHost(r, images);
  const tgt = await addTarget(r, { cloud_type: 'KVM', address: '127.0.0.1', port: sshd.port, username: 'root', private_key: sshd.privateKey, host_key: sshd.hostKey, path: remote });
  assert.equal((await r.api('GET', `/targets/${tgt}/resources?kind=flavors`)).body.data[0].id, 'kvm.tiny');
  const pairs = (await r.api('GET', `/targets/${tgt}/resources?kind=keypairs`)).body.data;
  assert.deepEqual(pairs.map((p: any) => [p.id, p.type]), [['ops', 'ssh-ed25519']], 'the key pair folder on the KVM host is listed');
  await assignTarget(r, id, tgt);
  await sync(id, 'full');
  const reflinks = spawnSync('cp', ['--reflink=always', disk, join(remote, 'probe')]).status === 0;
  execFileSync('rm', ['-f', join(remote, 'probe')]);
  const volume = join(remote, id, reflinks ? 'disk-0.raw' : 'disk-0.qcow2');
  assert.ok(existsSync(volume), `the volume is ${volume}`);
  assert.equal(execFileSync('cmp', [disk, flatten(volume, join(work, 'v1.raw'))]).toString(), '', 'the volume equals the source after the full sync');
  // Verification hashed the volume on the KVM host (an agent in the sink role), then let it go.
  assert.match(r.output(), /agent started/);
  // Only this sshd's processes: other tests on the machine run agents of their own.
  const mine = new Set(sshd.processes());
  assert.deepEqual(processesWith('rehost-agent-', 'agent.cjs', 'sink').filter((pid) => mine.has(pid)), [], 'no agent left running after the sync');
  writeDataRegion(disk);
  await sync(id, 'incremental');
  assert.deepEqual(processesWith('qemu-nbd', remote), [], 'no qemu-nbd left serving the active layer after the sync');
  assert.equal(execFileSync('cmp', [disk, flatten(volume, join(work, 'v2.raw'))]).toString(), '', 'the incremental sync reached the volume');
  assert.equal((await r.api('POST', '/hosts', { ids: [id], next_step: { step: '4' } })).status, 200);
  const snaps = await snapshotsOldestFirst(r, id);
  assert.equal(snaps.length, 2);
  const second = join(remote, id, 'snapshots', snaps[1].snapshot_name, `disk-0.${reflinks ? 'raw' : 'qcow2'}`);
  assert.ok(lstatSync(second).isSymbolicLink(), 'a snapshot links to its layer');
  if (!reflinks) {
    assert.ok(Number(snaps[1].size) < 3 * DATA_MIB * MiB, `the second snapshot is the changed data only (${snaps[1].size} bytes), not the 128 MiB disk`);
    const layers = readdirSync(join(remote, id, 'layers')).sort();
    assert.equal(layers.filter((f) => f.endsWith('.raw')).length, 1, `one raw base, no full copy: ${layers.join(', ')}`);
  }

  // The old snapshot after a newer sync, with a fixed IP, a password and the key pair.
  const guestOptions = { fixed_ip: '192.168.77.20', admin_pass: 'Kvm-Secr3t', keypair_id: 'ops' };
  const test1 = await boot(id, { backup_type: 'volume_snapshot', snapshot_id: snaps[0].id, ...guestOptions });
  assert.equal(test1.job_status, 'done', JSON.stringify(test1));
  const detail1: string = test1.steps[0].detail;
  assert.match(detail1, new RegExp(`data=${gen1}`), 'the old snapshot boots the old data');
  assert.match(detail1, /^OS fix-up skipped: no Linux root found/, 'the agent ran the fix-up on the KVM host; busybox has no Linux root to fix');
  assert.match(detail1, /cloud-init NoCloud seed attached \(fixed_ip 192\.168\.77\.20\/24, admin_pass, 1 public key\(s\); built on the KVM host\)/);
  assert.ok(!JSON.stringify(test1).includes('Kvm-Secr3t'), 'the password is in no job');
  // Without a libvirt daemon on the host, the machine runs as a plain QEMU process.
  if (spawnSync('virsh', ['-c', 'qemu:///system', 'version'], { stdio: 'ignore' }).status !== 0) assert.match(detail1, /via plain QEMU/);
  assert.match((await r.api('GET', `/hosts/${id}/console`)).body, new RegExp(`data=${gen1}`));
  const instance1 = (await host(id)).cloud_instance_id as string;
  const [pid] = processesWith(`rehost-${instance1}`, 'qemu-system');
  assert.ok(pid, 'the test machine runs');
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const seed = join(remote, id, 'boot', instance1, 'cidata.img');
  assert.ok(args.includes(`file=${seed},format=raw,if=virtio,readonly=on`), args.join(' '));
  const nic = args.find((a) => a.startsWith('user,model=virtio-net-pci,mac=52:54:00:')) ?? '';
  assert.match(nic, /,net=192\.168\.77\.0\/24,host=192\.168\.77\.2,dns=192\.168\.77\.3$/, args.join(' '));
  assert.ok(args.includes(`socket,id=rehost-qga0,path=/tmp/rehost-qga-${instance1}.sock,server=on,wait=off`), 'the guest agent channel');
  assert.ok(existsSync(`/tmp/rehost-qga-${instance1}.sock`));
  const mac = /mac=([0-9a-f:]+)/.exec(nic)![1]!;
  assert.match(detail1, new RegExp(`MAC ${mac}`));
  const net = seedFile(seed, 'network-config');
  assert.match(net, new RegExp(`macaddress: "${mac}"`));
  assert.match(net, /addresses: \["192\.168\.77\.20\/24"\]/);
  const user = seedFile(seed, 'user-data');
  assert.match(user, /root:\$6\$/);
  assert.ok(user.includes(KEY), 'the key pair is in user-data');
  assert.ok(!user.includes('Kvm-Secr3t'), 'only the password hash is on the seed');

  const gen3 = writeDataRegion(disk);
  const cut = await boot(id, { backup_type: 'volume_backup', snapshot_id: snaps[1].id });
  assert.equal(cut.job_status, 'done', JSON.stringify(cut));
  assert.match(cut.steps[1].detail, new RegExp(`data=${gen3}`), 'the cutover boots the newest data');
  const instance = (await host(id)).cloud_instance_id;
  assert.ok(!existsSync(`/tmp/rehost-qga-${instance1}.sock`), 'the cutover stopped the test boot and removed its agent socket');

  assert.equal((await r.api('POST', '/hosts', { ids: [id], clean: { force: false } })).status, 200);
  await waitFor('cleaned', async () => (await r!.api('GET', '/hosts')).body.total === 0, 60_000);
  assert.deepEqual(readdirSync(remote).sort(), ['keypairs', 'migrated'], 'only the cutover copy (and the user\'s key pairs) is left on the KVM host');
  assert.equal(processesWith(`rehost-${instance}`).length, 1, 'the migrated server keeps running: cleanup never stops it');
  assert.deepEqual(sockets().filter((s) => !socketsBefore.includes(s) && !s.includes(String(instance))), [], 'no qemu-nbd or test-boot guest agent socket left in /tmp');
});

test('guest-ping over the SSH connection to a guest agent socket on the KVM host (guest agent simulated: no guest here runs qemu-ga)', { skip: skip ?? false, timeout: 120_000 }, async () => {
  sshd ??= await startSshd(join(work, 'sshd'));
  const ssh = new KvmSsh({ address: '127.0.0.1', port: sshd.port, username: 'root', hostKey: sshd.hostKey, secret: { private_key: sshd.privateKey } });
  const answering = agentSocket(randomUUID());
  const silent = agentSocket(randomUUID());
  const servers: Server[] = [];
  const listen = (path: string, answer: boolean) => new Promise<void>((resolve) => {
    const server = createServer((s) => {
      let buf = '';
      s.setEncoding('utf8').on('data', (t: string) => {
        buf += t;
        for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
          const cmd = JSON.parse(buf.slice(0, nl)) as { execute: string; arguments?: { id: number } };
          buf = buf.slice(nl + 1);
          if (answer) s.write(cmd.execute === 'guest-sync' ? `${JSON.stringify({ return: cmd.arguments!.id })}\n` : '{"return": {}}\n');
        }
      });
    });
    servers.push(server);
    server.listen(path, resolve);
  });
  await listen(answering, true);
  await listen(silent, false);
  try {
    for (const [path, expected] of [[answering, true], [silent, false], [agentSocket(randomUUID()), false]] as const) {
      const bridge = await bridgeUnixSocket(ssh, path, 'qga');
      try {
        assert.equal(await guestAgentPing(bridge.path, 1500), expected, path);
      } finally {
        await bridge.close();
      }
    }
  } finally {
    for (const s of servers) s.close();
    await ssh.close();
  }
});
