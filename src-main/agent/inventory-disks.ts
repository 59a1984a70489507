/**
 * Disks and their partitions for the inventory (seed 002 `disks[].physical_volumes`). The
 * partition table is read from the disk itself (sfdisk --json), so it is found even where the
 * kernel made no partition devices; each partition's file system is then read from the device
 * that shows it (its partition device, or a loop device over the same bytes at its offset), or
 * probed by blkid at its offset on the disk. Mount points and usage come from the mount table.
 */
import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import type { DeviceUse, ServerDisk, ServerPartition } from '../../src-shared/api/inventory.js';
import { allLoops, byteSource, type LoopInfo } from './loop-info.js';
import { mountOf, usageOf, type MountEntry } from './mounts.js';
import { partitionStyle, readText, run } from './probe.js';

export interface TableEntry {
  index: number;
  /** Bytes from the start of the disk. */
  start: number;
  size: number;
  type: string;
  uuid: string | null;
  bootable: boolean;
}

export interface PartitionTable {
  style: 'MBR' | 'GPT' | 'NONE';
  entries: TableEntry[];
}

/** MBR types of extended partitions: containers of logical ones, with no file system of their own. */
const EXTENDED = new Set(['5', 'f', '85']);
const ESP_GPT = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
const BIOS_BOOT_GPT = '21686148-6449-6E6F-744E-656564454649';

/** True for a partition type that holds a boot loader: an EFI system partition or a BIOS boot partition. */
export function isBootType(type: string | null | undefined): boolean {
  const t = (type ?? '').toUpperCase();
  return t === ESP_GPT || t === BIOS_BOOT_GPT || t === 'EF';
}

export const isBiosBootType = (type: string | null | undefined): boolean => (type ?? '').toUpperCase() === BIOS_BOOT_GPT;
export const isEspType = (type: string | null | undefined): boolean => ['EF', ESP_GPT].includes((type ?? '').toUpperCase());

/** Parses `sfdisk --json` output. Pure. */
export function parseSfdisk(text: string): PartitionTable | null {
  let table: { label?: string; sectorsize?: number; partitions?: { node: string; start: number; size: number; type: string; uuid?: string; bootable?: boolean }[] };
  try {
    table = (JSON.parse(text) as { partitiontable: typeof table }).partitiontable;
  } catch {
    return null;
  }
  const sector = table.sectorsize ?? 512;
  const style = table.label === 'gpt' ? 'GPT' : table.label === 'dos' ? 'MBR' : 'NONE';
  const entries = (table.partitions ?? [])
    .filter((p) => !(style === 'MBR' && EXTENDED.has(p.type.toLowerCase())))
    .map((p) => ({ index: Number(/(\d+)$/.exec(p.node)?.[1] ?? 0), start: p.start * sector, size: p.size * sector, type: p.type, uuid: p.uuid ?? null, bootable: p.bootable === true }));
  return { style, entries };
}

