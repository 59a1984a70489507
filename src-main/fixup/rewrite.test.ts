import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFstab, parseOsRelease, resolveSource, type ProbedPartition } from './guest.js';
import { dropHwaddr, ensureModuleLines, initramfsModulesPolicy, referencedInterfaces, remapDiskNames, udevNamingRules } from './rewrite.js';

test('disk names: sdX/hdX/xvdX become vdX, UUID/LABEL and by-id are kept (by-id warned)', () => {
  const fstab = [
    'UUID=1234-abcd / ext4 errors=remount-ro 0 1',
    'LABEL=boot /boot ext4 defaults 0 2',
    '/dev/sda2 none swap sw 0 0',
    '/dev/sdb1 /data xfs defaults 0 0',
    '/dev/hda3 /var ext3 defaults 0 0',
    '/dev/xvdc /srv ext4 defaults 0 0',
    '/dev/disk/by-id/ata-VBOX_HARDDISK_VB1-part4 /opt ext4 defaults 0 0',
    '/dev/sdaa1 /big ext4 defaults 0 0',
  ].join('\n');
  const edit = remapDiskNames(fstab);
  assert.match(edit.text, /^UUID=1234-abcd \//m);
  assert.match(edit.text, /^LABEL=boot \/boot/m);
  assert.match(edit.text, /^\/dev\/vda2 none swap/m);
  assert.match(edit.text, /^\/dev\/vdb1 \/data/m);
  assert.match(edit.text, /^\/dev\/vda3 \/var/m);
  assert.match(edit.text, /^\/dev\/vdc \/srv/m);
  assert.match(edit.text, /^\/dev\/vdaa1 \/big/m);
  assert.match(edit.text, /by-id\/ata-VBOX_HARDDISK_VB1-part4/);
  assert.equal(edit.warnings.length, 1);
  assert.deepEqual(remapDiskNames(edit.text).changes, [], 'a second run changes nothing');
});

test('boot loader lines: root= and resume= remapped, grub (hd0,msdos1) untouched', () => {
  const grub = "set root='hd0,msdos1'\nlinux /vmlinuz-6.1 root=/dev/sda1 ro resume=/dev/sda2 quiet\nGRUB_CMDLINE_LINUX=\"root=/dev/hdb1\"\n";
  const edit = remapDiskNames(grub);
  assert.equal(edit.text, "set root='hd0,msdos1'\nlinux /vmlinuz-6.1 root=/dev/vda1 ro resume=/dev/vda2 quiet\nGRUB_CMDLINE_LINUX=\"root=/dev/vdb1\"\n");
  assert.deepEqual(edit.changes, ['/dev/sda1 → /dev/vda1', '/dev/sda2 → /dev/vda2', '/dev/hdb1 → /dev/vdb1']);
});

test('initramfs-tools modules: only the missing ones are appended; MODULES policy read', () => {
  const first = ensureModuleLines('# comment\nata_piix\nvirtio-blk  # dash form\n', ['virtio_pci', 'virtio_blk', 'virtio_net']);
  assert.deepEqual(first.changes, ['virtio_pci', 'virtio_net']);
  assert.match(first.text, /^ata_piix$/m);
  assert.deepEqual(ensureModuleLines(first.text, ['virtio_pci', 'virtio_blk', 'virtio_net']).changes, []);
  assert.equal(ensureModuleLines('', ['virtio_blk']).text.endsWith('virtio_blk\n'), true);
  assert.equal(initramfsModulesPolicy(['MODULES=most\n', '# MODULES=dep\nMODULES=dep\n']), 'dep');
  assert.equal(initramfsModulesPolicy(['BUSYBOX=auto\n']), null);
});

test('interface names from ifupdown, networkd, NetworkManager, ifcfg, netplan, persistent-net rules', () => {
  const found = referencedInterfaces([
    { path: '/etc/network/interfaces', text: 'auto lo\niface lo inet loopback\nallow-hotplug ens192\niface ens192 inet static\n  address 10.0.0.5/24\n' },
    { path: '/etc/systemd/network/10-a.network', text: '[Match]\nName=ens224\n[Network]\nDHCP=yes\n' },
    { path: '/etc/NetworkManager/system-connections/x.nmconnection', text: '[connection]\ninterface-name=eth1\n[ethernet]\nmac-address=00:50:56:AA:BB:CC\n' },
    { path: '/etc/sysconfig/network-scripts/ifcfg-eth0', text: 'DEVICE=eth0\nHWADDR=00:50:56:11:22:33\nBOOTPROTO=static\nIPADDR=10.1.1.1\n' },
    { path: '/etc/netplan/50-cloud.yaml', text: 'network:\n  version: 2\n  ethernets:\n    enp3s0:\n      dhcp4: true\n    enp4s0:\n      addresses: [10.2.2.2/24]\n  bridges:\n    br0: {}\n' },
    { path: '/etc/udev/rules.d/70-persistent-net.rules', text: 'SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="00:50:56:11:22:33", NAME="eth0"\n' },
  ]);
  assert.deepEqual(found.map((f) => f.name), ['ens192', 'ens224', 'eth1', 'eth0', 'enp3s0', 'enp4s0']);
  assert.equal(found.find((f) => f.name === 'eth0')!.mac, '00:50:56:11:22:33');
  assert.equal(found.find((f) => f.name === 'eth1')!.mac, '00:50:56:aa:bb:cc');
});

test('naming rules and HWADDR', () => {
  assert.match(udevNamingRules([{ name: 'ens192' }]), /^SUBSYSTEM=="net", ACTION=="add", DRIVERS=="virtio_net", NAME="ens192"$/m);
  assert.match(udevNamingRules([{ name: 'eth0', newMac: '52:54:00:AA:00:01' }]), /ATTR\{address\}=="52:54:00:aa:00:01", NAME="eth0"/);
  const edit = dropHwaddr('DEVICE=eth0\nHWADDR=00:50:56:11:22:33\n');
  assert.match(edit.text, /^# HWADDR=00:50:56:11:22:33/m);
  assert.deepEqual(dropHwaddr(edit.text).changes, [], 'idempotent');
});

test('fstab, os-release and source resolution', () => {
  assert.deepEqual(parseFstab('# c\n\nUUID=a / ext4 defaults 0 1\n/dev/sda2\t/boot\text4 defaults\nbad\n/x /my\\040dir ext4 d\n'), [
    ['UUID=a', '/', 'ext4'],
    ['/dev/sda2', '/boot', 'ext4'],
    ['/x', '/my dir', 'ext4'],
  ]);
  assert.deepEqual(parseOsRelease('NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID=\'12\'\n'), { NAME: 'Debian GNU/Linux', ID: 'debian', VERSION_ID: '12' });
  const parts: ProbedPartition[] = [
    { number: 1, offset: 0, size: 1, type: '83', fsType: 'ext4', uuid: 'AAAA-1', label: 'root', partUuid: 'p-1' },
    { number: 2, offset: 1, size: 1, type: '83', fsType: 'ext4', uuid: 'bbbb-2' },
  ];
  assert.equal(resolveSource('UUID=aaaa-1', parts)?.number, 1);
  assert.equal(resolveSource('LABEL=root', parts)?.number, 1);
  assert.equal(resolveSource('PARTUUID=P-1', parts)?.number, 1);
  assert.equal(resolveSource('/dev/disk/by-uuid/bbbb-2', parts)?.number, 2);
  assert.equal(resolveSource('/dev/sda2', parts)?.number, 2);
  assert.equal(resolveSource('/dev/sdb1', parts), undefined, 'another disk');
  assert.equal(resolveSource('UUID=zzz', parts), undefined);
});
