/**
 * The host inventory in seed 002's shape: OS, kernel, firmware, CPUs, memory, disks with
 * partitions and file systems, LVM, NICs, mounts. Everything is read tolerantly: a missing tool
 * leaves a field empty, and the checks say what that means.
 */
import { existsSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import type { WireDisk, WireInventory, WireNic, WirePartition } from '../replication/wire/inventory.js';
import { glibcVersion, parseKeyValues, partitionStyle, readText, run } from './probe.js';

interface LsblkDevice {
  name: string;
  path?: string;
  size: number | string;
  type: string;
  fstype?: string | null;
  mountpoint?: string | null;
  uuid?: string | null;
  fsused?: number | string | null;
  serial?: string | null;
  children?: LsblkDevice[];
}

const DISK_NAME = /^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|nvme\d+n\d+|hd[a-z]+)$/;

function lsblk(paths: string[]): LsblkDevice[] {
  const out = run('lsblk', ['-J', '-b', '-o', 'NAME,PATH,SIZE,TYPE,FSTYPE,MOUNTPOINT,UUID,FSUSED,SERIAL', ...paths]);
  if (out === null) return [];
  return (JSON.parse(out) as { blockdevices: LsblkDevice[] }).blockdevices;
}

const num = (v: number | string | null | undefined): number | null => (v === null || v === undefined || v === '' ? null : Number(v));

function toDisk(d: LsblkDevice): WireDisk {
  const path = d.path ?? `/dev/${d.name}`;
  const partitions: WirePartition[] = (d.children ?? [])
    .filter((c) => c.type === 'part')
    .map((c) => ({ name: c.name, sizeBytes: num(c.size) ?? 0, fsType: c.fstype ?? null, mountPoint: c.mountpoint ?? null, usedBytes: num(c.fsused), uuid: c.uuid ?? null }));
  return { path, name: d.name, sizeBytes: num(d.size) ?? 0, partitionStyle: partitionStyle(path), fsType: d.fstype ?? null, partitions, serial: d.serial ?? null };
}

/** The disks to offer: the configured ones, or every real disk the kernel lists. */
function disks(configured: string[]): WireDisk[] {
  if (configured.length > 0) {
    const found = lsblk(configured);
    return configured.map((p) => found.find((d) => (d.path ?? `/dev/${d.name}`) === p)).filter((d): d is LsblkDevice => d !== undefined).map(toDisk);
  }
  return lsblk([]).filter((d) => d.type === 'disk' && DISK_NAME.test(d.name)).map(toDisk);
}

function nics(): WireNic[] {
  const route = readText('/proc/net/route') ?? '';
  const gateways = new Map<string, string>();
  for (const line of route.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 2 && f[1] === '00000000' && f[2] !== '00000000') {
      const g = Buffer.from(f[2]!, 'hex');
      gateways.set(f[0]!, `${g[3]}.${g[2]}.${g[1]}.${g[0]}`);
    }
  }
  return Object.entries(os.networkInterfaces())
    .filter(([name]) => name !== 'lo')
    .map(([name, addrs]) => {
      const list = addrs ?? [];
      const v4 = list.filter((a) => a.family === 'IPv4');
      const mtu = readText(`/sys/class/net/${name}/mtu`);
      return { name, mac: list[0]?.mac ?? '', ipv4: v4.map((a) => a.address), ipv6: list.filter((a) => a.family === 'IPv6').map((a) => a.address), netmask: v4[0]?.netmask ?? null, gateway: gateways.get(name) ?? null, mtu: mtu === null ? null : Number(mtu.trim()) };
    });
}

function lvm(): WireInventory['lvm'] {
  const vgs = run('vgs', ['--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'vg_name,vg_size,vg_free']);
  const lvs = run('lvs', ['--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'lv_name,vg_name,lv_size']);
  const rows = (text: string | null): Record<string, string>[] => (text === null ? [] : ((JSON.parse(text) as { report: { vg?: Record<string, string>[]; lv?: Record<string, string>[] }[] }).report[0]?.vg ?? (JSON.parse(text) as { report: { lv?: Record<string, string>[] }[] }).report[0]?.lv ?? []));
  return {
    volumeGroups: rows(vgs).map((r) => ({ name: r.vg_name ?? '', sizeBytes: Number(r.vg_size), freeBytes: Number(r.vg_free) })),
    logicalVolumes: rows(lvs).map((r) => ({ name: r.lv_name ?? '', vg: r.vg_name ?? '', sizeBytes: Number(r.lv_size) })),
  };
}

function mounts(): WireInventory['mounts'] {
  const out = run('df', ['-B1', '--output=source,target,fstype,size,avail', '-x', 'tmpfs', '-x', 'devtmpfs', '-x', 'overlay']) ?? '';
  return out
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 5)
    .map((f) => ({ device: f[0]!, mountPoint: f[1]!, fsType: f[2]!, sizeBytes: Number(f[3]), freeBytes: Number(f[4]) }));
}

/** virtio modules present in the newest initramfs (lsinitramfs/lsinitrd), for DRIVER_FILE. */
function initramfsDrivers(): string[] {
  const boot = existsSync('/boot') ? readdirSync('/boot').filter((f) => /^initr(d|amfs)/.test(f)).sort() : [];
  const newest = boot.at(-1);
  if (newest === undefined) return [];
  const listing = run('lsinitramfs', [`/boot/${newest}`]) ?? run('lsinitrd', [`/boot/${newest}`]) ?? '';
  return [...new Set([...listing.matchAll(/(virtio[_a-z]*)\.ko/g)].map((m) => m[1]!))];
}

/**
 * A hint for the inventory: whether an LVM snapshot can be had on this host at all. Each sync
 * decides for its own disks (consistency.ts) and reports the method it used.
 */
function consistency(lv: WireInventory['lvm']): string {
  if (!existsSync('/dev/mapper/control')) return 'converging-passes';
  return lv.volumeGroups.some((vg) => vg.freeBytes > 0) ? 'lvm-snapshot' : 'converging-passes';
}

/** Collects the inventory; `configured` are the disks named in the source's config. */
export function collectInventory(configured: string[]): WireInventory {
  const rel = parseKeyValues(readText('/etc/os-release'));
  const cpuinfo = readText('/proc/cpuinfo') ?? '';
  const lv = lvm();
  const root = mounts().find((m) => m.mountPoint === '/');
  return {
    hostname: os.hostname(),
    osType: 'Linux',
    osName: rel.ID ?? 'linux',
    osVersion: rel.PRETTY_NAME ?? `${rel.NAME ?? 'Linux'} ${rel.VERSION_ID ?? ''}`.trim(),
    kernel: os.release(),
    arch: os.arch(),
    glibc: glibcVersion(),
    firmware: existsSync('/sys/firmware/efi') ? 'uefi' : 'bios',
    cpus: os.cpus().length,
    cpuModel: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    rootDevice: root?.device ?? null,
    disks: disks(configured),
    lvm: lv,
    nics: nics(),
    mounts: mounts(),
    initramfsDrivers: initramfsDrivers(),
    services: { sshd: run('pgrep', ['-x', 'sshd']) !== null, systemd: existsSync('/run/systemd/system') },
    uid: process.getuid?.() ?? -1,
    consistency: consistency(lv),
  };
}
