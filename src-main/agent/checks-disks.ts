/** PARTITION_STYLE and FILE_SYSTEM checks (seed 002) from an inventory. Pure. */
import type { WireCheck, WireInventory } from '../replication/wire/inventory.js';

/** One check result; `params` are the facts it weighed (shown as the seed's `error_params`). */
export function check(id: string, severity: WireCheck['severity'], code: string, reason: string, params: WireCheck['params'] = {}): WireCheck {
  return { id, ok: severity !== 'ERROR', severity, code, reason, params };
}

/** An MBR partition table addresses 2^32 sectors of 512 bytes: 2 TiB. */
export const MBR_LIMIT = 2 * 2 ** 40;
/** File systems the OS fix-up opens (and the boot loaders read). */
export const FIXABLE_FS = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs']);
/** Signatures that are not a file system but are understood: copied as they are. */
const KNOWN_OTHER = new Set(['vfat', 'swap', 'LVM2_member', 'iso9660']);
/** Members of something larger, or encrypted: the copy is right only with all of it, or a key. */
const OPAQUE: Record<string, string> = {
  crypto_LUKS: 'encrypted (LUKS): the copy asks for the passphrase at boot, and the OS fix-up cannot look inside',
  linux_raid_member: 'an md RAID member: copy every member of the array, or the copy is degraded',
  zfs_member: 'a ZFS pool member: copy every device of the pool',
};

function partitionStyleCheck(inv: WireInventory): WireCheck {
  const styles = inv.disks.map((d) => `${d.name}:${d.partition_style}`).join(',');
  const p = { partition_style: styles };
  if (inv.disks.length === 0) return check('PARTITION_STYLE', 'ERROR', 'NO_DISKS', 'no disk found to migrate (name them in config.disks)', p);
  const big = inv.disks.filter((d) => d.partition_style === 'MBR' && d.size > MBR_LIMIT);
  if (big.length > 0) {
    return check('PARTITION_STYLE', 'WARN', 'MBR_OVER_2TIB', `${big.map((d) => d.name).join(', ')}: MBR on a disk larger than 2 TiB; the space past 2 TiB cannot be partitioned (it is copied, but convert to GPT to use it)`, p);
  }
  if (inv.disks.every((d) => d.partition_style === 'NONE')) {
    return check('PARTITION_STYLE', 'WARN', 'NO_PARTITION_TABLE', 'no MBR or GPT partition table: the disks are copied as they are; a disk without one does not boot', p);
  }
  return check('PARTITION_STYLE', 'OK', 'OK', `partition tables: ${styles}`, p);
}

/** Every file system type found on the copied disks and their LVs, with where. */
function fileSystems(inv: WireInventory): { type: string; where: string; mount: string | null }[] {
  const out: { type: string; where: string; mount: string | null }[] = [];
  for (const d of inv.disks) {
    if (d.file_system) out.push({ type: d.file_system, where: d.name, mount: null });
    for (const p of d.physical_volumes) if (p.file_system) out.push({ type: p.file_system, where: p.name, mount: p.mount_point });
  }
  for (const vg of inv.volume_groups) for (const lv of vg.logical_volumes) if (lv.file_system) out.push({ type: lv.file_system, where: `${vg.name}/${lv.name}`, mount: lv.mount_point });
  return out;
}

const builtInBoot = (inv: WireInventory): boolean => ['virtio_blk', 'virtio_scsi'].some((m) => inv.drivers.builtin.includes(m) || inv.drivers.initramfs.includes(m));

function fileSystemCheck(inv: WireInventory): WireCheck {
  const all = fileSystems(inv);
  const types = [...new Set(all.map((f) => f.type))].sort();
  const p = { file_systems: types.join(',') };
  const root = all.find((f) => f.mount === '/');
  // The copy boots on virtio only if the driver is already there or the OS fix-up can add it.
  if (root !== undefined && !FIXABLE_FS.has(root.type) && !builtInBoot(inv)) {
    return check('FILE_SYSTEM', 'ERROR', 'ROOT_NOT_FIXABLE', `/ is ${root.type} on ${root.where}: the OS fix-up cannot add the virtio drivers there, and the initramfs has none, so the copy cannot boot on the target`, p);
  }
  const opaque = all.filter((f) => OPAQUE[f.type] !== undefined);
  const unknown = all.filter((f) => !FIXABLE_FS.has(f.type) && !KNOWN_OTHER.has(f.type) && OPAQUE[f.type] === undefined);
  const notes = [...opaque.map((f) => `${f.where} is ${OPAQUE[f.type]}`), ...(unknown.length > 0 ? [`${unknown.map((f) => `${f.where} (${f.type})`).join(', ')}: copied block by block, the OS fix-up does not open them`] : [])];
  if (notes.length > 0) return check('FILE_SYSTEM', 'WARN', opaque.length > 0 ? 'FS_OPAQUE' : 'FS_UNKNOWN', notes.join('; '), p);
  return check('FILE_SYSTEM', 'OK', 'OK', types.length > 0 ? `file systems: ${types.join(', ')}` : 'no file system signature found', p);
}

export function diskChecks(inv: WireInventory): [WireCheck, WireCheck] {
  return [partitionStyleCheck(inv), fileSystemCheck(inv)];
}
