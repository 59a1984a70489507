/**
 * Finding and mounting a Linux guest inside a disk image: the root filesystem is the partition
 * holding both /etc/fstab and an os-release file; the other filesystems fstab names on the same
 * disk (/boot, /boot/efi, /usr, /var) are mounted under it, then /proc, /sys, /dev and /run for
 * the chroot. Filesystems are identified with `blkid -p` on each partition's loop device.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Attachments, run } from './mounts.js';
import { LVM_TYPES, readPartitionTable, type Partition, type PartitionTable } from './partitions.js';

/** What blkid says about one partition. */
export interface ProbedPartition extends Partition {
  fsType: string;
  uuid?: string;
  label?: string;
}

/** A guest mounted at `root`, ready for chroot. */
export interface MountedGuest {
  root: string;
  rootPartition: ProbedPartition;
  btrfsSubvol?: string;
  osRelease: Record<string, string>;
  table: PartitionTable['kind'];
  partitions: ProbedPartition[];
  /** fstab mount points that were mounted beside the root, and the ones that could not be. */
  extraMounts: string[];
  unresolved: string[];
}

const LINUX_FS = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs']);
const ALSO_MOUNT = ['/usr', '/var', '/boot', '/boot/efi', '/efi'];

/** Reads the table and probes each partition; mounts nothing. */
export async function probeDisk(att: Attachments, raw: string): Promise<{ table: PartitionTable; partitions: ProbedPartition[]; lvm: boolean }> {
  const size = (await stat(raw)).size;
  const fh = await open(raw, 'r');
  let table: PartitionTable;
  try {
    table = await readPartitionTable(async (offset, length) => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    }, size);
  } finally {
    await fh.close();
  }
  const partitions: ProbedPartition[] = [];
  for (const p of table.partitions) {
    const depth = att.depth;
    const dev = await att.loop(raw, p.offset, p.size, true);
    const info = await blkid(dev);
    await att.release(depth);
    partitions.push({ ...p, fsType: info.TYPE ?? '', ...(info.UUID ? { uuid: info.UUID } : {}), ...(info.LABEL ? { label: info.LABEL } : {}) });
  }
  const lvm = partitions.some((p) => LVM_TYPES.has(p.type) || p.fsType === 'LVM2_member');
  return { table, partitions, lvm };
}

async function blkid(dev: string): Promise<Record<string, string>> {
  // Exit status 2 means "nothing recognised": an empty or unformatted partition.
  const out = await run('blkid', ['-p', '-o', 'export', dev]).catch(() => '');
  return Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function mountOptions(fsType: string, readOnly: boolean, subvol?: string): string {
  const opts = [readOnly ? 'ro' : 'rw'];
  if (readOnly && fsType.startsWith('ext')) opts.push('noload');
  if (fsType === 'xfs') opts.push('nouuid', ...(readOnly ? ['norecovery'] : []));
  if (subvol) opts.push(`subvol=${subvol}`);
  return opts.join(',');
}

/** Finds the root partition (read-only probe mounts); null when no Linux root is on the disk. */
export async function findRoot(att: Attachments, raw: string, partitions: ProbedPartition[]): Promise<{ part: ProbedPartition; subvol?: string } | null> {
  const dir = join(await att.tempDir(), 'probe');
  for (const part of partitions.filter((p) => LINUX_FS.has(p.fsType))) {
    const depth = att.depth;
    try {
      const dev = await att.loop(raw, part.offset, part.size, true);
      await att.mount(dev, dir, { type: part.fsType, options: mountOptions(part.fsType, true) });
      for (const prefix of part.fsType === 'btrfs' ? ['', '@', '@root'] : ['']) {
        if (await isLinuxRoot(join(dir, prefix))) return { part, ...(prefix ? { subvol: prefix } : {}) };
      }
    } finally {
      await att.release(depth);
    }
  }
  return null;
}

async function isLinuxRoot(dir: string): Promise<boolean> {
  const has = (p: string) => stat(join(dir, p)).then(() => true, () => false);
  return (await has('etc/fstab')) && ((await has('etc/os-release')) || (await has('usr/lib/os-release')));
}

/** `KEY=value` lines of an os-release file, quotes removed. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^([A-Z_]+)=(?:"([^"]*)"|'([^']*)'|(.*))$/gm)) out[m[1]!] = m[2] ?? m[3] ?? m[4] ?? '';
  return out;
}

/** fstab entries: `[source, mountpoint, type]`, comments and blank lines dropped. */
export function parseFstab(text: string): [string, string, string][] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l !== '')
    .map((l) => l.split(/\s+/))
    .filter((f) => f.length >= 3)
    .map((f) => [f[0]!, f[1]!.replace(/\\040/g, ' '), f[2]!]);
}

