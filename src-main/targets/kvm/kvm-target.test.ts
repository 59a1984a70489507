import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { RehostError } from '../../../src-shared/errors.js';
import type { Host, Volume } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import { canBoot, hasSnapshots } from '../../core/drivers.js';
import { createKvmTarget, secretFields } from './index.js';
import { KvmLayout } from './layout.js';

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
