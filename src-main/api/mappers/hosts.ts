/** Maps hosts, snapshots and progress to the seed's wire shapes (§4.7). */
import { formatBytes, formatClock, formatRemaining, formatSpeed, formatTimestamp, formatCapacity } from '../../../src-shared/units.js';
import type { Engine } from '../../core/engine.js';
import type { Host, Snapshot, SyncProgress } from '../../core/model.js';
import { checkItem, sourceServerItem } from './inventory.js';

type Icon = 'done' | 'doing' | 'failed' | 'None';

function icon(status: string): Icon {
  if (status.endsWith('_doing') || status === 'creating' || status === 'removing') return 'doing';
  if (status.endsWith('_failed') || status === 'disconnected') return 'failed';
  return 'done';
}

export function detailData(p: SyncProgress | null) {
  if (!p) return null;
  const percent = p.totalBytes > 0 ? Math.min(100, Math.floor((p.doneBytes / p.totalBytes) * 100)) : 100;
  const speed = formatSpeed(p.bytesPerSecond);
  const total = formatBytes(p.totalBytes);
  const synced = formatBytes(p.doneBytes);
  const stalled = p.phase === 'syncing' && Date.now() - p.updatedAt > 10_000;
  const label = p.phase === 'syncing' ? (stalled ? 'Data syncing (stalled)' : 'Data syncing') : `Data sync ${p.phase}`;
  return {
    percent,
    remaining_time: formatRemaining(p.remainingSeconds),
    speed,
    sync_detail: `${label}:${percent}% Total:${total} synced:${synced} Speed:${speed} Remain time:${formatClock(p.remainingSeconds)}`,
    sync_total: total,
    synced,
  };
}

export function snapshotItem(s: Snapshot) {
  return {
    created_at: formatTimestamp(s.createdAt)!,
    size: String(s.sizeBytes),
    id: s.id,
    snapshot_name: s.name,
    status: s.status,
  };
}

export function hostItem(engine: Engine, host: Host) {
  const { store, progress } = engine.core;
  const flags = engine.hosts.flags(host);
  const snapshots = store.snapshots.listByHost(host.id);
  const lastDone = [...snapshots].reverse().find((s) => s.status === 'create_done');
  const target = host.targetId === null ? null : store.targets.get(host.targetId);
  return {
    id: host.id,
    host_name: host.name,
    host_type: host.hostType,
    system_type: host.systemType,
    ip_address: host.ip,
    mac_address: host.mac,
    created_at: formatTimestamp(host.createdAt)!,
    description: host.description,
    detail: host.description,
    detail_data: detailData(progress.get(host.id) ?? host.progress),
    h_host_status: host.status,
    h_boot_status: host.bootStatus,
    h_health_status: host.healthStatus,
    h_sync_status: host.status,
    host_status: host.status,
    boot_status: host.bootStatus,
    health_status: host.healthStatus,
    sync_status: host.status,
    host_icon: icon(host.status),
    boot_icon: host.bootStatus === 'not_boot' ? null : icon(host.bootStatus),
    health_icon: host.healthStatus === 'active' ? 'done' : 'failed',
    sync_icon: icon(host.status),
    is_clean: flags.isClean,
    is_doing: flags.isDoing,
    is_next_step: flags.isNextStep,
    is_stop_sync: flags.isStopSync,
    is_sync: flags.isSync,
    has_success_snapshot: flags.hasSuccessSnapshot,
    last_snapshots_at: formatTimestamp(lastDone?.createdAt),
    last_project_name: host.lastProjectName,
    license_id: host.licenseId,
    license_valid: engine.licenses.isValid(host.licenseId),
    snapshots: snapshots.map(snapshotItem),
    storage_id: host.targetId,
    target_name: target?.name ?? null,
    task_id: host.failedJobId,
    cloud_instance_id: host.cloudInstanceId,
    sync_required_volumes: host.disks.length,
    step: host.step,
  };
}

const entry = (title: string, value: string) => ({ title, value });

export function hostBase(host: Host) {
  const nic = host.nics[0];
  const strategy = host.syncStrategy;
  return {
    host_detail: {
      primary_information: {
        data: {
          aa_os_type: entry('OS-Type', host.systemType),
          boot_mode: entry('Boot Mode', host.firmware),
          flavor_ram: entry('RAM', `${(host.memoryMiB / 1024).toFixed(1)}GB`),
          flavor_vcpus: entry('vCPU', `${host.cpus}U`),
          host_type: entry('Source Type', host.hostType),
          nics_ip: entry('IP Address', nic?.ipv4.join(', ') || 'None'),
          nics_mac: entry('Mac Address', nic?.mac ?? 'None'),
          nics_name: entry('Interface', nic?.name ?? 'None'),
          nisc_mask: entry('Net Mask', nic?.netmask ?? 'None'),
          os_version: entry('Version', host.osVersion || 'Unknown'),
          sync_strategies: entry('Sync policy', strategy.autoTrigger ? 'Open' : 'Close'),
        },
        health_status: host.healthStatus,
        title: 'Primary Information',
      },
      inventory: { disks: host.disks, nics: host.nics, cpus: host.cpus, memory_mib: host.memoryMiB, firmware: host.firmware },
      checks: host.checks.map(checkItem),
      source_server: sourceServerItem(host.sourceServer),
    },
  };
}

export function hostStorage(engine: Engine, host: Host) {
  const volumes = engine.core.store.volumes.listByHost(host.id);
  const target = host.targetId === null ? null : engine.core.store.targets.get(host.targetId);
  return {
    description: 'Storages',
    disk: {
      data: host.disks.map((d) => ({
        created_at: formatTimestamp(host.createdAt),
        deleted: false,
        deleted_at: 'None',
        disk_index: d.index,
        disk_type: d.isBoot ? 'System Disk' : 'Data Disk',
        host_id: host.id,
        id: `${host.id}:${d.index}`,
        is_boot_disk: d.isBoot,
        is_protected: true,
        name: d.name,
        serial: d.serial ?? '',
        size: formatCapacity(d.sizeBytes, 'G'),
        updated_at: formatTimestamp(host.updatedAt) ?? 'None',
      })),
    },
    volume: {
      data: volumes.map((v) => ({
        corresponding_disk: host.disks.find((d) => d.index === v.diskIndex)?.name ?? String(v.diskIndex),
        name: v.name,
        status: v.status,
        storages: target ? `${target.name}/${target.cloudType}_Pool` : 'None',
        uuid: v.id,
      })),
    },
  };
}

export function hostSnapshots(engine: Engine, host: Host, page: number, pageSize: number) {
  const all = engine.core.store.snapshots.listByHost(host.id).reverse();
  const s = host.syncStrategy;
  return {
    data: all.slice((page - 1) * pageSize, page * pageSize).map((snap) => ({
      created_at: formatTimestamp(snap.createdAt)!,
      id: snap.id,
      is_available: snap.status === 'create_done',
      size: snap.sizeBytes,
      snapshot_name: snap.name,
      display_is_available: String(snap.status === 'create_done'),
      status: snap.status,
      reason: snap.reason,
    })),
    sync_strategy: {
      do_snapshot: s.doSnapshot,
      snapshot_auto_trigger: s.autoTrigger,
      snapshot_interval: s.interval,
      snapshot_interval_unit: s.intervalUnit,
      snapshot_quota: s.quota,
      snapshot_start_time: formatTimestamp(s.startTime),
      transfer_speed: host.transferSpeed ?? 0,
    },
    total: all.length,
    page_size: pageSize,
  };
}