/** Which partition of this disk an fstab source names, if any. */
export function resolveSource(source: string, partitions: readonly ProbedPartition[]): ProbedPartition | undefined {
  const [key, value] = source.includes('=') ? [source.slice(0, source.indexOf('=')), source.slice(source.indexOf('=') + 1).replace(/^"|"$/g, '')] : ['', source];
  const byPath = /^\/dev\/disk\/by-(uuid|label|partuuid)\/(.+)$/.exec(source);
  const kind = byPath ? byPath[1]!.toUpperCase() : key;
  const v = byPath ? byPath[2]! : value;
  if (kind === 'UUID') return partitions.find((p) => p.uuid?.toLowerCase() === v.toLowerCase());
  if (kind === 'LABEL') return partitions.find((p) => p.label === v);
  if (kind === 'PARTUUID') return partitions.find((p) => p.partUuid?.toLowerCase() === v.toLowerCase());
  const dev = /^\/dev\/(?:sd|hd|vd|xvd)a(\d+)$/.exec(source);
  return dev ? partitions.find((p) => p.number === Number(dev[1])) : undefined;
}

/** Mounts the guest read-write with what a chroot needs; the caller releases `att`. */
export async function mountGuest(att: Attachments, raw: string, probe: { table: PartitionTable; partitions: ProbedPartition[] }, found: { part: ProbedPartition; subvol?: string }): Promise<MountedGuest> {
  const root = join(await att.tempDir(), 'root');
  const dev = await att.loop(raw, found.part.offset, found.part.size, false);
  await att.mount(dev, root, { type: found.part.fsType, options: mountOptions(found.part.fsType, false, found.subvol) });
  const osText = await readFile(join(root, 'etc/os-release'), 'utf8').catch(() => readFile(join(root, 'usr/lib/os-release'), 'utf8'));
  const entries = parseFstab(await readFile(join(root, 'etc/fstab'), 'utf8'));
  const extraMounts: string[] = [];
  const unresolved: string[] = [];
  const wanted = entries.filter(([, mp]) => ALSO_MOUNT.includes(mp)).sort((a, b) => a[1].length - b[1].length);
  for (const [source, mp, type] of wanted) {
    const part = resolveSource(source, probe.partitions);
    if (!part || part === found.part || !part.fsType) {
      if (!part) unresolved.push(`${mp} (${source})`);
      continue;
    }
    const loopDev = await att.loop(raw, part.offset, part.size, false);
    const fsType = part.fsType === 'vfat' || type === 'vfat' ? 'vfat' : part.fsType;
    const subvol = /subvol=([^,\s]+)/.exec(entries.find((e) => e[1] === mp)?.join(' ') ?? '')?.[1];
    await att.mount(loopDev, join(root, mp), { type: fsType, options: mountOptions(fsType, false, subvol) });
    extraMounts.push(mp);
  }
  await att.mount('proc', join(root, 'proc'), { type: 'proc' });
  await att.mount('/sys', join(root, 'sys'), { options: 'bind' });
  await att.mount('/dev', join(root, 'dev'), { options: 'bind' });
  await att.mount('/dev/pts', join(root, 'dev/pts'), { options: 'bind' });
  // A private /run: tools in the chroot write lock and state files there, never the host's.
  await att.mount('tmpfs', join(root, 'run'), { type: 'tmpfs', options: 'mode=0755' });
  return { root, rootPartition: found.part, ...(found.subvol ? { btrfsSubvol: found.subvol } : {}), osRelease: parseOsRelease(osText), table: probe.table.kind, partitions: probe.partitions, extraMounts, unresolved };
}
