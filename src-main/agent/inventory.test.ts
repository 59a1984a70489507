/**
 * The inventory's parsers on recorded tool output (sfdisk, LVM reports, btrfs, /proc/net tables,
 * /proc/mounts), and on a real disk file: a GPT table and an ext4 made at an offset, read back by
 * sfdisk and blkid as the agent does on a host without partition devices.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBtrfsDf, parseBtrfsSuper, parseDefault, parseSubvolumes } from './inventory-btrfs.js';
import { collectDisk, diskContext, parseSfdisk, partitionName, probeFs } from './inventory-disks.js';
import { parseLvmRows, volumeGroups } from './inventory-lvm.js';
import { buildNetworks, compressIpv6, ipv4Gateways, ipv6Gateways } from './inventory-net.js';
import { parseMounts } from './mounts.js';

test('sfdisk: GPT and MBR tables in bytes; extended partitions are not listed', () => {
  const gpt = parseSfdisk(JSON.stringify({ partitiontable: { label: 'gpt', sectorsize: 512, partitions: [{ node: '/dev/loop0p1', start: 2048, size: 65536, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', uuid: 'A17C' }] } }))!;
  assert.deepEqual(gpt, { style: 'GPT', entries: [{ index: 1, start: 2048 * 512, size: 65536 * 512, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', uuid: 'A17C', bootable: false }] });
  const mbr = parseSfdisk(JSON.stringify({ partitiontable: { label: 'dos', partitions: [{ node: 'd1', start: 2048, size: 100, type: '83', bootable: true }, { node: 'd2', start: 4096, size: 900, type: '5' }, { node: 'd5', start: 6144, size: 100, type: '8e' }] } }))!;
  assert.deepEqual(mbr.entries.map((e) => [e.index, e.type, e.bootable]), [[1, '83', true], [5, '8e', false]]);
  assert.equal(parseSfdisk('not json'), null);
  assert.deepEqual([partitionName('sda', 2), partitionName('nvme0n1', 1), partitionName('loop3', 1)], ['sda2', 'nvme0n1p1', 'loop3p1']);
});

test('LVM reports: groups with their PVs, LVs (snapshots left out), PV usage and which PVs hold /', () => {
  const pvs = parseLvmRows('{"report":[{"pv":[{"pv_name":"/dev/sda2","vg_name":"vg0","pv_size":"21470642176","pv_free":"4290772992"}]}]}', 'pv');
  const vgs = parseLvmRows('{"report":[{"vg":[{"vg_name":"vg0","vg_size":"21470642176","vg_free":"4290772992","vg_extent_size":"4194304"}]}]}', 'vg');
  const lvs = parseLvmRows(
    '{"report":[{"lv":[{"lv_name":"root","vg_name":"vg0","lv_size":"10737418240","lv_path":"/dev/vg0/root","lv_attr":"-wi-ao----"},{"lv_name":"home","vg_name":"vg0","lv_size":"6442450944","lv_path":"/dev/vg0/home","lv_attr":"owi-aos---"},{"lv_name":"rehost-snap","vg_name":"vg0","lv_size":"1073741824","lv_path":"/dev/vg0/rehost-snap","lv_attr":"swi-a-s---"}]}]}',
    'lv',
  );
  assert.deepEqual(parseLvmRows(null, 'pv'), []);
  const mounts: Record<string, string> = { '/dev/vg0/root': '/', '/dev/vg0/home': '/home' };
  const built = volumeGroups({ pvs, vgs, lvs }, {
    resolve: (p) => p,
    diskOf: (pv) => (pv === '/dev/sda2' ? '/dev/sda' : null),
    describe: (path) => ({ fsType: 'ext4', mountPoint: mounts[path] ?? null, usage: { size: 100, used: 40, free: 60, blockSize: 4096, blocks: 25, inodes: 7 } }),
  });
  const vg = built.groups[0]!;
  assert.deepEqual([vg.name, vg.components, vg.size, vg.free_size], ['vg0', '/dev/sda2', 21470642176, 4290772992]);
  assert.deepEqual(vg.physical_volumes, [{ name: '/dev/sda2', size: 21470642176, free_size: 4290772992, disk: '/dev/sda' }]);
  assert.deepEqual(vg.logical_volumes.map((l) => [l.name, l.mount_point, l.device_use, l.used_size, l.block_count, l.block_size]), [['root', '/', 'OS', 40, 25, 4096], ['home', '/home', 'NORMAL', 40, 25, 4096]]);
  assert.equal(built.pvUsed.get('/dev/sda2'), 21470642176 - 4290772992);
  assert.equal(built.pvUse.get('/dev/sda2'), 'OS');
});

test('btrfs: superblock fields at their offsets, df profiles, subvolume list, default subvolume', () => {
  const b = Buffer.alloc(4096);
  Buffer.from('fcdf75fa66614c6b9285e7921c340443', 'hex').copy(b, 0x20);
  b.write('_BHRfS_M', 0x40, 'latin1');
  b.writeBigUInt64LE(136314880n, 0x70);
  b.writeBigUInt64LE(180224n, 0x78);
  b.writeUInt32LE(4096, 0x90);
  b.writeUInt32LE(16384, 0x94);
  b.write('datafs', 0x12b);
  assert.deepEqual(parseBtrfsSuper(b), { uuid: 'fcdf75fa-6661-4c6b-9285-e7921c340443', label: 'datafs', totalBytes: 136314880, bytesUsed: 180224, sectorsize: 4096, nodesize: 16384 });
  assert.equal(parseBtrfsSuper(Buffer.alloc(4096)), null);
  const df = parseBtrfsDf('Data, single: total=8388608, used=65536\nSystem, DUP: total=8388608, used=16384\nMetadata, DUP: total=33554432, used=163840\nGlobalReserve, single: total=5767168, used=0\n');
  assert.deepEqual(df, { data: 'single', system: 'DUP', metadata: 'DUP', globalReserve: 'total=5767168, used=0', used: 65536 + 16384 + 163840 });
  const subs = parseSubvolumes(
    'ID 256 gen 7 parent 5 top level 5 parent_uuid -                                    uuid cc68b53e-a687-1249-8703-f9a1ea3faca2 path @home\n' +
      'ID 257 gen 7 cgen 7 parent 5 top level 5 otime 2026-12-02 02:57:42 parent_uuid cc68b53e-a687-1249-8703-f9a1ea3faca2 uuid 31dcc112-d537-a748-a1d8-015019733da1 path <FS_TREE>/@home-snap\n',
  );
  assert.deepEqual(subs, [
    { id: '256', parentId: '5', parentUuid: '', uuid: 'cc68b53e-a687-1249-8703-f9a1ea3faca2', path: '@home' },
    { id: '257', parentId: '5', parentUuid: 'cc68b53e-a687-1249-8703-f9a1ea3faca2', uuid: '31dcc112-d537-a748-a1d8-015019733da1', path: '@home-snap' },
  ]);
  assert.deepEqual(parseDefault('ID 5 (FS_TREE)\n'), { id: '5', name: 'FS_TREE' });
  assert.deepEqual(parseDefault('ID 256 gen 9 top level 5 path @\n'), { id: '256', name: '@' });
});

test('networks: every address with its own netmask, IPv4 and IPv6 default gateways, NICs without addresses, loopback left out', () => {
  const route = 'Iface\tDestination\tGateway\tFlags\nens3\t00000000\t0102000A\t0003\nens3\t0002000A\t00000000\t0001\n';
  assert.deepEqual([...ipv4Gateways(route)], [['ens3', '10.0.2.1']]);
  const v6 = `${'0'.repeat(32)} 00 ${'0'.repeat(32)} 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 ens3\n`;
  assert.deepEqual([...ipv6Gateways(v6)], [['ens3', 'fe80::1']]);
  assert.equal(compressIpv6('2001:0db8:0000:0000:0000:0000:0000:0010'), '2001:db8::10');
  const nets = buildNetworks(
    {
      lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }],
      ens3: [
        { address: '10.0.2.15', netmask: '255.255.255.0', family: 'IPv4', mac: '52:54:00:12:34:56', internal: false, cidr: '10.0.2.15/24' },
        { address: '10.9.0.1', netmask: '255.255.0.0', family: 'IPv4', mac: '52:54:00:12:34:56', internal: false, cidr: '10.9.0.1/16' },
        { address: 'fe80::5054:ff:fe12:3456', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '52:54:00:12:34:56', internal: false, cidr: 'fe80::5054:ff:fe12:3456/64', scopeid: 2 },
        { address: '2001:db8::15', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '52:54:00:12:34:56', internal: false, cidr: '2001:db8::15/64', scopeid: 0 },
      ],
    },
    ipv4Gateways(route),
    ipv6Gateways(v6),
    { names: ['lo', 'ens3', 'ens4'], mtuOf: (n) => (n === 'ens3' ? 9000 : 1500), macOf: () => '52:54:00:00:00:04' },
  );
  assert.deepEqual(nets.map((n) => n.name), ['ens3', 'ens4']);
  const e = nets[0]!;
  assert.deepEqual([e.ip, e.netmask, e.ipv6, e.gateway, e.ipv6_gateway, e.mtu, e.mac], ['10.0.2.15', '255.255.255.0', '2001:db8::15', '10.0.2.1', 'fe80::1', 9000, '52:54:00:12:34:56']);
  assert.deepEqual(e.addresses!.map((a) => `${a.address}/${a.prefix} ${a.netmask}`), ['10.0.2.15/24 255.255.255.0', '10.9.0.1/16 255.255.0.0', 'fe80::5054:ff:fe12:3456/64 ffff:ffff:ffff:ffff::', '2001:db8::15/64 ffff:ffff:ffff:ffff::']);
  assert.deepEqual([nets[1]!.ip, nets[1]!.mac, nets[1]!.addresses], [null, '52:54:00:00:00:04', []]);
});

test('mount table: escaped paths, devices resolved', () => {
  const m = parseMounts('/dev/mapper/vg0-root / ext4 rw 0 0\n/dev/sda1 /mnt/my\\040disk vfat rw 0 0\nproc /proc proc rw 0 0\n', (p) => (p === '/dev/mapper/vg0-root' ? '/dev/dm-0' : p));
  assert.deepEqual(m.map((x) => [x.device, x.mountPoint, x.fsType]), [['/dev/dm-0', '/', 'ext4'], ['/dev/sda1', '/mnt/my disk', 'vfat'], ['proc', '/proc', 'proc']]);
});

const tools = ['sfdisk', 'blkid', 'mkfs.ext4'].every((t) => ['/usr/sbin', '/sbin', '/usr/bin'].some((d) => existsSync(join(d, t))));

test('a disk file with a GPT table and an ext4 at an offset: partitions read from the table, the file system probed at its offset', { skip: tools ? false : 'needs sfdisk, blkid and mkfs.ext4' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'rehost-inv-'));
  try {
    const disk = join(dir, 'disk.raw');
    writeFileSync(disk, '');
    execFileSync('truncate', ['-s', '64M', disk]);
    execFileSync('sfdisk', ['-q', disk], { input: 'label: gpt\nstart=2048, size=32768, type=L, name=one\nstart=34816, size=65536, type=L\n' });
    execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'inv-test', '-E', `offset=${34816 * 512}`, disk, `${(65536 * 512) / 1024}k`]);
    assert.equal(probeFs(disk, 34816 * 512, 65536 * 512).TYPE, 'ext4');
    const d = collectDisk(disk, 'disk', 64 * 2 ** 20, null, [], diskContext([]));
    assert.equal(d.partition_style, 'GPT');
    assert.deepEqual(d.physical_volumes.map((p) => [p.name, p.index, p.offset, p.size, p.file_system, p.label, p.mount_point, p.device_use]), [
      ['disk1', 1, 2048 * 512, 32768 * 512, null, null, null, 'NORMAL'],
      ['disk2', 2, 34816 * 512, 65536 * 512, 'ext4', 'inv-test', null, 'NORMAL'],
    ]);
    assert.match(d.physical_volumes[1]!.uuid ?? '', /^[0-9a-f-]{36}$/);
    assert.deepEqual([d.device_use, d.os_disk, d.used_size], ['NORMAL', false, 0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
