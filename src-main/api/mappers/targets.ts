/** Maps targets to the seed's shapes (§4.2.2, §4.2.3, §4.8.1). */
import { formatCapacity } from '../../../src-shared/units.js';
import type { Engine } from '../../core/engine.js';
import type { Target } from '../../core/model.js';
import type { TargetInventory, TargetVolumeState } from '../../core/drivers.js';
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

/** A size as the seed writes it ("500 GB"), or "Unknown" when the target does not tell. */
function gbText(bytes: number | undefined): string {
  return bytes === undefined || bytes < 0 ? 'Unknown' : `${Math.round(bytes / GB)} GB`;
}

/** Live state by `Volume.ref`, for drivers that read it from the cloud (OpenStack); else null. */
function liveStates(inventory: TargetInventory | null): Map<string, TargetVolumeState> | null {
  return inventory?.volumes === undefined ? null : new Map(inventory.volumes.map((v) => [v.ref, v]));
}

/** The pool offered for assignment (§4.8.1): a target with one storage pool shows its name. */
function assignablePoolName(target: Target, inventory: TargetInventory | null): string {
  if (inventory?.pools.length === 1) return inventory.pools[0]!.name;
  return target.cloudType === 'OpenStack' ? 'HyperGate_Pool' : `${target.cloudType}_Pool`;
}

export function storageItem(engine: Engine, target: Target) {
  const volumes = engine.core.store.volumes.listByTarget(target.id);
  const inventory = engine.targets.inventory(target.id);
  const live = liveStates(inventory);
  const poolName = assignablePoolName(target, inventory);
  // a cloud says how many more volumes its quota takes; otherwise a rough count from free space
  const free = inventory?.freeVolumes ?? (inventory ? Math.max(0, Math.floor((inventory.totalBytes - inventory.usedBytes) / (64 * GB))) : 0);
  const attached = live === null ? volumes.length : volumes.filter((v) => live.get(v.ref)?.attached === true).length;
  return {
    pools: poolIds(target.id).map((id) => ({ pool_display_name: poolName, pool_uuid: id, storage_id: target.id })),
    storage_display_name: `${target.name}(Available volumes ${free})`,
    storage_id: target.id,
    storage_name: target.name,
    volumes_allocated_num: attached,
    volumes_unused_num: free,
  };
}

export function targetDetail(engine: Engine, target: Target) {
  const inventory = engine.targets.inventory(target.id);
  const live = liveStates(inventory);
  const volumes = engine.core.store.volumes.listByTarget(target.id);
  const hosts = engine.core.store.hosts.listByTarget(target.id).filter((h) => h.status !== 'host_unregister_done');
  const assigned = assignedBytes(engine, target);
  const poolOf = (ref: string) => live?.get(ref)?.pool ?? assignablePoolName(target, inventory);
  const attachedOf = (ref: string) => (live === null ? true : live.get(ref)?.attached === true);
  return {
    Storage: { data: [storageEntry(target, inventory, assigned)] },
    storage_pools: { data: storagePools(engine, target, inventory, live) },
    volume_groups: {
      data: hosts
        .map((h) => ({ h, mine: volumes.filter((v) => v.hostId === h.id) }))
        .filter(({ mine }) => mine.length > 0)
        .map(({ h, mine }) => {
          const attached = mine.every((v) => attachedOf(v.ref));
          const state = attached ? 'in-use' : 'available';
          return { Pool: poolOf(mine[0]!.ref), attach_status: attached ? 'attached' : 'detached', h_status: state, is_doing: h.status.endsWith('_doing'), name: `hvg_sync_${h.name}`, status: state, status_icon: statusIcon(h.status), uuid: h.id };
        }),
    },
    volumes: {
      data: volumes.map((v) => ({
        attach_status: attachedOf(v.ref) ? 'attached' : 'detached',
        capacity: formatCapacity(v.sizeBytes, 'GB'),
        'connector:host': hosts.find((h) => h.id === v.hostId)?.name ?? v.hostId,
        name: v.name,
        'source:pool_uuid': poolOf(v.ref),
        status: live?.get(v.ref)?.status ?? v.status,
        // the cloud's own volume id where the driver reads the cloud, else Rehost's record
        uuid: live === null ? v.id : v.ref,
      })),
    },
  };
}

/**
 * `storage_pools` of §4.2.3: a cloud's real pools (Cinder backends) with what Rehost's volumes
 * take in each; other targets keep their one assignable pool.
 */
function storagePools(engine: Engine, target: Target, inventory: TargetInventory | null, live: Map<string, TargetVolumeState> | null) {
  const isRegistered = target.status === 'active' || target.status === 'available';
  const volumes = engine.core.store.volumes.listByTarget(target.id);
  if (live !== null && inventory !== null) {
    return inventory.pools.map((p) => {
      const inPool = (ref: string) => [p.name, p.id].includes(live.get(ref)?.pool ?? '');
      const bytes = volumes.filter((v) => inPool(v.ref)).reduce((n, v) => n + v.sizeBytes, 0);
      return { uuid: p.id, assign_size: gbText(bytes), is_registered: isRegistered, name: p.name, protocol: p.protocol, status: p.status, total_size: gbText(p.totalBytes), used_size: gbText(p.usedBytes) };
    });
  }
  const pool = inventory?.pools[0];
  const assigned = assignedBytes(engine, target);
  return poolIds(target.id).map((id) => ({
    uuid: id,
    assign_size: gbText(assigned),
    is_registered: isRegistered,
    name: assignablePoolName(target, inventory),
    protocol: pool?.protocol ?? 'file',
    status: pool?.status ?? 'available',
    total_size: pool ? gbText(pool.totalBytes) : 'Unknown',
    used_size: pool ? gbText(pool.usedBytes) : 'Unknown',
  }));
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
    target_ip: inventory?.address ?? endpointHost(c),
    target_name: target.name,
    total_size: inventory ? gbText(inventory.totalBytes) : 'Unknown',
    type: target.type,
    used_size: inventory ? Math.round(inventory.usedBytes / GB) : 0,
    volume_availability_zone: c.volume_availability_zone ?? null,
  };
}

/** The host of the target's endpoint before its inventory is read (`target_ip` is a host, not a URL). */
function endpointHost(c: Record<string, unknown>): string {
  const where = String(c.address ?? c.os_auth_url ?? 'localhost');
  try {
    return new URL(where).hostname || where;
  } catch {
    return where;
  }
}
