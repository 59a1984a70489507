/**
 * The host inventory in seed 002's shape: OS, kernel, firmware, CPUs, memory, disks with
 * partitions and file systems, LVM volume groups, btrfs, NICs; plus the facts the checks need.
 * Everything is read tolerantly: a missing tool leaves a field empty, and the checks say what
 * that means.
 */
import { existsSync, realpathSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, resolve } from 'node:path';
import type { ServerBtrfs, ServerDisk } from '../../src-shared/api/inventory.js';
import type { WireInventory, WireMount } from '../replication/wire/inventory.js';
import { btrfsEntry } from './inventory-btrfs.js';
import { collectDisk, diskContext, probeFs, type FsAt } from './inventory-disks.js';
import { readLvm, volumeGroups, type VolumeGroups } from './inventory-lvm.js';
import { collectNetworks } from './inventory-net.js';
import { blockingServices, collectDrivers, dmi, hasSysAdmin, memoryAvailable, processNames } from './host-facts.js';
import { byteSource } from './loop-info.js';
import { mountOf, readMounts, usageOf, type MountEntry } from './mounts.js';
import { glibcVersion, parseKeyValues, readText, run } from './probe.js';

interface LsblkDevice {
  name: string;
  path?: string;
  size: number | string;
  type: string;
  serial?: string | null;
  children?: LsblkDevice[];
}

const DISK_NAME = /^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|nvme\d+n\d+|hd[a-z]+)$/;
const OEM = /(appliance|exadata|hana|nutanix|netapp|big-?ip|photon)/i;

function lsblk(paths: string[]): LsblkDevice[] {
  const out = run('lsblk', ['-J', '-b', '-o', 'NAME,PATH,SIZE,TYPE,SERIAL', ...paths]);
  if (out === null) return [];
  return (JSON.parse(out) as { blockdevices: LsblkDevice[] }).blockdevices;
}

const real = (p: string): string => {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
};

/** The disks to offer: the configured ones (in that order), or every real disk the kernel lists. */
function diskDevices(configured: string[]): LsblkDevice[] {
  if (configured.length === 0) return lsblk([]).filter((d) => d.type === 'disk' && DISK_NAME.test(d.name));
  const found = lsblk(configured);
  return configured.map((p) => found.find((d) => (d.path ?? `/dev/${d.name}`) === p)).filter((d): d is LsblkDevice => d !== undefined);
}

/** The copied disk a device lies on: the disk itself, a partition of it, or a loop over its bytes. */
function diskOfDevice(disks: LsblkDevice[], device: string): string | null {
  const node = real(device);
  const { source, base } = byteSource(node);
  for (const d of disks) {
    const path = d.path ?? `/dev/${d.name}`;
    if (real(path) === node || (d.children ?? []).some((c) => `/dev/${c.name}` === node)) return path;
    const disk = byteSource(path);
    const size = Number(d.size);
    if (disk.source === source && base >= disk.base && base < disk.base + size && node !== real(path)) return path;
  }
  return null;
}

function lvm(disks: LsblkDevice[], mounts: MountEntry[]): VolumeGroups {
  return volumeGroups(readLvm(), {
    resolve: real,
    diskOf: (pv) => diskOfDevice(disks, pv),
    describe: (lvPath) => {
      const mount = mountOf(mounts, real(lvPath));
      return { fsType: probeFs(lvPath).TYPE ?? null, mountPoint: mount?.mountPoint ?? null, usage: mount === null ? null : usageOf(mount.mountPoint) };
    },
  });
}

