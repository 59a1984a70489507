import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { RehostError } from '../../../src-shared/errors.js';
import type { Host, Snapshot, Volume } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import { canBoot, hasSnapshots } from '../../core/drivers.js';
import { createKvmTarget, secretFields } from './index.js';
import type { KvmAgents } from './agents.js';
import type { KvmGuests } from './guest-setup.js';
import { KvmLayout } from './layout.js';
import { Libvirt } from './libvirt.js';
import { KvmMachines } from './machines.js';
import { KvmSnapshots } from './snapshots.js';
import type { KvmSsh } from './ssh.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const GiB = 1024 ** 3;
const deps = (secret: Record<string, string>) => ({ log: quiet, workDir: '/tmp', secret });

test('the factory needs an address, a user and a password or key; the driver snapshots and boots', async () => {
  assert.deepEqual(secretFields, ['password', 'private_key', 'passphrase']);
  assert.throws(() => createKvmTarget(deps({ password: 'x' }), { cloud_type: 'KVM', username: 'root' }), (e: unknown) => RehostError.is(e, 'VALIDATION'));
  assert.throws(() => createKvmTarget(deps({}), { cloud_type: 'KVM', address: '127.0.0.1', username: 'root' }), /password or config\.private_key/);
  assert.throws(() => createKvmTarget(deps({ password: 'x' }), { cloud_type: 'KVM', address: '127.0.0.1', username: 'root', path: 'rel/dir' }), /absolute/);
  assert.throws(() => createKvmTarget(deps({ password: 'x' }), { cloud_type: 'KVM', address: '127.0.0.1', username: 'root', libvirt_uri: "qemu:///system' ; reboot" }), /libvirt_uri/);
  createKvmTarget(deps({ password: 'x' }), { cloud_type: 'KVM', address: '127.0.0.1', username: 'root', libvirt_uri: 'qemu:///system?socket=/run/x/libvirt-sock' });
  const t = createKvmTarget(deps({ password: 'x' }), { cloud_type: 'KVM', address: '127.0.0.1', username: 'root' });
  assert.ok(hasSnapshots(t) && canBoot(t));
  assert.equal((await t.listResources('flavors', new AbortController().signal))[0]!.id, 'kvm.tiny');
  assert.ok(t.capabilities.resources.includes('keypairs'), 'key pairs are listed like the Local target\'s');
  await assert.rejects(t.listResources('floating_ips', new AbortController().signal), (e: unknown) => RehostError.is(e, 'UNPROCESSABLE'));
  const host = { id: randomUUID(), name: 'h' } as Host;
  const vol = { sizeBytes: 2 * GiB } as Volume;
  await assert.rejects(t.machines!.check!(host, [vol], { flavor_id: 'kvm.tiny' }), /too small/);
  await t.machines!.check!(host, [vol], { flavor_id: 'kvm.small' });
  await t.close();
});

test('refs handed back by core must lie in this root', () => {
  const l = new KvmLayout('/srv/rehost');
  const id = randomUUID();
  assert.equal(l.assertVolumeRef(`/srv/rehost/${id}/disk-0.raw`), `/srv/rehost/${id}/disk-0.raw`);
  assert.equal(l.assertVolumeRef(`/srv/rehost/${id}/disk-1.qcow2`), `/srv/rehost/${id}/disk-1.qcow2`);
  assert.equal(l.base(id, 1), `/srv/rehost/${id}/layers/base-disk-1.raw`);
  assert.throws(() => l.assertVolumeRef(`/srv/rehost/${id}/layers/base-disk-1.raw`), /not a disk file/);
  assert.throws(() => l.assertVolumeRef('/etc/passwd'), /not a disk file/);
  assert.throws(() => l.assertVolumeRef(`/srv/rehost/${id}/../../etc/disk-0.raw`), /not a disk file/);
  assert.equal(l.assertSnapshotRef(`/srv/rehost/${id}/snapshots/HyperMotion-20250101T000000`), `/srv/rehost/${id}/snapshots/HyperMotion-20250101T000000`);
  assert.throws(() => l.assertSnapshotRef(`/srv/rehost/${id}`), /not a snapshot folder/);
  assert.throws(() => l.hostDir('../x'), /not a UUID/);
});

test('a configured libvirt_uri must answer: virsh missing on the KVM host fails the boot naming config.libvirt_uri, before anything changes there', async () => {
  const commands: string[] = [];
  // The KVM host's shell, recorded (no host here lacks virsh).
  const ssh = {
    where: 'root@kvm:22',
    async exec(command: string): Promise<string> {
      commands.push(command);
      return command.includes('command -v virsh') ? 'absent: virsh is not installed\n' : '';
    },
  } as unknown as KvmSsh;
  const layout = new KvmLayout('/srv/rehost');
  const libvirt = new Libvirt(ssh, { uri: 'qemu:///system', sudo: false, required: true });
  const machines = new KvmMachines(ssh, layout, quiet, libvirt, new KvmSnapshots(ssh, layout, quiet), {} as KvmGuests, {} as KvmAgents);
  const host = { id: randomUUID(), name: 'h' } as Host;
  const snapshot = { ref: `/srv/rehost/${host.id}/snapshots/HyperMotion-20260101T000000` } as Snapshot;
  await assert.rejects(
    machines.boot(host, [{ sizeBytes: GiB } as Volume], { backupType: 'volume_snapshot', snapshot, options: { flavor_id: 'kvm.small' }, signal: new AbortController().signal }),
    (e: unknown) => RehostError.is(e, 'UNPROCESSABLE') && (e as RehostError).context.field === 'config.libvirt_uri' && /libvirt \(qemu:\/\/\/system\) does not answer on the KVM host root@kvm:22: virsh is not installed/.test(String(e)),
  );
  assert.equal(commands.length, 1, `only the probe ran: ${commands.join(' | ')}`);
});
