import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, parseSecret } from './config.js';
import { agentHostId, toHost } from './inventory-map.js';
import { fingerprint, sh } from './ssh.js';
import type { WireInventory } from '../../replication/wire/inventory.js';

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

test('inventory maps onto a discovered host with a stable id', () => {
  const config = parseConfig({ address: '127.0.0.1', port: 2222, username: 'root', disks: ['/dev/loop3'] });
  const inv = {
    hostname: 'web-01', osType: 'Linux', osName: 'debian', osVersion: 'Debian GNU/Linux 12', kernel: '6.1', arch: 'x64', glibc: '2.36', firmware: 'bios', cpus: 2, cpuModel: 'x', memoryBytes: 2 ** 31, rootDevice: null,
    disks: [{ path: '/dev/loop3', name: 'loop3', sizeBytes: 64 * 2 ** 20, partitionStyle: 'MBR', fsType: null, partitions: [], serial: null }],
    lvm: { volumeGroups: [], logicalVolumes: [] }, nics: [{ name: 'eth0', mac: '02:00:00:00:00:01', ipv4: ['10.0.0.5'], ipv6: [], netmask: '255.255.255.0', gateway: '10.0.0.1', mtu: 1500 }],
    mounts: [], initramfsDrivers: [], services: { sshd: true, systemd: false }, uid: 0, consistency: 'converging-passes',
  } satisfies WireInventory;
  const h = toHost(config, inv, []);
  assert.equal(h.id, agentHostId(config));
  assert.match(h.id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(h.id, agentHostId({ ...config, disks: ['/dev/loop4'] }), 'another disk set is another host');
  assert.deepEqual([h.name, h.ref, h.memoryMiB, h.disks[0]!.isBoot, h.disks[0]!.locator, h.nics[0]!.gateway], ['web-01', '127.0.0.1', 2048, true, '/dev/loop3', '10.0.0.1']);
});
