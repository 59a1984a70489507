/**
 * Environment checks (seed 002) from an inventory: OK / WARN / ERROR with a reason each. Pure:
 * crafted inventories test every branch. What each level means: ERROR, the migration cannot
 * work as configured (the UI refuses to register the host); WARN, it works but needs the
 * user's attention or an extra step; OK, nothing to do.
 */
import type { ServerDisk } from '../../src-shared/api/inventory.js';
import type { WireCheck, WireInventory } from '../replication/wire/inventory.js';
import { check, diskChecks } from './checks-disks.js';
import { SNAPSHOT_MAX, SNAPSHOT_MIN, SNAPSHOT_SHARE } from './consistency.js';

/** The runtime shipped for the agent (Node 22) needs glibc ≥ 2.28. */
const MIN_GLIBC = [2, 28];
const MiB = 2 ** 20;
/** Below this much available memory the agent (up to ~200 MB while it copies) cannot run safely. */
export const MIN_AVAILABLE = 128 * MiB;
export const LOW_AVAILABLE = 256 * MiB;
export const LOW_TOTAL = 512 * MiB;
/** More vCPUs than the usual largest flavor: the target must offer one that big. */
export const MANY_CPUS = 64;
const NETWORK_FS = new Set(['nfs', 'nfs4', 'cifs', 'smb3', 'ceph', 'glusterfs', '9p', 'fuse.sshfs']);
const EPHEMERAL_FS = new Set(['overlay', 'tmpfs', 'rootfs', 'squashfs', 'aufs']);
const mib = (n: number): string => `${Math.round(n / MiB)} MiB`;

/** True for a glibc version (`2.36`) the shipped runtime runs on. Shared with the engine, which checks before it pushes. */
export function glibcOk(v: string | null): boolean {
  if (v === null) return false;
  const [a = 0, b = 0] = v.split('.').map(Number);
  return a > MIN_GLIBC[0]! || (a === MIN_GLIBC[0] && b >= MIN_GLIBC[1]!);
}

/** The OS_VERSION reason for a glibc that is too old (or missing: musl). */
export function glibcReason(v: string | null): string {
  return `glibc ${v ?? 'not found'}: the agent runtime needs glibc ≥ 2.28 (RHEL 8, Debian 10, Ubuntu 18.10 or newer)`;
}

function osCheck(inv: WireInventory): WireCheck {
  const p = { os_version: inv.os_version, kernel: inv.kernel ?? '', glibc: inv.glibc ?? 'unknown', arch: inv.arch };
  if (inv.arch !== 'x64' && inv.arch !== 'arm64') return check('OS_VERSION', 'ERROR', 'ARCH_UNSUPPORTED', `architecture ${inv.arch} has no agent runtime (x86_64 and aarch64 only)`, p);
  if (!glibcOk(inv.glibc)) return check('OS_VERSION', 'ERROR', 'GLIBC_TOO_OLD', glibcReason(inv.glibc), p);
  if (!/\d/.test(inv.os_version)) return check('OS_VERSION', 'WARN', 'OS_UNIDENTIFIED', `the distribution is not identified (/etc/os-release gives "${inv.os_version}"): the OS fix-up guesses its initramfs tool`, p);
  return check('OS_VERSION', 'OK', 'OK', `${inv.os_version}, kernel ${inv.kernel ?? 'unknown'}`, p);
}

const hasEsp = (disks: ServerDisk[]): boolean => disks.some((d) => d.physical_volumes.some((p) => p.file_system === 'vfat' && (p.device_use === 'BOOT' || p.mount_point === '/boot/efi')));

/**
 * What the targets boot: the Local and KVM targets start QEMU/libvirt guests with SeaBIOS and
 * the OpenStack target creates volumes without `hw_firmware_type`, so every target here boots
 * BIOS guests only.
 */
export const UEFI_TARGETS = 'the Local, KVM and OpenStack targets boot the copy with BIOS (SeaBIOS) only';

function firmwareCheck(inv: WireInventory): WireCheck {
  const p = { firmware: inv.firmware };
  if (inv.firmware === 'BIOS') return check('FIRMWARE', 'OK', 'OK', 'boots with BIOS, as every target here boots its copies', p);
  if (inv.disks.some((d) => d.os_disk) && !hasEsp(inv.disks)) {
    return check('FIRMWARE', 'ERROR', 'ESP_NOT_COPIED', 'boots with UEFI, but no EFI system partition is on the disks being copied: the copy cannot boot; add the disk that holds /boot/efi to config.disks', p);
  }
  return check('FIRMWARE', 'WARN', 'UEFI_TARGET', `boots with UEFI; ${UEFI_TARGETS}: install a BIOS boot loader too (grub-pc beside grub-efi) before cutover, or boot the copy on a hypervisor set up for UEFI`, p);
}