/** `blkid -p -o export` of a device, optionally at an offset into it: TYPE, UUID, LABEL … */
export function probeFs(device: string, offset?: number, size?: number): Record<string, string> {
  const args = ['-p', '-o', 'export', ...(offset !== undefined ? ['-O', String(offset)] : []), ...(size !== undefined ? ['-S', String(size)] : []), device];
  const out: Record<string, string> = {};
  for (const line of (run('blkid', args) ?? '').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export interface DiskContext {
  mounts: MountEntry[];
  loops: LoopInfo[];
  /** Used bytes of LVM physical volumes by device node. */
  pvUsed: Map<string, number>;
  /** The use of the LVs on a PV (OS when / is on one of them), by device node. */
  pvUse: Map<string, DeviceUse>;
}

export function diskContext(mounts: MountEntry[], pvUsed = new Map<string, number>(), pvUse = new Map<string, DeviceUse>()): DiskContext {
  return { mounts, loops: allLoops(), pvUsed, pvUse };
}

/** The kernel's name for partition `index` of disk `name` (sda1, nvme0n1p1, loop0p1). */
export function partitionName(disk: string, index: number): string {
  return /\d$/.test(disk) ? `${disk}p${index}` : `${disk}${index}`;
}

/** The device that shows this partition's bytes: its partition device or a loop over them, or null. */
function partitionNode(disk: string, children: string[], entry: TableEntry, ctx: DiskContext): string | null {
  for (const child of children) {
    const start = Number(readText(`/sys/class/block/${child}/start`)?.trim());
    if (start * 512 === entry.start) return `/dev/${child}`;
  }
  const { source, base } = byteSource(disk);
  const alias = ctx.loops.find((l) => l.backingFile === source && l.offset === base + entry.start && l.device !== disk);
  return alias?.device ?? null;
}

function resolve(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

export function useOf(mount: string | null, type: string | null, fallback: DeviceUse = 'NORMAL'): DeviceUse {
  if (mount === '/') return 'OS';
  if (mount === '/boot' || mount === '/boot/efi' || mount === '/efi' || isBootType(type)) return 'BOOT';
  return fallback;
}

function partition(disk: string, diskName: string, children: string[], entry: TableEntry, ctx: DiskContext, found: FsAt[]): ServerPartition {
  const node = partitionNode(disk, children, entry, ctx);
  const fs = node !== null ? probeFs(node) : probeFs(disk, entry.start, entry.size);
  const mount = node !== null ? mountOf(ctx.mounts, resolve(node)) : null;
  const usage = mount !== null ? usageOf(mount.mountPoint) : null;
  const fsType = fs.TYPE ?? null;
  const pvUsed = node !== null && fsType === 'LVM2_member' ? (ctx.pvUsed.get(resolve(node)) ?? null) : null;
  if (fsType !== null) found.push({ fsType, device: disk, offset: entry.start, node: node === null ? null : resolve(node) });
  return {
    name: node !== null && !node.startsWith('/dev/loop') ? basename(node) : partitionName(diskName, entry.index),
    index: entry.index,
    device_use: useOf(mount?.mountPoint ?? null, entry.type, node !== null ? (ctx.pvUse.get(resolve(node)) ?? 'NORMAL') : 'NORMAL'),
    file_system: fsType,
    mount_point: mount?.mountPoint ?? null,
    size: entry.size,
    used_size: usage?.used ?? pvUsed,
    inode_nums: usage?.inodes ?? null,
    uuid: fs.UUID ?? null,
    offset: entry.start,
    part_type: entry.type,
    label: fs.LABEL ?? null,
  };
}

/** A file system found on a disk: where its bytes start, and the device node that shows it alone (if any). */
export interface FsAt {
  fsType: string;
  device: string;
  offset: number;
  node: string | null;
}

/**
 * One disk with its partitions; `children` are the kernel's partition devices of it (names).
 * The file systems found on it are added to `found` (btrfs details are read from there).
 */
export function collectDisk(path: string, name: string, size: number, serial: string | null, children: string[], ctx: DiskContext, found: FsAt[] = []): ServerDisk {
  const table = parseSfdisk(run('sfdisk', ['--json', path]) ?? '') ?? { style: partitionStyle(path), entries: [] };
  const parts = table.entries.map((e) => partition(path, name, children, e, ctx, found));
  const whole = parts.length === 0 ? probeFs(path) : {};
  if (whole.TYPE !== undefined) found.push({ fsType: whole.TYPE, device: path, offset: 0, node: resolve(path) });
  const wholeMount = parts.length === 0 ? mountOf(ctx.mounts, resolve(path)) : null;
  const wholeUsed = wholeMount !== null ? (usageOf(wholeMount.mountPoint)?.used ?? 0) : (ctx.pvUsed.get(resolve(path)) ?? 0);
  const uses = parts.map((p) => p.device_use);
  const wholeUse = parts.length === 0 ? useOf(wholeMount?.mountPoint ?? null, null, ctx.pvUse.get(resolve(path)) ?? 'NORMAL') : 'NORMAL';
  return {
    name,
    path,
    partition_style: table.style,
    device_use: uses.includes('BOOT') ? 'BOOT' : uses.includes('OS') || wholeUse === 'OS' ? 'OS' : wholeUse,
    size,
    used_size: parts.length > 0 ? parts.reduce((sum, p) => sum + (p.used_size ?? 0), 0) : wholeUsed,
    os_disk: uses.includes('OS') || wholeUse === 'OS',
    relation_name: null,
    physical_volumes: parts,
    file_system: whole.TYPE ?? null,
    serial,
  };
}
