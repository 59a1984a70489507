/** Maps the agent's inventory (seed 002 shape on the wire) onto core's discovered host. Pure. */
import { createHash } from 'node:crypto';
import type { SourceInventory } from '../../core/drivers.js';
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

export function toHost(config: AgentConfig, inv: WireInventory, checks: WireCheck[]): InventoryHost {
  const bootDisk = inv.disks.findIndex((d) => inv.rootDevice !== null && inv.rootDevice.startsWith(d.path));
  return {
    id: agentHostId(config),
    ref: config.address,
    name: inv.hostname,
    osType: inv.osType,
    osVersion: inv.osVersion,
    firmware: inv.firmware,
    cpus: inv.cpus,
    memoryMiB: Math.round(inv.memoryBytes / 2 ** 20),
    disks: inv.disks.map((d, index) => ({
      index,
      name: d.name,
      sizeBytes: d.sizeBytes,
      isBoot: bootDisk === -1 ? index === 0 : index === bootDisk,
      ...(d.serial ? { serial: d.serial } : {}),
      locator: d.path,
      format: 'raw',
      partitionStyle: d.partitionStyle,
    })),
    nics: inv.nics.map((n) => ({ name: n.name, mac: n.mac, ipv4: n.ipv4, ...(n.netmask ? { netmask: n.netmask } : {}), ...(n.gateway ? { gateway: n.gateway } : {}), ...(n.mtu !== null ? { mtu: n.mtu } : {}) })),
    checks,
  };
}
