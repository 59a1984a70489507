/**
 * LVM for the inventory (seed 002 `volume_groups` with their logical volumes, plus the physical
 * volumes each group is made of). Reads `pvs`/`vgs`/`lvs` JSON reports in bytes; building the
 * groups from the reports is pure, so recorded reports test it.
 */
import type { DeviceUse, ServerLogicalVolume, ServerVolumeGroup } from '../../src-shared/api/inventory.js';
import { run } from './probe.js';

export type LvmRow = Record<string, string>;

export interface LvmReport {
  pvs: LvmRow[];
  vgs: LvmRow[];
  lvs: LvmRow[];
}

/** The rows of an LVM JSON report (`{"report":[{"pv":[…]}]}`), or [] when it is not one. Pure. */
export function parseLvmRows(text: string | null, key: 'pv' | 'vg' | 'lv'): LvmRow[] {
  if (text === null) return [];
  try {
    return (JSON.parse(text) as { report: Record<string, LvmRow[]>[] }).report[0]?.[key] ?? [];
  } catch {
    return [];
  }
}

const REPORT = ['--reportformat', 'json', '--units', 'b', '--nosuffix'];

/** Runs the three reports; an empty report when LVM is not installed. */
export function readLvm(): LvmReport {
  return {
    pvs: parseLvmRows(run('pvs', [...REPORT, '-o', 'pv_name,vg_name,pv_size,pv_free']), 'pv'),
    vgs: parseLvmRows(run('vgs', [...REPORT, '-o', 'vg_name,vg_size,vg_free,vg_extent_size']), 'vg'),
    lvs: parseLvmRows(run('lvs', [...REPORT, '-o', 'lv_name,vg_name,lv_size,lv_path,lv_attr']), 'lv'),
  };
}

/** What the host knows about an LV's file system: type, mount point and usage (null when unmounted). */
export interface LvFacts {
  fsType: string | null;
  mountPoint: string | null;
  usage: { size: number; used: number; free: number; blockSize: number; blocks: number; inodes: number } | null;
}

export interface LvmLookups {
  describe(lvPath: string): LvFacts;
  /** The copied disk a PV lies on, or null. */
  diskOf(pvName: string): string | null;
  /** A PV's resolved device node (its key in the maps below). */
  resolve(pvName: string): string;
}

export interface VolumeGroups {
  groups: ServerVolumeGroup[];
  /** Used bytes per PV device node. */
  pvUsed: Map<string, number>;
  /** OS for the PVs of a group whose LVs hold /, BOOT for /boot, by PV device node. */
  pvUse: Map<string, DeviceUse>;
}

function lvUse(mount: string | null): DeviceUse {
  if (mount === '/') return 'OS';
  return mount === '/boot' ? 'BOOT' : 'NORMAL';
}

function logicalVolume(r: LvmRow, facts: LvFacts): ServerLogicalVolume {
  const u = facts.usage;
  return {
    name: r.lv_name ?? '',
    path: r.lv_path ?? `/dev/${r.vg_name}/${r.lv_name}`,
    file_system: facts.fsType,
    mount_point: facts.mountPoint,
    size: Number(r.lv_size ?? 0),
    used_size: u?.used ?? null,
    free_size: u?.free ?? null,
    block_count: u?.blocks ?? 0,
    block_size: u?.blockSize ?? 0,
    inode_nums: u?.inodes ?? null,
    device_use: lvUse(facts.mountPoint),
  };
}

/** Groups with their PVs and LVs (snapshots of ours left over are not listed as volumes). Pure given the lookups. */
export function volumeGroups(report: LvmReport, look: LvmLookups): VolumeGroups {
  const pvUsed = new Map<string, number>();
  const pvUse = new Map<string, DeviceUse>();
  for (const pv of report.pvs) pvUsed.set(look.resolve(pv.pv_name ?? ''), Number(pv.pv_size ?? 0) - Number(pv.pv_free ?? 0));
  const groups = report.vgs.map((vg): ServerVolumeGroup => {
    const pvs = report.pvs.filter((p) => p.vg_name === vg.vg_name);
    const lvs = report.lvs.filter((l) => l.vg_name === vg.vg_name && !(l.lv_attr ?? '').startsWith('s')).map((l) => logicalVolume(l, look.describe(l.lv_path ?? `/dev/${l.vg_name}/${l.lv_name}`)));
    const use: DeviceUse = lvs.some((l) => l.device_use === 'OS') ? 'OS' : lvs.some((l) => l.device_use === 'BOOT') ? 'BOOT' : 'NORMAL';
    for (const p of pvs) if (use !== 'NORMAL') pvUse.set(look.resolve(p.pv_name ?? ''), use);
    return {
      name: vg.vg_name ?? '',
      components: pvs.map((p) => p.pv_name ?? '').join(','),
      size: Number(vg.vg_size ?? 0),
      free_size: Number(vg.vg_free ?? 0),
      logical_volumes: lvs,
      physical_volumes: pvs.map((p) => ({ name: p.pv_name ?? '', size: Number(p.pv_size ?? 0), free_size: Number(p.pv_free ?? 0), disk: look.diskOf(p.pv_name ?? '') })),
    };
  });
  return { groups, pvUsed, pvUse };
}
