/** Environment checks (seed 002) from an inventory: OK / WARN / ERROR with a reason each. Pure. */
import type { WireCheck, WireInventory } from '../replication/wire/inventory.js';

type Level = WireCheck['severity'];

function check(id: string, severity: Level, code: string, reason: string, params: WireCheck['params'] = {}): WireCheck {
  return { id, ok: severity !== 'ERROR', severity, code, reason, params };
}

/** The runtime shipped for the agent (Node 22) needs glibc ≥ 2.28. */
const MIN_GLIBC = [2, 28];
const MIN_MEMORY = 512 * 1024 * 1024;
const MIN_FREE = 200 * 1024 * 1024;
const KNOWN_FS = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat', 'swap', 'LVM2_member']);
const OEM = /(hana|exadata|oracle appliance)/i;

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
  const p = { os_version: inv.osVersion, kernel: inv.kernel, glibc: inv.glibc ?? 'unknown', arch: inv.arch };
  if (inv.arch !== 'x64' && inv.arch !== 'arm64') return check('OS_VERSION', 'ERROR', 'ARCH_UNSUPPORTED', `architecture ${inv.arch} has no agent runtime (x86_64 and aarch64 only)`, p);
  if (!glibcOk(inv.glibc)) return check('OS_VERSION', 'ERROR', 'GLIBC_TOO_OLD', glibcReason(inv.glibc), p);
  return check('OS_VERSION', 'OK', 'OK', `${inv.osVersion}, kernel ${inv.kernel}`, p);
}

function diskChecks(inv: WireInventory): WireCheck[] {
  const styles = [...new Set(inv.disks.map((d) => d.partitionStyle))].join(',');
  const fs = [...new Set(inv.disks.flatMap((d) => [d.fsType, ...d.partitions.map((p) => p.fsType)]).filter((f): f is string => !!f))];
  const unknown = fs.filter((f) => !KNOWN_FS.has(f));
  return [
    inv.disks.length === 0
      ? check('PARTITION_STYLE', 'ERROR', 'NO_DISKS', 'no disk found to migrate (name them in config.disks)')
      : inv.disks.every((d) => d.partitionStyle === 'NONE')
        ? check('PARTITION_STYLE', 'WARN', 'NO_PARTITION_TABLE', 'no MBR or GPT partition table: the disks are copied as they are', { partition_style: styles })
        : check('PARTITION_STYLE', 'OK', 'OK', `partition tables: ${styles}`, { partition_style: styles }),
    unknown.length > 0
      ? check('FILE_SYSTEM', 'WARN', 'FS_UNKNOWN', `file systems ${unknown.join(', ')} are copied block by block without OS fixes`, { file_systems: fs.join(',') })
      : check('FILE_SYSTEM', 'OK', 'OK', fs.length > 0 ? `file systems: ${fs.join(', ')}` : 'no file system signature found', { file_systems: fs.join(',') }),
  ];
}

function resourceChecks(inv: WireInventory): WireCheck[] {
  const root = inv.mounts.find((m) => m.mountPoint === '/');
  const tmp = inv.mounts.filter((m) => m.mountPoint === '/tmp' || m.mountPoint === '/').sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
  return [
    check('CPU', inv.cpus >= 1 ? 'OK' : 'ERROR', inv.cpus >= 1 ? 'OK' : 'NO_CPU', `${inv.cpus} × ${inv.cpuModel}`, { cpus: inv.cpus }),
    inv.memoryBytes < MIN_MEMORY
      ? check('MEMORY', 'WARN', 'LOW_MEMORY', `${Math.round(inv.memoryBytes / 2 ** 20)} MiB: the agent needs about 100 MiB while it runs`, { memory_bytes: inv.memoryBytes })
      : check('MEMORY', 'OK', 'OK', `${Math.round(inv.memoryBytes / 2 ** 20)} MiB`, { memory_bytes: inv.memoryBytes }),
    root === undefined
      ? check('SYSTEM_ROOT', 'WARN', 'ROOT_UNKNOWN', 'the root file system was not found in the mount table')
      : check('SYSTEM_ROOT', 'OK', 'OK', `/ is ${root.device} (${root.fsType})`, { device: root.device, fs_type: root.fsType }),
    tmp === undefined || tmp.freeBytes >= MIN_FREE
      ? check('FREE_SPACE', 'OK', 'OK', tmp ? `${Math.round(tmp.freeBytes / 2 ** 20)} MiB free for the agent under ${tmp.mountPoint}` : 'free space not measured', { free_bytes: tmp?.freeBytes ?? -1 })
      : check('FREE_SPACE', 'ERROR', 'NO_SPACE', `only ${Math.round(tmp.freeBytes / 2 ** 20)} MiB free under ${tmp.mountPoint}; the agent and its runtime need ${MIN_FREE / 2 ** 20} MiB`, { free_bytes: tmp.freeBytes }),
  ];
}

function systemChecks(inv: WireInventory): WireCheck[] {
  const virtio = inv.initramfsDrivers;
  return [
    check('FIRMWARE', 'OK', 'OK', inv.firmware === 'uefi' ? 'boots with UEFI' : 'boots with BIOS', { firmware: inv.firmware }),
    OEM.test(inv.osVersion) ? check('OEM_SYSTEM', 'WARN', 'OEM_SYSTEM', `${inv.osVersion} is an OEM appliance image; check its license allows migration`) : check('OEM_SYSTEM', 'OK', 'OK', 'not an OEM appliance'),
    virtio.includes('virtio_blk') || virtio.includes('virtio_scsi')
      ? check('DRIVER_FILE', 'OK', 'OK', `virtio drivers in the initramfs: ${virtio.join(', ')}`, { drivers: virtio.join(',') })
      : check('DRIVER_FILE', 'WARN', 'VIRTIO_MISSING', 'no virtio block driver in the initramfs: the OS fix adds it before the first boot on KVM/OpenStack', { drivers: virtio.join(',') }),
    check('SERVICE', inv.services.sshd ? 'OK' : 'WARN', inv.services.sshd ? 'OK' : 'SSHD_NOT_SEEN', inv.services.sshd ? 'sshd runs; the engine keeps its session for the sync' : 'no sshd process seen (the session may be a container or a jump host)', { systemd: inv.services.systemd }),
    inv.uid === 0
      ? check('ACCOUNT_RIGHTS', 'OK', 'OK', 'the agent runs as root', { uid: inv.uid })
      : check('ACCOUNT_RIGHTS', 'ERROR', 'NOT_ROOT', `the agent runs as uid ${inv.uid}: reading disks needs root (set "sudo": true with passwordless sudo)`, { uid: inv.uid }),
  ];
}

/** The checks in the order the UI lists them. */
export function environmentChecks(inv: WireInventory): WireCheck[] {
  return [osCheck(inv), ...systemChecks(inv).slice(0, 1), ...resourceChecks(inv), ...diskChecks(inv), ...systemChecks(inv).slice(1)];
}
