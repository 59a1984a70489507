/**
 * What a KVM machine's guest is given, as the KVM host receives it: the libvirt XML's MAC, seed
 * disk and guest agent channel, plain QEMU's arguments, the network settings a fixed IP gets on
 * each kind of NIC, the cloud-init network-config, and the fix-up arguments the agent accepts.
 * The guest agent's answers are simulated on a unix socket (no guest here runs qemu-ga).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { RehostError } from '../../../src-shared/errors.js';
import { settingsArg } from '../../agent/fixup-op.js';
import { guestAgentPing } from '../local/guest-agent.js';
import { domainXml, type DomainSpec } from './domain-xml.js';
import { fixedIpOption, guestNet, networkConfig, parseSubnet } from './guest-net.js';
import { plainArgs, plainStartCommand } from './qemu-plain.js';
import type { KvmSsh } from './ssh.js';
import { bridgeUnixSocket } from './unix-bridge.js';

const parse = (xml: string) => new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', isArray: (n) => n === 'disk' }).parse(xml);
const spec: DomainSpec = {
  name: 'rehost-h-i',
  uuid: '11111111-2222-4333-8444-555555555555',
  title: 'Rehost test boot of web',
  type: 'qemu',
  vcpus: 1,
  ramMiB: 1024,
  disks: [{ path: '/srv/rehost/h/boot/i/disk-0.qcow2', format: 'qcow2' }],
  nic: { kind: 'network', network: 'lan' },
  mac: '52:54:00:12:34:56',
  seedPath: '/srv/rehost/h/boot/i/cidata.img',
  consoleLog: '/srv/rehost/h/machines/i.console.log',
};
const bad = (field: string) => (e: unknown) => RehostError.is(e, 'VALIDATION') && (e as RehostError).context.field === field;

test('domain XML: the NIC carries the MAC, the seed is a read-only disk after the disks, the guest agent channel is there', () => {
  const d = parse(domainXml(spec)).domain;
  assert.deepEqual(d.devices.interface.mac, { '@_address': '52:54:00:12:34:56' });
  const seed = d.devices.disk[1];
  assert.equal(seed.source['@_file'], spec.seedPath);
  assert.equal(seed.driver['@_type'], 'raw');
  assert.equal(seed.target['@_dev'], 'vdb');
  assert.equal(seed.readonly, '', 'the seed is read-only');
  assert.deepEqual(d.devices.channel, { '@_type': 'unix', target: { '@_type': 'virtio', '@_name': 'org.qemu.guest_agent.0' } });
  const user = parse(domainXml({ ...spec, nic: { kind: 'user' }, userNet: '192.168.77.0' })).domain.devices.interface;
  assert.deepEqual(user.ip, { '@_family': 'ipv4', '@_address': '192.168.77.0', '@_prefix': '24' });
  assert.equal(parse(domainXml({ ...spec, seedPath: undefined } as DomainSpec)).domain.devices.disk.length, 1);
});

test('plain QEMU: MAC and NAT network on the NIC, the seed read-only, the guest agent socket, QEMU started in its own session', () => {
  const m = {
    instanceId: 'abc', accel: 'tcg' as const, vcpus: 1, ramMiB: 512, disks: [{ path: '/srv/d.qcow2', format: 'qcow2' as const }],
    consolePath: '/srv/m/abc.console.log', pidPath: '/srv/m/abc.test.pid', logPath: '/srv/m/abc.qemu.log', mac: '52:54:00:aa:bb:cc',
    net: { net: '192.168.77.0/24', gateway: '192.168.77.2', dns: '192.168.77.3' }, seedPath: '/srv/cidata.img',
  };
  const args = plainArgs(m);
  assert.ok(args.includes('user,model=virtio-net-pci,mac=52:54:00:aa:bb:cc,net=192.168.77.0/24,host=192.168.77.2,dns=192.168.77.3'), args.join(' '));
  assert.ok(args.includes('file=/srv/cidata.img,format=raw,if=virtio,readonly=on'));
  assert.ok(args.includes('socket,id=rehost-qga0,path=/tmp/rehost-qga-abc.sock,server=on,wait=off'));
  assert.ok(args.includes('virtserialport,bus=rehost-vser0.0,chardev=rehost-qga0,name=org.qemu.guest_agent.0'));
  assert.equal(args[args.indexOf('-pidfile') + 1], '/srv/m/abc.test.pid');
  assert.equal(args[args.indexOf('-name') + 1], 'rehost-abc', 'the name lets a kill check the pid is still this machine');
  const cmd = plainStartCommand(m, '/opt/qemu bin/qemu');
  assert.match(cmd, /\{ setsid '\/opt\/qemu bin\/qemu' '-name' 'rehost-abc' .* <\/dev\/null >>'\/srv\/m\/abc\.qemu\.log' 2>&1 & \}/, 'stderr kept in the log, where a KVM failure shows');
  assert.doesNotMatch(cmd, /-daemonize/);
});

test('fixed_ip: IPv4 only; on a libvirt network inside its subnet with its address as gateway and DNS; bridges get a /24; NAT moves around it', () => {
  assert.equal(fixedIpOption({}), null);
  assert.equal(fixedIpOption({ fixed_ip: '10.1.2.3' }), '10.1.2.3');
  for (const ip of ['fe80::1', '10.1.2', '10.1.2.0', '10.1.2.255', 7]) assert.throws(() => fixedIpOption({ fixed_ip: ip }), bad('boot.fixed_ip'), String(ip));
  const subnet = parseSubnet("<network><name>lan</name><bridge name='virbr1'/><ip address='192.168.100.1' netmask='255.255.255.0'><dhcp/></ip></network>");
  assert.deepEqual(subnet, { address: '192.168.100.1', prefix: 24 });
  assert.deepEqual(parseSubnet("<network><ip family='ipv4' address='10.8.0.1' prefix='16'/></network>"), { address: '10.8.0.1', prefix: 16 });
  assert.equal(parseSubnet("<network><name>x</name><bridge name='b'/></network>"), null);
  const lan = { kind: 'network' as const, network: 'lan' };
  assert.deepEqual(guestNet('192.168.100.50', lan, subnet), { address: '192.168.100.50', prefix: 24, gateway: '192.168.100.1', dns: '192.168.100.1' });
  assert.throws(() => guestNet('192.168.101.50', lan, subnet), (e: unknown) => bad('boot.fixed_ip')(e) && /outside 192\.168\.100\.1\/24, the subnet of libvirt network lan/.test(String(e)));
  assert.throws(() => guestNet('192.168.100.1', lan, subnet), bad('boot.fixed_ip'));
  assert.deepEqual(guestNet('172.16.5.9', { kind: 'bridge', bridge: 'br0' }, null), { address: '172.16.5.9', prefix: 24 });
  assert.deepEqual(guestNet('192.168.77.20', { kind: 'user' }, null), {
    address: '192.168.77.20', prefix: 24, gateway: '192.168.77.2', dns: '192.168.77.3', slirp: { net: '192.168.77.0/24', gateway: '192.168.77.2', dns: '192.168.77.3' },
  });
  const text = networkConfig('52:54:00:12:34:56', { address: '192.168.100.50', prefix: 24, gateway: '192.168.100.1', dns: '192.168.100.1' });
  assert.match(text, /macaddress: "52:54:00:12:34:56"\n {4}dhcp4: false\n {4}addresses: \["192\.168\.100\.50\/24"\]\n {4}gateway4: "192\.168\.100\.1"\n {4}nameservers:\n {6}addresses: \["192\.168\.100\.1"\]/);
  assert.doesNotMatch(networkConfig('52:54:00:12:34:56', { address: '172.16.5.9', prefix: 24 }), /gateway4|nameservers/);
});

test('the agent takes the fix-up settings field by field and refuses others', () => {
  assert.equal(settingsArg(undefined), undefined);
  assert.deepEqual(settingsArg({ fixedIp: { address: '10.0.0.5', prefix: 24, gateway: '10.0.0.1' }, passwordHash: '$6$salt$hash', publicKeys: ['ssh-ed25519 AAAA x'] }), {
    fixedIp: { address: '10.0.0.5', prefix: 24, gateway: '10.0.0.1' }, passwordHash: '$6$salt$hash', publicKeys: ['ssh-ed25519 AAAA x'],
  });
  assert.throws(() => settingsArg({ passwordHash: 'plain-text' }), /crypt\(3\) hash/);
  assert.throws(() => settingsArg({ fixedIp: { address: '10.0.0.5' } }), /address and prefix/);
  assert.throws(() => settingsArg([]), /must be an object/);
});

test('guest-ping through a bridged unix socket, as the engine reaches a plain QEMU guest agent on the KVM host (guest agent simulated)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rehost-kvm-qga-'));
  const remote = join(dir, 'qga.sock');
  // A fake qemu-ga on the "host" side; the SSH forward is a local connection to it (sshd is in the integration tests).
  const agent = createServer((s: Socket) => {
    let buf = '';
    s.setEncoding('utf8').on('data', (t: string) => {
      buf += t;
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const cmd = JSON.parse(buf.slice(0, nl)) as { execute: string; arguments?: { id: number } };
        buf = buf.slice(nl + 1);
        s.write(cmd.execute === 'guest-sync' ? `${JSON.stringify({ return: cmd.arguments!.id })}\n` : '{"return": {}}\n');
      }
    });
  });
  await new Promise<void>((r) => agent.listen(remote, r));
  const { connect } = await import('node:net');
  const forwarder = { forwardUnix: async (path: string) => connect({ path }) } as unknown as Pick<KvmSsh, 'forwardUnix'>;
  const bridge = await bridgeUnixSocket(forwarder, remote, 'qga');
  try {
    assert.equal(await guestAgentPing(bridge.path, 2000), true);
    const gone = await bridgeUnixSocket(forwarder, join(dir, 'none.sock'), 'qga');
    assert.equal(await guestAgentPing(gone.path, 500), false, 'no agent behind the bridge: not booted, no hang');
    await gone.close();
  } finally {
    await bridge.close();
    agent.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
