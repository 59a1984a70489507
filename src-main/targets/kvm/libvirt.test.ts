import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { RehostError } from '../../../src-shared/errors.js';
import { domainXml, virtioDev, type DomainSpec } from './domain-xml.js';
import { checkNetworkId, chooseNic, Libvirt, parseNetworks, type NetworkRow } from './libvirt.js';
import type { KvmSsh } from './ssh.js';

const parse = (xml: string) => new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', isArray: (n) => n === 'disk' }).parse(xml);

const spec: DomainSpec = {
  name: 'rehost-6b1c9d2e-0000-4000-8000-000000000001-11111111-2222-4333-8444-555555555555',
  uuid: '11111111-2222-4333-8444-555555555555',
  title: `Rehost test boot of web <01> & "db"`,
  type: 'kvm',
  vcpus: 2,
  ramMiB: 4096,
  disks: [
    { path: '/srv/rehost/h/boot/i/disk-0.qcow2', format: 'qcow2' },
    { path: "/srv/it's here/disk-1.raw", format: 'raw' },
  ],
  nic: { kind: 'network', network: 'default' },
  consoleLog: '/srv/rehost/h/machines/i.console.log',
};

test('domain XML: name, uuid, flavor, virtio disks in order, NIC, serial console logged to a file', () => {
  const d = parse(domainXml(spec)).domain;
  assert.equal(d['@_type'], 'kvm');
  assert.equal(d.name, spec.name);
  assert.equal(d.uuid, spec.uuid);
  assert.equal(d.title, spec.title, 'names are escaped, not mangled');
  assert.deepEqual(d.memory, { '@_unit': 'MiB', '#text': 4096 });
  assert.equal(d.vcpu, 2);
  assert.equal(d.cpu['@_mode'], 'host-passthrough');
  assert.equal(d.os.type['#text'], 'hvm');
  assert.deepEqual(
    d.devices.disk.map((x: any) => [x.source['@_file'], x.driver['@_type'], x.target['@_dev'], x.target['@_bus']]),
    [
      [spec.disks[0]!.path, 'qcow2', 'vda', 'virtio'],
      [spec.disks[1]!.path, 'raw', 'vdb', 'virtio'],
    ],
  );
  assert.deepEqual(d.devices.interface, { '@_type': 'network', source: { '@_network': 'default' }, model: { '@_type': 'virtio' } });
  assert.equal(d.devices.serial['@_type'], 'pty');
  assert.equal(d.devices.serial.log['@_file'], spec.consoleLog);
  assert.equal(d.devices.console.target['@_type'], 'serial');
});

test('domain XML: TCG has no host CPU passthrough; bridges and user-mode NICs; no disk is an error', () => {
  const tcg = parse(domainXml({ ...spec, type: 'qemu', nic: { kind: 'bridge', bridge: 'br0' } })).domain;
  assert.equal(tcg['@_type'], 'qemu');
  assert.equal(tcg.cpu, undefined);
  assert.deepEqual(tcg.devices.interface.source, { '@_bridge': 'br0' });
  assert.equal(parse(domainXml({ ...spec, nic: { kind: 'user' } })).domain.devices.interface['@_type'], 'user');
  assert.throws(() => domainXml({ ...spec, disks: [] }), /at least one disk/);
  assert.deepEqual([0, 1, 25, 26, 27].map(virtioDev), ['vda', 'vdb', 'vdz', 'vdaa', 'vdab']);
});

const rows: NetworkRow[] = parseNetworks('#active\ndefault\n\n#all\ndefault\nisolated\n#bridges\nvirbr0\nbr0\n');

test('networks: virsh net-list and host bridges become resource rows; network_id picks one', () => {
  assert.deepEqual(rows, [
    { id: 'default', name: 'default', type: 'network', active: true },
    { id: 'isolated', name: 'isolated', type: 'network', active: false },
    { id: 'bridge:virbr0', name: 'virbr0', type: 'bridge', active: true },
    { id: 'bridge:br0', name: 'br0', type: 'bridge', active: true },
  ]);
  assert.deepEqual(chooseNic(null, rows), { kind: 'network', network: 'default' });
  assert.deepEqual(chooseNic(null, rows.slice(1)), { kind: 'user' }, 'no active default network: user-mode NAT');
  assert.deepEqual(chooseNic('bridge:br0', rows), { kind: 'bridge', bridge: 'br0' });
  assert.deepEqual(chooseNic('br0', rows), { kind: 'bridge', bridge: 'br0' });
  const bad = (e: unknown) => RehostError.is(e, 'VALIDATION') && (e as RehostError).context.field === 'boot.network_id';
  assert.throws(() => chooseNic('isolated', rows), (e: unknown) => bad(e) && /not active.*net-start isolated/.test(String(e)));
  assert.throws(() => chooseNic('nope', rows), (e: unknown) => bad(e) && /there: default, isolated, bridge:virbr0, bridge:br0/.test(String(e)));
  assert.equal(checkNetworkId(undefined), null);
  assert.equal(checkNetworkId('bridge:br0'), 'bridge:br0');
  assert.throws(() => checkNetworkId('a b; rm -rf /'), bad);
  assert.throws(() => checkNetworkId(7), bad);
});

test('virsh command lines: the URI and arguments quoted, sudo -n when configured, stop scripts scoped to the host', () => {
  const ssh = {} as KvmSsh;
  const plain = new Libvirt(ssh, { uri: 'qemu:///system', sudo: false, required: false });
  assert.equal(plain.virsh('define', "/srv/it's/domain.xml"), `virsh -q -c 'qemu:///system' 'define' '/srv/it'\\''s/domain.xml'`);
  const sudo = new Libvirt(ssh, { uri: 'qemu:///system?socket=/tmp/x/libvirt-sock', sudo: true, required: true });
  assert.match(sudo.virsh('list'), /^sudo -n virsh -q -c 'qemu:\/\/\/system\?socket=\/tmp\/x\/libvirt-sock' 'list'$/);
  const host = '6b1c9d2e-0000-4000-8000-000000000001';
  const test = plain.stopScript(host, '/srv/h/boot', 'test');
  assert.match(test, /'list' '--transient' '--name'/, 'a test boot stops only transient (test) domains');
  assert.match(test, new RegExp(`case "\\$n" in 'rehost-${host}-'\\*\\)`));
  const one = plain.stopScript(host, '/srv/h/boot', { id: 'abc' });
  assert.match(one, /'--all' '--name'/);
  assert.match(one, new RegExp(`case "\\$n" in 'rehost-${host}-abc'\\)`));
  assert.match(plain.runningTest('rehost-x'), /domstate' 'rehost-x'/);
});
