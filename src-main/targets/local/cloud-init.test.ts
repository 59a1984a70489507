import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import { buildSeed, checkGuestOptions, hashPassword, macFor, nocloudFiles, publicKeys, userNet, wantsCloudInit } from './cloud-init.js';
import { qemuArgs } from './qemu.js';

const signal = new AbortController().signal;
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@laptop';
let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'rehost-cloudinit-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

test('only fixed_ip, admin_pass and keys ask for a seed; bad values are refused naming the field', () => {
  assert.equal(wantsCloudInit({ flavor_id: 'local.small' }), false);
  assert.equal(wantsCloudInit({ fixed_ip: '' }), false);
  for (const k of ['fixed_ip', 'admin_pass', 'keypair_id', 'public_key']) assert.equal(wantsCloudInit({ [k]: 'x' }), true, k);
  checkGuestOptions({ fixed_ip: '192.168.7.20', public_key: KEY, keypair_id: 'ops' });
  const field = (options: Record<string, unknown>) => {
    try {
      checkGuestOptions(options);
      return null;
    } catch (e) {
      assert.ok(RehostError.is(e, 'VALIDATION'));
      return e.context.field;
    }
  };
  assert.equal(field({ fixed_ip: 'fe80::1' }), 'boot.fixed_ip');
  assert.equal(field({ fixed_ip: '10.0.0.255' }), 'boot.fixed_ip');
  assert.equal(field({ public_key: 'ssh-rsa not base64!' }), 'boot.public_key');
  assert.equal(field({ keypair_id: '../../etc/passwd' }), 'boot.keypair_id');
});

test('NoCloud files: meta-data, cloud-config with a password hash and keys, network-config v2 on the MAC', async () => {
  const hash = await hashPassword('s3cret pass', signal);
  assert.match(hash, /^\$6\$[^$]+\$[./A-Za-z0-9]{86}$/);
  assert.ok(!hash.includes('s3cret'));
  const mac = macFor('5d0b3f5e-1111-4222-8333-944444444444');
  assert.match(mac, /^52:54:00(:[0-9a-f]{2}){3}$/);
  assert.equal(macFor('5d0b3f5e-1111-4222-8333-944444444444'), mac, 'stable');
  const files = nocloudFiles({ instanceId: 'i-1', hostname: 'web01', mac, fixedIp: '192.168.7.20', passwordHash: hash, publicKeys: [KEY] });
  assert.deepEqual(Object.keys(files).sort(), ['meta-data', 'network-config', 'user-data']);
  assert.equal(files['meta-data'], 'instance-id: "i-1"\nlocal-hostname: "web01"\n');
  const user = files['user-data']!;
  assert.ok(user.startsWith('#cloud-config\n'));
  assert.ok(user.includes(`    root:${hash}\n`));
  assert.ok(user.includes(`ssh_authorized_keys:\n  - ${JSON.stringify(KEY)}\n`));
  assert.ok(!user.includes('s3cret'), 'no clear-text password');
  const net = files['network-config']!;
  assert.ok(net.startsWith('version: 2\nethernets:\n'));
  assert.ok(net.includes(`macaddress: "${mac}"`));
  assert.ok(net.includes('addresses: ["192.168.7.20/24"]'));
  assert.ok(net.includes('gateway4: "192.168.7.2"'));
  assert.ok(net.includes('addresses: ["192.168.7.3"]'));
  // The parsed YAML, read by Python's yaml when the machine has it (cloud-init is Python).
  const py = "import sys,yaml,json; print(json.dumps([yaml.safe_load(open(p)) for p in sys.argv[1:]]))";
  const paths = Object.entries(files).map(([name, text]) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  });
  let parsed: unknown[] | null = null;
  try {
    parsed = JSON.parse(execFileSync('python3', ['-c', py, ...paths], { encoding: 'utf8' })) as unknown[];
  } catch {
    parsed = null; // no python3-yaml here: the string checks above stand
  }
  if (parsed) {
    const [meta, userdata, netcfg] = parsed as [Record<string, unknown>, any, any];
    assert.equal(meta['instance-id'], 'i-1');
    assert.deepEqual(netcfg.ethernets.primary.addresses, ['192.168.7.20/24']);
    assert.equal(userdata.chpasswd.list.trim(), `root:${hash}`);
    assert.deepEqual(userdata.ssh_authorized_keys, [KEY]);
  }

  const none = nocloudFiles({ instanceId: 'i-2', hostname: 'db', mac, fixedIp: null, passwordHash: null, publicKeys: [] });
  assert.deepEqual(Object.keys(none).sort(), ['meta-data', 'user-data'], 'no network-config without fixed_ip: the guest keeps its own');
  assert.ok(!none['user-data']!.includes('chpasswd'));
});