function cpuCheck(inv: WireInventory): WireCheck {
  const p = { cpu_quantity: inv.cpu_quantity, cpu_model: inv.cpu_model, arch: inv.arch };
  if (inv.cpu_quantity < 1) return check('CPU', 'ERROR', 'NO_CPU', 'no CPU was reported (/proc/cpuinfo unreadable)', p);
  if (inv.arch === 'arm64') return check('CPU', 'WARN', 'ARCH_TARGET', `${inv.cpu_quantity} × ${inv.cpu_model} (aarch64): the target must run aarch64 guests; the Local and KVM targets here boot x86_64 only`, p);
  if (inv.cpu_quantity > MANY_CPUS) return check('CPU', 'WARN', 'MANY_CPUS', `${inv.cpu_quantity} CPUs: choose a target flavor that large, or the copy runs with fewer`, p);
  return check('CPU', 'OK', 'OK', `${inv.cpu_quantity} × ${inv.cpu_model}`, p);
}

function memoryCheck(inv: WireInventory): WireCheck {
  const avail = inv.memory_available;
  const p = { memory: inv.memory, memory_available: avail ?? -1 };
  if (avail !== null && avail < MIN_AVAILABLE) return check('MEMORY', 'ERROR', 'NO_MEMORY', `only ${mib(avail)} available: the agent needs up to 200 MiB while it copies; free memory and retry`, p);
  if ((avail !== null && avail < LOW_AVAILABLE) || inv.memory < LOW_TOTAL) return check('MEMORY', 'WARN', 'LOW_MEMORY', `${mib(inv.memory)} in all, ${avail === null ? 'unknown' : mib(avail)} available: the agent's reads may slow the host down`, p);
  return check('MEMORY', 'OK', 'OK', `${mib(inv.memory)}, ${avail === null ? 'unknown' : mib(avail)} available`, p);
}

function rootCheck(inv: WireInventory): WireCheck {
  const p = { root_device: inv.root_device ?? '', root_fs_type: inv.root_fs_type ?? '' };
  const fs = inv.root_fs_type ?? '';
  if (NETWORK_FS.has(fs)) return check('SYSTEM_ROOT', 'ERROR', 'ROOT_NETWORK', `/ is on a network file system (${fs} ${inv.root_device}): it is not on a local disk, so a block copy cannot take it`, p);
  if (inv.root_device === null) return check('SYSTEM_ROOT', 'WARN', 'ROOT_UNKNOWN', 'the root file system was not found in the mount table', p);
  if (EPHEMERAL_FS.has(fs)) return check('SYSTEM_ROOT', 'WARN', 'ROOT_EPHEMERAL', `/ is ${fs}: a container or live system; the disks copied do not hold the running root`, p);
  const osDisk = inv.disks.find((d) => d.os_disk);
  if (osDisk === undefined) return check('SYSTEM_ROOT', 'WARN', 'ROOT_NOT_COPIED', `/ (${inv.root_device}, ${fs}) is not on the disks copied (${inv.disks.map((d) => d.path ?? d.name).join(', ') || 'none'}): the copy holds data only and will not boot`, p);
  return check('SYSTEM_ROOT', 'OK', 'OK', `/ is ${inv.root_device} (${fs}) on ${osDisk.path ?? osDisk.name}`, p);
}

/** The snapshot room a VG needs for its LVs on the copied disks, as consistency.ts sizes it. */
function snapshotNeed(sizes: number[]): number {
  return sizes.reduce((sum, s) => sum + Math.max(SNAPSHOT_MIN, Math.min(SNAPSHOT_MAX, Math.ceil(s * SNAPSHOT_SHARE))), 0);
}

/** The agent's folder needs room for itself and its runtime (≈ 120 MB unpacked). */
export const MIN_AGENT_FREE = 200 * MiB;

