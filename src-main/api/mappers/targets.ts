/** Maps targets to the seed's shapes (§4.2.2, §4.2.3, §4.8.1). */
import { formatCapacity } from '../../../src-shared/units.js';
import type { Engine } from '../../core/engine.js';
import type { Target } from '../../core/model.js';
import type { TargetInventory } from '../../core/drivers.js';
import { poolIds } from '../../core/hosts.js';

const GB = 1024 ** 3;

function statusIcon(status: string): string {
  if (status === 'creating' || status === 'removing') return 'doing';
  if (status.endsWith('failed') || status === 'disconnected') return 'failed';
  return 'done';
}

function assignedBytes(engine: Engine, target: Target): number {
  return engine.core.store.volumes.listByTarget(target.id).reduce((n, v) => n + v.sizeBytes, 0);
}

export function targetListItem(engine: Engine, target: Target) {
  return {
    assign_size: Math.round(assignedBytes(engine, target) / GB),
    cloud_type: target.cloudType,
    is_doing: target.status === 'creating' || target.status === 'removing',
    online: target.status === 'active' || target.status === 'available' ? 1 : 0,
    status_icon: statusIcon(target.status),
    target_display_name: target.name,
    target_status: target.status,
    status_reason: target.statusReason,
    uuid: target.id,
  };
}

export function storageItem(engine: Engine, target: Target) {
  const volumes = engine.core.store.volumes.listByTarget(target.id);
  const inventory = engine.targets.inventory(target.id);
  const poolName = inventory?.pools[0]?.name ?? `${target.cloudType}_Pool`;
  const free = inventory ? Math.max(0, Math.floor((inventory.totalBytes - inventory.usedBytes) / (64 * GB))) : 0;
  return {
    pools: poolIds(target.id).map((id) => ({ pool_display_name: poolName, pool_uuid: id, storage_id: target.id })),
    storage_display_name: `${target.name}(Available volumes ${free})`,
    storage_id: target.id,
    storage_name: target.name,
    volumes_allocated_num: volumes.length,
    volumes_unused_num: free,
  };
}

export function targetDetail(engine: Engine, target: Target) {
  const inventory = engine.targets.inventory(target.id);
  const pool = inventory?.pools[0];
  const poolName = pool?.name ?? `${target.cloudType}_Pool`;
  const volumes = engine.core.store.volumes.listByTarget(target.id);
  const hosts = engine.core.store.hosts.listByTarget(target.id).filter((h) => h.status !== 'host_unregister_done');
  const assigned = assignedBytes(engine, target);
  return {
    Storage: { data: [storageEntry(target, inventory, assigned)] },
    storage_pools: {
      data: poolIds(target.id).map((id) => ({
        uuid: id,
        assign_size: `${Math.round(assigned / GB)} GB`,
        is_registered: target.status === 'active' || target.status === 'available',
        name: poolName,
        protocol: pool?.protocol ?? 'file',
        status: pool?.status ?? 'available',
        total_size: pool ? `${Math.round(pool.totalBytes / GB)} GB` : 'Unknown',
        used_size: pool ? `${Math.round(pool.usedBytes / GB)} GB` : 'Unknown',
      })),
    },
    volume_groups: {
      data: hosts
        .filter((h) => volumes.some((v) => v.hostId === h.id))
        .map((h) => ({ Pool: poolName, attach_status: 'attached', h_status: 'in-use', is_doing: h.status.endsWith('_doing'), name: `hvg_sync_${h.name}`, status: 'in-use', status_icon: statusIcon(h.status), uuid: h.id })),
    },
    volumes: {
      data: volumes.map((v) => ({
        attach_status: 'attached',
        capacity: formatCapacity(v.sizeBytes, 'GB'),
        'connector:host': hosts.find((h) => h.id === v.hostId)?.name ?? v.hostId,
        name: v.name,
        'source:pool_uuid': poolName,
        status: v.status,
        uuid: v.id,
      })),
    },
  };
}

/** The `Storage` entry of §4.2.3: where the target is and how full. */
function storageEntry(target: Target, inventory: TargetInventory | null, assigned: number) {
  const c = target.config;
  return {
    assign_size: Math.round(assigned / GB),
    cloud_type: target.cloudType,
    os_project_name: c.os_project_name ?? null,
    os_region_name: c.os_region_name ?? null,
    os_username: c.os_username ?? c.username ?? null,
    path: c.path ?? null,
    status: target.status === 'active' ? 'available' : target.status,
    status_reason: target.statusReason,
    target_ip: inventory?.address ?? String(c.address ?? c.os_auth_url ?? 'localhost'),
    target_name: target.name,
    total_size: inventory ? `${Math.round(inventory.totalBytes / GB)} GB` : 'Unknown',
    type: target.type,
    used_size: inventory ? Math.round(inventory.usedBytes / GB) : 0,
    volume_availability_zone: c.volume_availability_zone ?? null,
  };
}
