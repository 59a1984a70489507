import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RehostError } from '../../../src-shared/errors.js';
import { hasGateway, parseConfig } from './config.js';
import { diskLabel, isRehostOwned, rehostMetadata, syncVolumeNames } from './context.js';
import { snapshotIds } from './snapshots.js';
import { gibFor, quotaLines } from './volumes.js';

const base = { cloud_type: 'OpenStack', os_auth_url: 'http://127.0.0.1:5000/v3', os_username: 'admin', os_project_name: 'admin' };
const secret = { os_password: 'x', gateway_private_key: 'k' };
const KEY = `SHA256:${'A'.repeat(43)}`;

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(RehostError.is(err, 'VALIDATION'), String(err));
    return err.context.field;
  }
  assert.fail('expected a validation error');
}

test('the seed config parses with defaults; a gateway is optional', () => {
  const c = parseConfig(base, { os_password: 'x' });
  assert.equal(c.userDomainId, 'default');
  assert.equal(c.projectDomainId, 'default');
  assert.equal(c.region, null);
  assert.equal(c.gateway.mode, 'dedicated');
  assert.equal(c.gateway.sshPort, 22);
  assert.equal(c.gateway.username, 'root');
  assert.equal(hasGateway(c), false);
  const g = parseConfig({ ...base, gateway_mode: 'shared', gateway_server_id: 'abc', gateway_address: '10.0.0.5', gateway_ssh_port: 2222, gateway_host_key: KEY, gateway_sudo: true }, secret);
  assert.deepEqual(
    { mode: g.gateway.mode, id: g.gateway.serverId, address: g.gateway.address, port: g.gateway.sshPort, key: g.gateway.hostKey, sudo: g.gateway.sudo },
    { mode: 'shared', id: 'abc', address: '10.0.0.5', port: 2222, key: KEY, sudo: true },
  );
  assert.equal(hasGateway(g), true);
});

test('each bad config names its field', () => {
  assert.equal(fieldOf(() => parseConfig({ ...base, os_auth_url: 'ftp://x' }, secret)), 'config.os_auth_url');
  assert.equal(fieldOf(() => parseConfig(base, {})), 'config.os_password');
  assert.equal(fieldOf(() => parseConfig({ ...base, os_username: '' }, secret)), 'config.os_username');
  assert.equal(fieldOf(() => parseConfig({ ...base, gateway_mode: 'both' }, secret)), 'config.gateway_mode');
  assert.equal(fieldOf(() => parseConfig({ ...base, gateway_server_id: 'a', gateway_image_id: 'i' }, secret)), 'config.gateway_server_id');
  assert.equal(fieldOf(() => parseConfig({ ...base, gateway_image_id: 'i', gateway_network_id: 'n' }, secret)), 'config.gateway_flavor_id');
  assert.equal(fieldOf(() => parseConfig({ ...base, gateway_server_id: 'a' }, { os_password: 'x' })), 'config.gateway_password');
  assert.equal(fieldOf(() => parseConfig({ ...base, gateway_server_id: 'a', gateway_host_key: 'MD5:aa' }, secret)), 'config.gateway_host_key');
  assert.equal(fieldOf(() => parseConfig({ ...base, gateway_server_id: 'a', gateway_ssh_port: 70000 }, secret)), 'config.gateway_ssh_port');
});

test('tags, names, refs and quota lines', () => {
  const meta = rehostMetadata('h1', 'sync', { rehost_disk: '0' });
  assert.ok(isRehostOwned(meta, 'h1', 'sync'));
  assert.equal(isRehostOwned(meta, 'h2'), false);
  assert.equal(isRehostOwned({ rehost_host: 'h1' }), false, 'both tags are needed');
  assert.equal(isRehostOwned(undefined), false);
  assert.deepEqual(snapshotIds('a1b2c3d4-0000-4000-8000-000000000001,a1b2c3d4-0000-4000-8000-000000000002'), ['a1b2c3d4-0000-4000-8000-000000000001', 'a1b2c3d4-0000-4000-8000-000000000002']);
  assert.throws(() => snapshotIds('/etc/passwd'), /not a list of Cinder snapshot ids/);
  assert.equal(gibFor(1), 1);
  assert.equal(gibFor(1024 ** 3), 1);
  assert.equal(gibFor(1024 ** 3 + 1), 2);
  assert.deepEqual(quotaLines('volume', { gigabytes: { limit: 10, in_use: 3, reserved: 1 }, volumes: { limit: -1, in_use: 2, reserved: 0 }, id: 'p' }), [
    { id: 'volume.gigabytes', name: 'gigabytes', service: 'volume', limit: 10, in_use: 3, reserved: 1, free: 6 },
    { id: 'volume.volumes', name: 'volumes', service: 'volume', limit: -1, in_use: 2, reserved: 0, free: -1 },
  ]);
});

