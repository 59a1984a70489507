/** Maps sources and their discovered machines to the API. */
import { formatCapacity, formatTimestamp } from '../../../src-shared/units.js';
import type { Engine } from '../../core/engine.js';
import type { DiscoveredHost, Source } from '../../core/model.js';
import { checkItem, sourceServerItem } from './inventory.js';

export function sourceItem(engine: Engine, s: Source) {
  return {
    id: s.id,
    type: s.type,
    name: s.name,
    status: s.status,
    status_reason: s.statusReason,
    pinned_identity: s.pinned,
    config: s.config,
    host_count: engine.core.store.discovered.listBySource(s.id).filter((h) => h.present).length,
    created_at: formatTimestamp(s.createdAt)!,
    refreshed_at: formatTimestamp(s.refreshedAt),
  };
}

export function discoveredItem(engine: Engine, h: DiscoveredHost) {
  const host = engine.core.store.hosts.get(h.id);
  const registered = host !== null && host.status !== 'host_unregister_done';
  return {
    id: h.id,
    source_id: h.sourceId,
    host_name: h.name,
    os_type: h.osType,
    os_version: h.osVersion,
    firmware: h.firmware,
    cpus: h.cpus,
    memory_mib: h.memoryMiB,
    disks: h.disks.map((d) => ({ ...d, size: formatCapacity(d.sizeBytes, 'G') })),
    nics: h.nics,
    checks: h.checks.map(checkItem),
    source_server: sourceServerItem(h.sourceServer),
    present: h.present,
    is_registered: registered,
  };
}
