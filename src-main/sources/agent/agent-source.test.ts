import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, parseSecret } from './config.js';
import { agentHostId, toHost } from './inventory-map.js';
import { fingerprint, sh } from './ssh.js';
import { craftedInventory } from '../../../test/fixtures/inventory.js';

test('config: defaults, validation, secrets', () => {
  const c = parseConfig({ address: ' 10.0.0.5 ', username: 'ops', disks: ['/dev/sdb'] });
  assert.deepEqual(c, { address: '10.0.0.5', port: 22, username: 'ops', sudo: false, hostKey: null, disks: ['/dev/sdb'], transport: 'relay', directListener: undefined, directAddress: null });
  const direct = parseConfig({ address: 'a', username: 'x', transport: 'direct', direct_listener: 'engine', direct_address: ' 192.0.2.7 ' });
  assert.deepEqual([direct.transport, direct.directListener, direct.directAddress], ['direct', 'engine', '192.0.2.7']);
  assert.throws(() => parseConfig({ username: 'x' }), /config.address is required/);
  assert.throws(() => parseConfig({ address: 'a', username: 'x', port: 70000 }), /config.port/);
  assert.throws(() => parseConfig({ address: 'a', username: 'x', disks: ['/dev/sdb; rm -rf /'] }), /not a device path/);
  assert.throws(() => parseSecret({}), /password or config.private_key/);
  assert.deepEqual(parseSecret({ private_key: 'KEY', passphrase: 'p' }), { privateKey: 'KEY', passphrase: 'p' });
});

test('host key fingerprints use OpenSSH form, shell quoting is safe', () => {
  assert.equal(fingerprint(Buffer.from('abc')), 'SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0');
  assert.equal(sh("it's"), `'it'\\''s'`);
});

test('inventory maps onto a discovered host with a stable id, keeping partitions, IPv6 and the seed-002 source server', () => {
  const config = parseConfig({ address: '127.0.0.1', port: 2222, username: 'root', disks: ['/dev/sda'] });
  const inv = craftedInventory();
  const h = toHost(config, inv, []);
  assert.equal(h.id, agentHostId(config));
  assert.match(h.id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(h.id, agentHostId({ ...config, disks: ['/dev/loop4'] }), 'another disk set is another host');
  assert.deepEqual([h.name, h.ref, h.memoryMiB, h.firmware, h.disks[0]!.isBoot, h.disks[0]!.locator, h.nics[0]!.gateway], ['web-01', '127.0.0.1', 4096, 'bios', true, '/dev/sda', '192.0.2.1']);
  assert.deepEqual(h.disks[0]!.partitions!.map((p) => [p.name, p.fileSystem, p.mountPoint]), [['sda1', 'vfat', '/boot/efi'], ['sda2', 'ext4', '/boot'], ['sda3', 'LVM2_member', null]]);
  assert.deepEqual(h.nics[0]!.ipv6, ['2001:db8::10']);
  const server = h.sourceServer!;
  assert.deepEqual(Object.keys(server).sort(), ['btrfs_list', 'cpu_quantity', 'disks', 'firmware', 'hostname', 'kernel', 'memory', 'networks', 'oem_system', 'os_type', 'os_version', 'volume_groups']);
  assert.equal('uid' in server, false, 'the agent-only facts stay out of the source server');
  assert.equal(server.volume_groups[0]!.logical_volumes[0]!.mount_point, '/');
});