test('sync volume names follow the seed: sync_vol_<host>_<disk file name>', () => {
  // the seed's own example: host k-node01-10.92, disk k-node01-10.92_1.vmdk
  assert.equal(diskLabel({ index: 0, name: 'Hard disk 1', locator: '[datastore1] k-node01-10.92/k-node01-10.92_1.vmdk' }), 'k-node01-10.92_1.vmdk');
  assert.equal(diskLabel({ index: 0, name: 'os-01.raw', locator: '/srv/images/os-01.raw' }), 'os-01.raw');
  assert.equal(diskLabel({ index: 1, name: 'sdb', locator: '/dev/sdb' }), 'sdb');
  assert.equal(diskLabel({ index: 2, name: 'Hard disk 3' }), 'Hard_disk_3');
  assert.equal(diskLabel({ index: 3, name: '' }), 'disk3');
  const names = syncVolumeNames({ name: 'k-node01-10.92', disks: [{ index: 0, name: 'Hard disk 1', locator: '[ds] k-node01-10.92/k-node01-10.92_1.vmdk' }, { index: 1, name: 'x', locator: '[ds] a/data.vmdk' }, { index: 2, name: 'y', locator: '[ds] b/data.vmdk' }] });
  assert.deepEqual([...names.values()], ['sync_vol_k-node01-10.92_k-node01-10.92_1.vmdk', 'sync_vol_k-node01-10.92_data.vmdk_1', 'sync_vol_k-node01-10.92_data.vmdk_2']);
});

test('os_interface and cutover_copy: defaults and refusals naming the field', () => {
  const c = parseConfig(base, { os_password: 'x' });
  assert.deepEqual([c.endpointInterface, c.cutoverCopy], ['public', 'auto']);
  const d = parseConfig({ ...base, os_interface: 'internal', cutover_copy: 'clone' }, { os_password: 'x' });
  assert.deepEqual([d.endpointInterface, d.cutoverCopy], ['internal', 'clone']);
  assert.equal(fieldOf(() => parseConfig({ ...base, os_interface: 'private' }, secret)), 'config.os_interface');
  assert.equal(fieldOf(() => parseConfig({ ...base, cutover_copy: 'snapshot' }, secret)), 'config.cutover_copy');
});

test('the driver: secret fields, capabilities, no gateway refused before any cloud call, unreachable Keystone', async () => {
  const { createOpenStackTarget, secretFields } = await import('./index.js');
  const { canBoot, hasSnapshots } = await import('../../core/drivers.js');
  assert.deepEqual(secretFields, ['os_password', 'gateway_password', 'gateway_private_key', 'gateway_passphrase']);
  const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
  const deps = { log: quiet, workDir: '/tmp', secret: { os_password: 'x' } };
  assert.throws(() => createOpenStackTarget({ ...deps, secret: {} }, base), /config\.os_password/);
  // port 1 on loopback: nothing listens, so any cloud call would fail with "cannot be reached"
  const t = createOpenStackTarget(deps, { ...base, os_auth_url: 'http://127.0.0.1:1/v3' });
  assert.ok(hasSnapshots(t) && canBoot(t));
  assert.ok(t.capabilities.resources.includes('quotas'));
  const host = { id: 'h', name: 'web', disks: [{ index: 0, sizeBytes: 1 }] } as never;
  await assert.rejects(t.prepareVolumes(host, AbortSignal.timeout(10_000)), (e: unknown) => RehostError.is(e, 'UNPROCESSABLE') && e.context.field === 'config.gateway_server_id');
  await assert.rejects(t.verify(AbortSignal.timeout(20_000)), /Keystone cannot be reached/);
  await t.close();
});