function freeSpaceCheck(inv: WireInventory): WireCheck {
  const copied = new Set(inv.disks.map((d) => d.path ?? d.name));
  const short: string[] = [];
  for (const vg of inv.volume_groups) {
    const onCopied = (vg.physical_volumes ?? []).some((pv) => pv.disk !== null && copied.has(pv.disk));
    const lvs = vg.logical_volumes.filter((lv) => onCopied || (lv.path !== undefined && copied.has(lv.path)));
    if (lvs.length === 0) continue;
    const need = snapshotNeed(lvs.map((lv) => lv.size));
    if (vg.free_size < need) short.push(`${vg.name} has ${mib(vg.free_size)} free, a snapshot of ${lvs.map((l) => l.name).join(', ')} needs ${mib(need)}`);
  }
  const p = { agent_dir_free: inv.agent_dir_free ?? -1, lvm_short: short.join('; ') };
  if (inv.agent_dir_free !== null && inv.agent_dir_free < MIN_AGENT_FREE) return check('FREE_SPACE', 'ERROR', 'NO_SPACE', `only ${mib(inv.agent_dir_free)} free where the agent runs; it and its runtime need ${mib(MIN_AGENT_FREE)}`, p);
  if (short.length > 0) return check('FREE_SPACE', 'WARN', 'NO_SNAPSHOT_ROOM', `${short.join('; ')}: the copy uses converging passes instead of a point-in-time snapshot (free extents with vgextend, or stop services for the final pass)`, p);
  return check('FREE_SPACE', 'OK', 'OK', `${inv.agent_dir_free === null ? 'unknown' : mib(inv.agent_dir_free)} free for the agent${inv.volume_groups.length > 0 ? '; room for LVM snapshots' : ''}`, p);
}

function oemCheck(inv: WireInventory): WireCheck {
  const p = { vendor: inv.dmi.vendor ?? '', product: inv.dmi.product ?? '' };
  if (inv.oem_system) return check('OEM_SYSTEM', 'WARN', 'OEM_SYSTEM', `${inv.os_version} on ${inv.dmi.product ?? 'this machine'} is a vendor appliance: check its license allows running it elsewhere`, p);
  return check('OEM_SYSTEM', 'OK', 'OK', 'not a vendor appliance', p);
}

const BLOCK = ['virtio_blk', 'virtio_scsi'];

function driverCheck(inv: WireInventory): WireCheck {
  const d = inv.drivers;
  const p = { initramfs: d.initramfs.join(','), builtin: d.builtin.join(','), installable: d.installable.join(','), initramfs_file: d.initramfs_file ?? '' };
  const where = [...BLOCK.filter((m) => d.builtin.includes(m)).map((m) => `${m} built into the kernel`), ...BLOCK.filter((m) => d.initramfs.includes(m)).map((m) => `${m} in ${d.initramfs_file}`)];
  if (where.length > 0) return check('DRIVER_FILE', 'OK', 'OK', `virtio block driver present: ${where.join(', ')}`, p);
  const files = BLOCK.filter((m) => d.installable.includes(m));
  if (files.length > 0) return check('DRIVER_FILE', 'WARN', 'VIRTIO_NOT_IN_INITRAMFS', `${files.join(', ')} not in the initramfs but installable (module files under /lib/modules/${inv.kernel}): the OS fix-up adds them before the first boot`, p);
  return check('DRIVER_FILE', 'ERROR', 'VIRTIO_MISSING', `no virtio block driver: not built into kernel ${inv.kernel}, not in the initramfs, no virtio_blk/virtio_scsi module under /lib/modules/${inv.kernel}/kernel/drivers: install the kernel's extra modules package (linux-modules-extra, kernel-modules) and retry`, p);
}

function serviceCheck(inv: WireInventory): WireCheck {
  const running = inv.services.running;
  const p = { services: running.join(','), systemd: inv.services.systemd };
  if (running.length > 0) return check('SERVICE', 'WARN', 'SERVICES_RUNNING', `${running.join(', ')} running: their data changes under the copy; list them in stop_source_services so the final pass runs with them stopped`, p);
  return check('SERVICE', 'OK', 'OK', 'no database, queue or container service running', p);
}

function rightsCheck(inv: WireInventory): WireCheck {
  const p = { uid: inv.uid, cap_sys_admin: inv.cap_sys_admin };
  if (inv.uid !== 0) return check('ACCOUNT_RIGHTS', 'ERROR', 'NOT_ROOT', `the agent runs as uid ${inv.uid}: reading disks needs root (set "sudo": true with passwordless sudo, or log in as root)`, p);
  if (!inv.cap_sys_admin) return check('ACCOUNT_RIGHTS', 'WARN', 'NO_SYS_ADMIN', 'root without CAP_SYS_ADMIN (a container?): fsfreeze and LVM snapshots are not possible, the copy uses converging passes', p);
  return check('ACCOUNT_RIGHTS', 'OK', 'OK', 'the agent runs as root', p);
}

/** The checks in the seed's order. */
export function environmentChecks(inv: WireInventory): WireCheck[] {
  const [partitions, fileSystems] = diskChecks(inv);
  return [osCheck(inv), firmwareCheck(inv), cpuCheck(inv), memoryCheck(inv), rootCheck(inv), partitions, fileSystems, freeSpaceCheck(inv), oemCheck(inv), driverCheck(inv), serviceCheck(inv), rightsCheck(inv)];
}
