/**
 * Every environment check's OK / WARN / ERROR branches from crafted inventories (one fact changed
 * at a time from a healthy host), and the driver facts read from crafted /lib/modules and /sys trees.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { craftedInventory } from '../../test/fixtures/inventory.js';
import type { WireCheck, WireInventory } from '../replication/wire/inventory.js';
import { environmentChecks } from './checks.js';
import { blockingServices, collectDrivers, hasSysAdmin, memoryAvailable, virtioNames } from './host-facts.js';

const MiB = 2 ** 20;
const TiB = 2 ** 40;

function result(name: string, change: (inv: WireInventory) => void = () => undefined): WireCheck {
  const inv = craftedInventory();
  change(inv);
  const c = environmentChecks(inv).find((x) => x.id === name);
  assert.ok(c, `check ${name} is reported`);
  assert.equal(c.ok, c.severity !== 'ERROR', 'ok is false exactly for ERROR');
  assert.ok(c.reason.length > 0, 'every result has a reason');
  return c;
}

function expect(name: string, severity: WireCheck['severity'], code: string, change?: (inv: WireInventory) => void, reason?: RegExp): void {
  const c = result(name, change);
  assert.deepEqual([c.severity, c.code], [severity, code], `${name}: ${c.reason}`);
  if (reason) assert.match(c.reason, reason);
}

test('a healthy host passes all twelve checks, in the seed order', () => {
  const checks = environmentChecks(craftedInventory());
  assert.deepEqual(checks.map((c) => c.id), ['OS_VERSION', 'FIRMWARE', 'CPU', 'MEMORY', 'SYSTEM_ROOT', 'PARTITION_STYLE', 'FILE_SYSTEM', 'FREE_SPACE', 'OEM_SYSTEM', 'DRIVER_FILE', 'SERVICE', 'ACCOUNT_RIGHTS']);
  assert.deepEqual(checks.filter((c) => c.severity !== 'OK').map((c) => `${c.id}: ${c.reason}`), []);
});

test('OS_VERSION: unknown distribution WARN, unsupported architecture and old glibc ERROR', () => {
  expect('OS_VERSION', 'WARN', 'OS_UNIDENTIFIED', (i) => (i.os_version = 'Linux'));
  expect('OS_VERSION', 'ERROR', 'ARCH_UNSUPPORTED', (i) => (i.arch = 'ppc64'));
  expect('OS_VERSION', 'ERROR', 'GLIBC_TOO_OLD', (i) => (i.glibc = '2.17'), /2\.28/);
  expect('OS_VERSION', 'ERROR', 'GLIBC_TOO_OLD', (i) => (i.glibc = null), /not found/);
});

test('FIRMWARE: UEFI WARNs and names what the targets boot; UEFI without the ESP on the copied disks is an ERROR', () => {
  expect('FIRMWARE', 'WARN', 'UEFI_TARGET', (i) => (i.firmware = 'UEFI'), /Local, KVM and OpenStack targets boot the copy with BIOS/);
  expect('FIRMWARE', 'ERROR', 'ESP_NOT_COPIED', (i) => {
    i.firmware = 'UEFI';
    i.disks[0]!.physical_volumes.shift();
  });
  // A data disk alone (no OS on it) needs no ESP.
  expect('FIRMWARE', 'WARN', 'UEFI_TARGET', (i) => {
    i.firmware = 'UEFI';
    i.disks[0]!.physical_volumes.shift();
    i.disks[0]!.os_disk = false;
  });
});

test('CPU: none ERROR, aarch64 and very many CPUs WARN', () => {
  expect('CPU', 'ERROR', 'NO_CPU', (i) => (i.cpu_quantity = 0));
  expect('CPU', 'WARN', 'ARCH_TARGET', (i) => (i.arch = 'arm64'), /aarch64/);
  expect('CPU', 'WARN', 'MANY_CPUS', (i) => (i.cpu_quantity = 96));
});

test('MEMORY: little available ERROR, low WARN', () => {
  expect('MEMORY', 'ERROR', 'NO_MEMORY', (i) => (i.memory_available = 100 * MiB));
  expect('MEMORY', 'WARN', 'LOW_MEMORY', (i) => (i.memory_available = 200 * MiB));
  expect('MEMORY', 'WARN', 'LOW_MEMORY', (i) => (i.memory = 384 * MiB));
  expect('MEMORY', 'OK', 'OK', (i) => (i.memory_available = null));
});

test('SYSTEM_ROOT: network root ERROR; unknown, ephemeral or not copied WARN', () => {
  expect('SYSTEM_ROOT', 'ERROR', 'ROOT_NETWORK', (i) => Object.assign(i, { root_device: 'srv:/export/root', root_fs_type: 'nfs4' }));
  expect('SYSTEM_ROOT', 'WARN', 'ROOT_UNKNOWN', (i) => Object.assign(i, { root_device: null, root_fs_type: null }));
  expect('SYSTEM_ROOT', 'WARN', 'ROOT_EPHEMERAL', (i) => Object.assign(i, { root_device: 'overlay', root_fs_type: 'overlay' }));
  expect('SYSTEM_ROOT', 'WARN', 'ROOT_NOT_COPIED', (i) => (i.disks[0]!.os_disk = false), /will not boot/);
});

test('PARTITION_STYLE: no disk ERROR; MBR past 2 TiB and no table WARN', () => {
  expect('PARTITION_STYLE', 'ERROR', 'NO_DISKS', (i) => (i.disks = []));
  expect('PARTITION_STYLE', 'WARN', 'MBR_OVER_2TIB', (i) => Object.assign(i.disks[0]!, { partition_style: 'MBR', size: 3 * TiB }), /sda/);
  expect('PARTITION_STYLE', 'OK', 'OK', (i) => Object.assign(i.disks[0]!, { partition_style: 'GPT', size: 3 * TiB }));
  expect('PARTITION_STYLE', 'WARN', 'NO_PARTITION_TABLE', (i) => Object.assign(i.disks[0]!, { partition_style: 'NONE' }));
});

test('FILE_SYSTEM: unknown and opaque WARN; a root the fix-up cannot open without virtio in the initramfs ERROR', () => {
  expect('FILE_SYSTEM', 'WARN', 'FS_UNKNOWN', (i) => (i.volume_groups[0]!.logical_volumes[1]!.file_system = 'reiserfs'), /vg0\/home \(reiserfs\)/);
  expect('FILE_SYSTEM', 'WARN', 'FS_OPAQUE', (i) => (i.disks[0]!.physical_volumes[2]!.file_system = 'crypto_LUKS'), /LUKS/);
  const zfsRoot = (i: WireInventory) => (i.volume_groups[0]!.logical_volumes[0]!.file_system = 'zfs');
  expect('FILE_SYSTEM', 'WARN', 'FS_UNKNOWN', zfsRoot, /zfs/);
  expect('FILE_SYSTEM', 'ERROR', 'ROOT_NOT_FIXABLE', (i) => {
    zfsRoot(i);
    i.drivers.initramfs = [];
  });
});

test('FREE_SPACE: the agent folder too small ERROR; no room for a snapshot of the LVs on the copied disk WARN', () => {
  expect('FREE_SPACE', 'ERROR', 'NO_SPACE', (i) => (i.agent_dir_free = 50 * MiB));
  // root 10 GiB + home 5 GiB need 20 % each: 3 GiB; 1 GiB free is too little.
  expect('FREE_SPACE', 'WARN', 'NO_SNAPSHOT_ROOM', (i) => (i.volume_groups[0]!.free_size = 2 ** 30), /vg0 has 1024 MiB free, a snapshot of root, home needs 3072 MiB/);
  // A VG on a disk that is not copied does not matter.
  expect('FREE_SPACE', 'OK', 'OK', (i) => {
    i.volume_groups[0]!.free_size = 0;
    i.volume_groups[0]!.physical_volumes![0]!.disk = null;
  });
});

test('OEM_SYSTEM: a vendor appliance WARNs', () => {
  expect('OEM_SYSTEM', 'WARN', 'OEM_SYSTEM', (i) => (i.oem_system = true));
});

test('DRIVER_FILE: in the initramfs or built in OK, installable WARN, nowhere ERROR', () => {
  expect('DRIVER_FILE', 'OK', 'OK', (i) => Object.assign(i.drivers, { initramfs: [], builtin: ['virtio_blk'] }), /built into the kernel/);
  expect('DRIVER_FILE', 'WARN', 'VIRTIO_NOT_IN_INITRAMFS', (i) => (i.drivers.initramfs = []), /OS fix-up adds them/);
  expect('DRIVER_FILE', 'ERROR', 'VIRTIO_MISSING', (i) => Object.assign(i.drivers, { initramfs: ['virtio_net'], installable: ['virtio_net'] }), /linux-modules-extra/);
});

test('SERVICE: running databases WARN with their names', () => {
  expect('SERVICE', 'WARN', 'SERVICES_RUNNING', (i) => (i.services.running = ['mysql', 'postgresql']), /mysql, postgresql running/);
});

test('ACCOUNT_RIGHTS: not root ERROR, root without CAP_SYS_ADMIN WARN', () => {
  expect('ACCOUNT_RIGHTS', 'ERROR', 'NOT_ROOT', (i) => (i.uid = 1000), /sudo/);
  expect('ACCOUNT_RIGHTS', 'WARN', 'NO_SYS_ADMIN', (i) => (i.cap_sys_admin = false));
});

test('host facts: process names to services, capabilities, MemAvailable, virtio names', () => {
  assert.deepEqual(blockingServices(['bash', 'mysqld', 'postgres', 'postgres', 'ora_pmon_ORCL', 'sshd']), ['mysql', 'oracle', 'postgresql']);
  assert.equal(hasSysAdmin('CapEff:\t000001ffffffffff\n'), true);
  assert.equal(hasSysAdmin('CapEff:\t0000000000000000\n'), false);
  assert.equal(memoryAvailable('MemTotal: 100 kB\nMemAvailable:    2048 kB\n'), 2 * MiB);
  assert.deepEqual(virtioNames('usr/lib/modules/6.1/kernel/drivers/block/virtio_blk.ko.xz\nx/drivers/net/virtio_net.ko\n'), ['virtio_blk', 'virtio_net']);
});

test('DRIVER_FILE facts from crafted module and sysfs trees: builtin, installable, loaded modules are not builtin', () => {
  const root = mkdtempSync(join(tmpdir(), 'rehost-drivers-'));
  try {
    const kernel = '9.9.9-test';
    const mods = join(root, 'modules');
    mkdirSync(join(mods, kernel, 'kernel/drivers/block'), { recursive: true });
    mkdirSync(join(mods, kernel, 'kernel/drivers/virtio'), { recursive: true });
    writeFileSync(join(mods, kernel, 'kernel/drivers/block/virtio_blk.ko.zst'), '');
    writeFileSync(join(mods, kernel, 'kernel/drivers/virtio/virtio_pci.ko'), '');
    writeFileSync(join(mods, kernel, 'modules.builtin'), 'kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\n');
    const sys = join(root, 'sys');
    mkdirSync(join(sys, 'bus/virtio/drivers/virtio_net'), { recursive: true });
    mkdirSync(join(sys, 'module/virtio_net'), { recursive: true });
    mkdirSync(join(sys, 'module/virtio_scsi'), { recursive: true });
    writeFileSync(join(sys, 'module/virtio_scsi/initstate'), 'live\n');
    const d = collectDrivers(kernel, mods, sys);
    assert.deepEqual(d.builtin, ['virtio', 'virtio_net', 'virtio_ring'], 'modules.builtin and sysfs drivers without initstate');
    assert.deepEqual(d.installable, ['virtio_pci', 'virtio_blk']);
    const inv = craftedInventory();
    inv.drivers = d;
    const c = environmentChecks(inv).find((x) => x.id === 'DRIVER_FILE')!;
    assert.equal(c.severity, 'WARN', c.reason);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
