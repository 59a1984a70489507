/** Maps the agent's inventory (seed 002 shape on the wire) onto core's discovered host. Pure. */
import { createHash } from 'node:crypto';
import type { SourceServer } from '../../../src-shared/api/inventory.js';
import type { SourceInventory } from '../../core/drivers.js';
import type { DiskInfo, NicInfo } from '../../core/model.js';
import type { WireCheck, WireInventory } from '../../replication/wire/inventory.js';
import type { AgentConfig } from './config.js';

type InventoryHost = SourceInventory['hosts'][number];

/**
 * A stable uuid-shaped id for the machine as this configuration reaches it (address, port, user,
 * disks), so two sources never offer the same id for different disk sets.
 */
export function agentHostId(config: AgentConfig): string {
  const b = createHash('sha1').update(`rehost-agent\0${config.address}:${config.port}\0${config.username}\0${config.disks.join(',')}`).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The seed's fields only: what the API shows as `source_server` (the agent's own facts stay in the source tree). */
export function sourceServerOf(inv: WireInventory): SourceServer {
  const { hostname, os_type, os_version, oem_system, firmware, cpu_quantity, memory, disks, volume_groups, btrfs_list, networks, kernel } = inv;
  return { hostname, os_type, os_version, oem_system, firmware, cpu_quantity, memory, disks, volume_groups, btrfs_list, networks, ...(kernel !== undefined ? { kernel } : {}) };
}

function diskInfo(d: WireInventory['disks'][number], index: number, isBoot: boolean): DiskInfo {
  return {
    index,
    name: d.name,
    sizeBytes: d.size,
    isBoot,
    ...(d.serial ? { serial: d.serial } : {}),
    locator: d.path ?? `/dev/${d.name}`,
    format: 'raw',
    partitionStyle: d.partition_style,
    partitions: d.physical_volumes.map((p) => ({ index: p.index, name: p.name, sizeBytes: p.size, fileSystem: p.file_system, mountPoint: p.mount_point, usedBytes: p.used_size, uuid: p.uuid })),
  };
}

function nicInfo(n: WireInventory['networks'][number]): NicInfo {
  const v4 = (n.addresses ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address);
  const v6 = (n.addresses ?? []).filter((a) => a.family === 'IPv6').map((a) => a.address);
  return {
    name: n.name,
    mac: n.mac,
    ipv4: v4.length > 0 ? v4 : n.ip !== null ? [n.ip] : [],
    ipv6: v6.length > 0 ? v6 : n.ipv6 !== null ? [n.ipv6] : [],
    ...(n.netmask ? { netmask: n.netmask } : {}),
    ...(n.gateway ? { gateway: n.gateway } : {}),
    ...(n.mtu > 0 ? { mtu: n.mtu } : {}),
  };
}

export function toHost(config: AgentConfig, inv: WireInventory, checks: WireCheck[]): InventoryHost {
  // The boot disk: the one holding / (os_disk), else the one with a boot partition, else the first.
  const osDisk = inv.disks.findIndex((d) => d.os_disk);
  const bootDisk = osDisk !== -1 ? osDisk : Math.max(0, inv.disks.findIndex((d) => d.device_use === 'BOOT'));
  return {
    id: agentHostId(config),
    ref: config.address,
    name: inv.hostname,
    osType: 'Linux',
    osVersion: inv.os_version,
    firmware: inv.firmware === 'UEFI' ? 'uefi' : 'bios',
    cpus: inv.cpu_quantity,
    memoryMiB: Math.round(inv.memory / 2 ** 20),
    disks: inv.disks.map((d, index) => diskInfo(d, index, index === bootDisk)),
    nics: inv.networks.map(nicInfo),
    checks,
    sourceServer: sourceServerOf(inv),
  };
}
