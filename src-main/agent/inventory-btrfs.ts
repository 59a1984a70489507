/**
 * Btrfs for the inventory (seed 002 `btrfs_list`): the superblock is read from the device itself
 * (at any offset, so a partition without a partition device is described too), and a mounted file
 * system adds its profiles, subvolumes and default subvolume from the `btrfs` tool. The parsers
 * are pure.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { ServerBtrfs } from '../../src-shared/api/inventory.js';
import type { MountEntry } from './mounts.js';
import { run } from './probe.js';

/** The primary superblock sits 64 KiB into the file system. */
const SUPER_OFFSET = 0x10000;
const SUPER_BYTES = 0x1000;

export interface BtrfsSuper {
  uuid: string;
  label: string;
  totalBytes: number;
  bytesUsed: number;
  sectorsize: number;
  nodesize: number;
}

const uuidOf = (b: Buffer): string => {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};

/** Decodes a btrfs superblock (fields at their on-disk offsets), or null when the magic is absent. Pure. */
export function parseBtrfsSuper(b: Buffer): BtrfsSuper | null {
  if (b.length < 0x22b || b.toString('latin1', 0x40, 0x48) !== '_BHRfS_M') return null;
  return {
    uuid: uuidOf(b.subarray(0x20, 0x30)),
    label: b.toString('utf8', 0x12b, 0x22b).replace(/\0[\s\S]*$/, ''),
    totalBytes: Number(b.readBigUInt64LE(0x70)),
    bytesUsed: Number(b.readBigUInt64LE(0x78)),
    sectorsize: b.readUInt32LE(0x90),
    nodesize: b.readUInt32LE(0x94),
  };
}

export function readBtrfsSuper(device: string, offset: number): BtrfsSuper | null {
  let fd: number | null = null;
  try {
    fd = openSync(device, 'r');
    const b = Buffer.alloc(SUPER_BYTES);
    readSync(fd, b, 0, SUPER_BYTES, offset + SUPER_OFFSET);
    return parseBtrfsSuper(b);
  } catch {
    return null;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

export interface BtrfsDf {
  data: string;
  system: string;
  metadata: string;
  globalReserve: string;
  used: number;
}

/** `btrfs filesystem df -b` lines: `Data, single: total=8388608, used=0`. Pure. */
export function parseBtrfsDf(text: string): BtrfsDf {
  const out: BtrfsDf = { data: '', system: '', metadata: '', globalReserve: '', used: 0 };
  for (const line of text.split('\n')) {
    const m = /^(\w+), ([\w\d]+): (total=(\d+), used=(\d+))/.exec(line.trim());
    if (!m) continue;
    const [, kind, profile, sizes, , used] = m;
    if (kind === 'Data') out.data = profile!;
    else if (kind === 'System') out.system = profile!;
    else if (kind === 'Metadata') out.metadata = profile!;
    else if (kind === 'GlobalReserve') out.globalReserve = sizes!;
    if (kind !== 'GlobalReserve') out.used += Number(used);
  }
  return out;
}

export interface Subvolume {
  id: string;
  parentId: string;
  parentUuid: string;
  uuid: string;
  path: string;
}

/** `btrfs subvolume list -a -p -u -q` lines. Pure. */
export function parseSubvolumes(text: string): Subvolume[] {
  const out: Subvolume[] = [];
  for (const line of text.split('\n')) {
    const m = /^ID (\d+) .*?\bparent (\d+) .*?\bparent_uuid (\S+)\s+uuid (\S+) path (.+)$/.exec(line.trim());
    if (m) out.push({ id: m[1]!, parentId: m[2]!, parentUuid: m[3] === '-' ? '' : m[3]!, uuid: m[4]!, path: m[5]!.replace(/^<FS_TREE>\//, '') });
  }
  return out;
}

/** `btrfs subvolume get-default`: `ID 5 (FS_TREE)` or `ID 256 gen 9 top level 5 path @`. Pure. */
export function parseDefault(text: string): { id: string; name: string } {
  const m = /^ID (\d+)(?: \((\S+)\)|.* path (.+))?/.exec(text.trim());
  return { id: m?.[1] ?? '5', name: m?.[2] ?? m?.[3] ?? 'FS_TREE' };
}

/** Where a subvolume is mounted: its own mount (`subvol=/@home`), or its path under the top level's mount. */
function subvolMount(mounts: readonly MountEntry[], device: string, path: string, topMount: string | null): string {
  const own = mounts.find((m) => m.device === device && m.fsType === 'btrfs' && m.options.split(',').some((o) => o === `subvol=/${path}`));
  if (own) return own.mountPoint;
  return topMount === null ? '' : `${topMount.replace(/\/$/, '')}/${path}`;
}

/**
 * One btrfs file system. `device` reads its bytes from `offset`; `node` is the device node that
 * is mounted (null: none shows it on its own); `mounts` is the mount table.
 */
export function btrfsEntry(device: string, offset: number, node: string | null, mounts: readonly MountEntry[]): ServerBtrfs | null {
  const sb = readBtrfsSuper(device, offset);
  if (sb === null) return null;
  const mine = node === null ? [] : mounts.filter((m) => m.device === node && m.fsType === 'btrfs');
  const top = mine.find((m) => /(^|,)subvolid=5(,|$)/.test(m.options) || /(^|,)subvol=\/(,|$)/.test(m.options)) ?? null;
  const any = top ?? mine[0] ?? null;
  const df = any !== null ? parseBtrfsDf(run('btrfs', ['filesystem', 'df', '-b', any.mountPoint]) ?? '') : null;
  const list = any !== null ? parseSubvolumes(run('btrfs', ['subvolume', 'list', '-a', '-p', '-u', '-q', any.mountPoint]) ?? '') : [];
  const snapshots = new Set(any !== null ? parseSubvolumes((run('btrfs', ['subvolume', 'list', '-a', '-p', '-u', '-q', '-s', any.mountPoint]) ?? '').replace(/ cgen \d+/g, '')).map((s) => s.id) : []);
  const def = any !== null ? parseDefault(run('btrfs', ['subvolume', 'get-default', any.mountPoint]) ?? '') : { id: '5', name: 'FS_TREE' };
  const name = node ?? `${device}@${offset}`;
  return {
    name,
    label: sb.label,
    uuid: sb.uuid,
    device: name,
    size: sb.bytesUsed,
    nodesize: sb.nodesize,
    sectorsize: sb.sectorsize,
    data_profile: df?.data ?? '',
    system_profile: df?.system ?? '',
    metadata_profile: df?.metadata ?? '',
    global_reserve1: df?.globalReserve ?? '',
    g_vol_used_size: df?.used ?? sb.bytesUsed,
    default_subvolid: def.id,
    default_subvol_name: def.name,
    default_subvol_mountpath: any?.mountPoint ?? '',
    subvolumn: list.map((s) => ({
      uuid: sb.uuid,
      is_snapshot: String(snapshots.has(s.id)),
      subvol_id: s.id,
      parent_id: s.parentId,
      subvol_name: s.path,
      subvol_mount_path: node === null ? '' : subvolMount(mounts, node, s.path, top?.mountPoint ?? null),
      subvol_uuid: s.uuid,
      parent_uuid: s.parentUuid,
    })),
  };
}
