/**
 * Facts about the host that the environment checks weigh and seed 002 has no field for: where
 * virtio drivers are (initramfs, built into the kernel, or installable module files), which
 * services that need stopping are running, the agent's rights, DMI names, available memory.
 */
import { existsSync, readdirSync } from 'node:fs';
import type { WireDrivers } from '../replication/wire/inventory.js';
import { readText, run } from './probe.js';

/** The virtio drivers a KVM or OpenStack guest needs, as module names. */
export const VIRTIO_MODULES = ['virtio', 'virtio_ring', 'virtio_pci', 'virtio_blk', 'virtio_scsi', 'virtio_net'] as const;

/** Where each module's file sits under /lib/modules/<kernel>/kernel/. */
const MODULE_FILES: Record<string, string> = {
  virtio: 'drivers/virtio/virtio',
  virtio_ring: 'drivers/virtio/virtio_ring',
  virtio_pci: 'drivers/virtio/virtio_pci',
  virtio_blk: 'drivers/block/virtio_blk',
  virtio_scsi: 'drivers/scsi/virtio_scsi',
  virtio_net: 'drivers/net/virtio_net',
};
const MODULE_SUFFIXES = ['.ko', '.ko.xz', '.ko.zst', '.ko.gz'];

/** virtio module names in a listing (an initramfs listing, modules.builtin). Pure. */
export function virtioNames(listing: string): string[] {
  return [...new Set([...listing.matchAll(/\/(virtio[_a-z]*)\.ko/g)].map((m) => m[1]!))].sort();
}

/** The initramfs of `kernel` (Debian, RHEL and SUSE names), else the newest in /boot. */
function initramfsFile(kernel: string): string | null {
  for (const name of [`initrd.img-${kernel}`, `initramfs-${kernel}.img`, `initrd-${kernel}`]) if (existsSync(`/boot/${name}`)) return `/boot/${name}`;
  const all = existsSync('/boot') ? readdirSync('/boot').filter((f) => /^initr(d|amfs)/.test(f) && !f.includes('kdump') && !f.includes('rescue')).sort() : [];
  return all.length > 0 ? `/boot/${all.at(-1)!}` : null;
}

/**
 * virtio drivers built into the running kernel as sysfs shows them: a driver registered on the
 * virtio bus, or a module entry, without the `initstate` file every loadable module has.
 */
function builtinInSysfs(sys: string): string[] {
  const list = (dir: string): string[] => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  const names = new Set([...list(`${sys}/bus/virtio/drivers`), ...list(`${sys}/module`).filter((n) => n.startsWith('virtio'))]);
  return [...names].filter((n) => !existsSync(`${sys}/module/${n}/initstate`));
}

/** Where the virtio drivers are for `kernel`; the roots are parameters so crafted trees test it. */
export function collectDrivers(kernel: string, modulesRoot = '/lib/modules', sys = '/sys'): WireDrivers {
  const file = initramfsFile(kernel);
  const listing = file === null ? null : (run('lsinitramfs', [file]) ?? run('lsinitrd', [file]));
  const builtin = [...new Set([...virtioNames(readText(`${modulesRoot}/${kernel}/modules.builtin`) ?? ''), ...builtinInSysfs(sys)])].sort();
  const installable = VIRTIO_MODULES.filter((m) => MODULE_SUFFIXES.some((s) => existsSync(`${modulesRoot}/${kernel}/kernel/${MODULE_FILES[m]}${s}`)));
  return { initramfs: listing === null ? [] : virtioNames(listing), builtin, installable: [...installable], initramfs_file: listing === null ? null : file };
}

/**
 * Services whose data changes under a block copy (databases, queues, container engines): their
 * process names (as /proc/<pid>/comm shows them, at most 15 characters) → the service.
 */
export const BLOCKING_SERVICES: Record<string, string> = {
  mysqld: 'mysql',
  mariadbd: 'mariadb',
  postgres: 'postgresql',
  postmaster: 'postgresql',
  mongod: 'mongodb',
  'redis-server': 'redis',
  sqlservr: 'mssql-server',
  db2sysc: 'db2',
  ora_pmon: 'oracle',
  'clickhouse-serv': 'clickhouse',
  influxd: 'influxdb',
  etcd: 'etcd',
  'beam.smp': 'rabbitmq',
  dockerd: 'docker',
  containerd: 'containerd',
  slapd: 'openldap',
};

/** The blocking services among process names. Pure. */
export function blockingServices(comms: readonly string[]): string[] {
  const out = new Set<string>();
  for (const c of comms) {
    const name = BLOCKING_SERVICES[c] ?? (c.startsWith('ora_pmon_') ? 'oracle' : undefined);
    if (name !== undefined) out.add(name);
  }
  return [...out].sort();
}

/** Process names of everything running (/proc/<pid>/comm). */
export function processNames(): string[] {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
  return pids.map((p) => readText(`/proc/${p}/comm`)?.trim() ?? '').filter((c) => c !== '');
}

/** CAP_SYS_ADMIN (bit 21) in the effective capability set of this process. */
export function hasSysAdmin(status = readText('/proc/self/status') ?? ''): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1];
  return hex !== undefined && (BigInt(`0x${hex}`) & (1n << 21n)) !== 0n;
}

export function memoryAvailable(meminfo = readText('/proc/meminfo') ?? ''): number | null {
  const kb = /^MemAvailable:\s*(\d+) kB/m.exec(meminfo)?.[1];
  return kb === undefined ? null : Number(kb) * 1024;
}

export function dmi(): { vendor: string | null; product: string | null } {
  return { vendor: readText('/sys/class/dmi/id/sys_vendor')?.trim() || null, product: readText('/sys/class/dmi/id/product_name')?.trim() || null };
}