test('the NAT network follows the fixed IP; QEMU gets the seed drive, the MAC and the guest agent channel', () => {
  assert.deepEqual(userNet(null), { net: '10.0.2.0/24', gateway: '10.0.2.2', dns: '10.0.2.3' });
  assert.deepEqual(userNet('192.168.7.2'), { net: '192.168.7.0/24', gateway: '192.168.7.1', dns: '192.168.7.3' });
  assert.deepEqual(userNet('192.168.7.3'), { net: '192.168.7.0/24', gateway: '192.168.7.2', dns: '192.168.7.4' });
  const args = qemuArgs({
    instanceId: 'i', accel: 'tcg', vcpus: 1, ramMiB: 512, consolePath: '/c.log', disks: [{ path: '/d.qcow2', format: 'qcow2' }],
    mac: '52:54:00:01:02:03', net: userNet('192.168.7.20'), seedPath: '/seed.img', agentSocket: '/tmp/qga.sock',
  });
  const line = args.join(' ');
  assert.ok(line.includes('-nic user,model=virtio-net-pci,mac=52:54:00:01:02:03,net=192.168.7.0/24,host=192.168.7.2,dns=192.168.7.3'));
  assert.ok(line.indexOf('file=/d.qcow2') < line.indexOf('file=/seed.img,format=raw,if=virtio,readonly=on'), 'the seed comes after the boot disk');
  assert.ok(line.includes('-chardev socket,id=rehost-qga0,path=/tmp/qga.sock,server=on,wait=off'));
  assert.ok(line.includes('name=org.qemu.guest_agent.0'));
});

test('the seed image is a vfat volume labelled cidata holding the files; keys come from public_key and keypair_id', async () => {
  const pairs = join(dir, 'keypairs');
  mkdirSync(pairs);
  writeFileSync(join(pairs, 'ops.pub'), `${KEY}\n`);
  const keys = await publicKeys({ keypair_id: 'ops', public_key: ` ${KEY.replace('ops@laptop', 'second')} ` }, pairs);
  assert.deepEqual(keys, [KEY.replace('ops@laptop', 'second'), KEY]);
  await assert.rejects(publicKeys({ keypair_id: 'nobody' }, pairs), (e: unknown) => RehostError.is(e, 'NOT_FOUND') && e.context.field === 'boot.keypair_id');

  const seed = join(dir, 'cidata.img');
  const files = nocloudFiles({ instanceId: 'i-3', hostname: 'web01', mac: '52:54:00:01:02:03', fixedIp: '10.0.2.50', passwordHash: null, publicKeys: keys });
  await buildSeed(seed, files, signal);
  const label = execFileSync('/usr/sbin/blkid', ['-o', 'value', '-s', 'LABEL', seed], { encoding: 'utf8' }).trim();
  assert.equal(label.toLowerCase(), 'cidata');
  const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
  const listing = execFileSync('mdir', ['-b', '-i', seed, '::'], { encoding: 'utf8', env });
  assert.deepEqual(listing.split('\n').filter(Boolean).map((l) => l.replace(/^::\//, '')).sort(), ['meta-data', 'network-config', 'user-data']);
  for (const [name, text] of Object.entries(files)) assert.equal(execFileSync('mtype', ['-i', seed, `::${name}`], { encoding: 'utf8', env }), text, name);
});