/** Btrfs file systems on the copied disks and LVs, and any other mounted one; one entry per uuid. */
function btrfsList(found: FsAt[], groups: VolumeGroups, mounts: MountEntry[]): ServerBtrfs[] {
  const places = found.filter((f) => f.fsType === 'btrfs');
  for (const vg of groups.groups) for (const lv of vg.logical_volumes) if (lv.file_system === 'btrfs' && lv.path) places.push({ fsType: 'btrfs', device: lv.path, offset: 0, node: real(lv.path) });
  for (const m of mounts) if (m.fsType === 'btrfs' && m.device.startsWith('/dev/') && !places.some((p) => p.node === m.device)) places.push({ fsType: 'btrfs', device: m.device, offset: 0, node: m.device });
  const out = new Map<string, ServerBtrfs>();
  for (const p of places) {
    const entry = btrfsEntry(p.device, p.offset, p.node, mounts);
    if (entry !== null && !out.has(entry.uuid)) out.set(entry.uuid, entry);
  }
  return [...out.values()];
}

/** Mounted file systems on devices, and `/` whatever it is, with their size and free bytes. */
function mountList(mounts: MountEntry[]): WireMount[] {
  const out: WireMount[] = [];
  for (const m of mounts) {
    if (!(m.device.startsWith('/dev/') || m.mountPoint === '/') || out.some((o) => o.mount_point === m.mountPoint)) continue;
    const u = usageOf(m.mountPoint);
    out.push({ device: m.device, mount_point: m.mountPoint, fs_type: m.fsType, size: u?.size ?? 0, free: u?.free ?? 0 });
  }
  return out;
}

function disksOf(devices: LsblkDevice[], mounts: MountEntry[], groups: VolumeGroups, found: FsAt[]): ServerDisk[] {
  const ctx = diskContext(mounts, groups.pvUsed, groups.pvUse);
  return devices.map((d) => collectDisk(d.path ?? `/dev/${d.name}`, d.name, Number(d.size), d.serial ?? null, (d.children ?? []).filter((c) => c.type === 'part').map((c) => c.name), ctx, found));
}

/**
 * Collects the inventory; `configured` are the disks named in the source's config.
 * `agentDir` is where the agent runs (its free space is a FREE_SPACE fact).
 */
export function collectInventory(configured: string[], agentDir = dirname(resolve(process.argv[1] ?? '.'))): WireInventory {
  const rel = parseKeyValues(readText('/etc/os-release'));
  const cpuinfo = readText('/proc/cpuinfo') ?? '';
  const mounts = readMounts();
  const devices = diskDevices(configured);
  const groups = lvm(devices, mounts);
  const found: FsAt[] = [];
  const disks = disksOf(devices, mounts, groups, found);
  const root = mounts.find((m) => m.mountPoint === '/') ?? null;
  const osVersion = rel.PRETTY_NAME ?? `${rel.NAME ?? 'Linux'} ${rel.VERSION_ID ?? ''}`.trim();
  const machine = dmi();
  const kernel = os.release();
  const comms = processNames();
  return {
    hostname: os.hostname(),
    os_type: 'LINUX',
    os_version: osVersion,
    oem_system: OEM.test(`${osVersion} ${rel.VARIANT ?? ''} ${machine.product ?? ''}`),
    firmware: existsSync('/sys/firmware/efi') ? 'UEFI' : 'BIOS',
    cpu_quantity: os.cpus().length,
    memory: os.totalmem(),
    disks,
    volume_groups: groups.groups,
    btrfs_list: btrfsList(found, groups, mounts),
    networks: collectNetworks(),
    kernel,
    arch: os.arch(),
    glibc: glibcVersion(),
    cpu_model: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
    memory_available: memoryAvailable(),
    root_device: root?.device ?? null,
    root_fs_type: root?.fsType ?? null,
    mounts: mountList(mounts),
    agent_dir_free: usageOf(agentDir)?.free ?? null,
    drivers: collectDrivers(kernel),
    services: { running: blockingServices(comms), sshd: comms.includes('sshd'), systemd: existsSync('/run/systemd/system') },
    uid: process.getuid?.() ?? -1,
    cap_sys_admin: hasSysAdmin(),
    dmi: machine,
    consistency: existsSync('/dev/mapper/control') && groups.groups.some((vg) => vg.free_size > 0) ? 'lvm-snapshot' : 'converging-passes',
  };
}
