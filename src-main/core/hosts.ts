/**
 * Hosts through the wizard steps of seed 000: register (step 1), assign a platform (step 2),
 * next step to the boot list (step 4); listing, detail and the sync strategy.
 */
import type { HostStatus } from '../../src-shared/states.js';
import { RehostError, errors } from '../../src-shared/errors.js';
import type { EngineCore } from './engine-core.js';
import type { DiscoveredHost, Host, Source, SyncStrategy } from './model.js';
import type { HostQuery, Page } from './ports.js';
import { HOST_MACHINE, assertTransition, hostFlags, type HostFlags } from './state-machines.js';

export const DEFAULT_STRATEGY: SyncStrategy = {
  doSnapshot: true,
  autoTrigger: false,
  interval: 1,
  intervalUnit: '2',
  quota: 32,
  startTime: null,
};

export class HostService {
  constructor(private readonly core: EngineCore) {}

  get(id: string, field = 'id'): Host {
    const host = this.core.store.hosts.get(id);
    if (!host || host.status === 'host_unregister_done') throw errors.notFound('host', id, field);
    return host;
  }

  /** Loads every id first so a batch with one bad id changes nothing. */
  getAll(ids: string[]): Host[] {
    return ids.map((id) => this.get(id, 'ids'));
  }

  query(q: HostQuery): Page<Host> {
    return this.core.store.hosts.query(q);
  }

  flags(host: Host): HostFlags {
    return hostFlags(host, this.hasSuccessSnapshot(host.id));
  }

  hasSuccessSnapshot(hostId: string): boolean {
    return this.core.store.snapshots.listByHost(hostId).some((s) => s.status === 'create_done');
  }

  /** Moves a host to a new status through the state machine and records it (not yet persisted). */
  setStatus(hostId: string, status: HostStatus, patch: Partial<Host> = {}): Host {
    const host = this.core.store.hosts.get(hostId);
    if (!host) throw errors.notFound('host', hostId);
    if (host.status !== status) assertTransition(HOST_MACHINE, 'host', host.status, status, hostId);
    return this.save({ ...host, ...patch, status });
  }

  save(host: Host): Host {
    const updated = { ...host, updatedAt: this.core.clock.now() };
    this.core.store.hosts.put(updated);
    this.core.events.emit('host', host.id, { h_host_status: updated.status, h_boot_status: updated.bootStatus, step: updated.step });
    return updated;
  }

  /** POST /hosts/register: ids are the ids `GET /sources/:id/hosts` returned. */
  async register(ids: string[]): Promise<string[]> {
    const { store, clock } = this.core;
    const unique = [...new Set(ids)];
    const found = unique.map((id) => {
      const discovered = store.discovered.get(id);
      if (!discovered) throw errors.notFound('source host', id, 'ids');
      if (!discovered.present) throw errors.conflict(`source host ${discovered.name} is no longer present on its source`, { field: 'ids' });
      const existing = store.hosts.get(id);
      if (existing && existing.status !== 'host_unregister_done') {
        throw errors.conflict(`host ${discovered.name} (${id}) is already registered`, { field: 'ids' });
      }
      const source = store.sources.get(discovered.sourceId);
      if (!source) throw errors.notFound('source', discovered.sourceId, 'ids');
      return { discovered, source };
    });
    for (const { discovered, source } of found) {
      const host = this.save(newHost(discovered, source, clock.now()));
      const errorChecks = discovered.checks.filter((c) => c.severity === 'ERROR');
      await this.core.jobs.start(
        { type: 'Register', ownerId: host.id, ownerKind: 'host', ownerName: host.name, description: 'Register new host', steps: ['Read inventory', 'Environment checks'] },
        {
          run: async (ctx) => {
            await ctx.step('Read inventory', async () => {
              ctx.note('Read inventory', `${host.disks.length} disk(s), ${host.nics.length} NIC(s), ${host.systemType} ${host.osVersion}`.trim());
            });
            await ctx.step('Environment checks', async () => {
              ctx.note('Environment checks', errorChecks.length === 0 ? `${host.checks.length} checks passed` : `${errorChecks.length} check(s) report ERROR: ${errorChecks.map((c) => c.id).join(', ')}`);
            });
            return 'Done';
          },
        },
      );
    }
    await store.persist();
    return unique;
  }

  /** PUT /hosts/target_platform: step "2" puts the hosts into the sync list. */
  async assignPlatform(ids: string[], storageId: string, poolId: string): Promise<void> {
    const { store } = this.core;
    const target = store.targets.get(storageId);
    if (!target) throw errors.notFound('target', storageId, 'storage_id');
    if (target.status !== 'active' && target.status !== 'available') {
      throw errors.conflict(`target ${target.name} is ${target.status}; only an active target can be assigned`, { field: 'storage_id' });
    }
    const pools = poolIds(target.id);
    if (!pools.includes(poolId)) {
      throw errors.validation('pool_id', `pool ${poolId} is not a pool of target ${target.name} (pools: ${pools.join(', ')})`);
    }
    const hosts = this.getAll(ids);
    for (const host of hosts) {
      if (host.status !== 'host_register_done' || this.flags(host).isDoing) {
        throw errors.conflict(`host ${host.name} is ${host.status}; a platform can be assigned only before its first sync (clean it to start over)`, {
          field: 'ids',
          hostId: host.id,
        });
      }
    }
    for (const host of hosts) this.save({ ...host, targetId: target.id, poolId, step: '2' });
    await store.persist();
  }

  /** POST /hosts {next_step: {step: "4"}}: allowed when `is_next_step` is true. */
  async nextStep(ids: string[]): Promise<void> {
    const hosts = this.getAll(ids);
    for (const host of hosts) {
      if (!this.flags(host).isNextStep) {
        throw errors.conflict(`host ${host.name} cannot move to the boot list: it needs a finished sync with a snapshot (it is ${host.status}, step ${host.step})`, {
          field: 'ids',
          hostId: host.id,
        });
      }
    }
    for (const host of hosts) this.save({ ...host, step: '4' });
    await this.core.store.persist();
  }

  async setSyncStrategy(id: string, patch: Partial<SyncStrategy> & { transferSpeed?: number | null }): Promise<Host> {
    const host = this.get(id);
    const { transferSpeed, ...strategyPatch } = patch;
    const strategy: SyncStrategy = { ...host.syncStrategy, ...strategyPatch };
    if (strategy.autoTrigger && host.targetId === null) {
      throw errors.conflict(`host ${host.name} has no target platform yet; assign one before enabling scheduled syncs`, { field: 'snapshot_auto_trigger' });
    }
    if (strategy.autoTrigger && strategy.startTime === null) strategy.startTime = this.core.clock.now();
    const updated = this.save({
      ...host,
      syncStrategy: strategy,
      transferSpeed: transferSpeed === undefined ? host.transferSpeed : transferSpeed,
    });
    await this.core.store.persist();
    return updated;
  }
}

/** A freshly registered host (step 1) from what its source discovered. */
function newHost(discovered: DiscoveredHost, source: Source, now: number): Host {
  const nic = discovered.nics[0];
  return {
    id: discovered.id,
    sourceId: source.id,
    sourceRef: discovered.ref,
    name: discovered.name,
    hostType: source.type.toLowerCase(),
    systemType: discovered.osType,
    osVersion: discovered.osVersion,
    firmware: discovered.firmware,
    cpus: discovered.cpus,
    memoryMiB: discovered.memoryMiB,
    ip: nic?.ipv4[0] ?? null,
    mac: nic?.mac ?? null,
    disks: discovered.disks,
    nics: discovered.nics,
    checks: discovered.checks,
    ...(discovered.sourceServer !== undefined ? { sourceServer: discovered.sourceServer } : {}),
    status: 'host_register_done',
    bootStatus: 'not_boot',
    healthStatus: 'active',
    step: '1',
    targetId: null,
    poolId: null,
    transferSpeed: null,
    syncStrategy: { ...DEFAULT_STRATEGY },
    cloudInstanceId: null,
    lastProjectName: null,
    failedJobId: null,
    licenseId: null,
    description: null,
    progress: null,
    lastSyncAt: null,
    syncCount: 0,
    markers: {},
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * The pool ids a target offers on the API. Each target exposes one pool (its storage as the
 * driver reports it) whose uuid is the target's own; drivers with several pools will extend this.
 */
export function poolIds(targetId: string): string[] {
  return [targetId];
}

export function requireHostState(host: Host, allowed: readonly HostStatus[], action: string): void {
  if (!allowed.includes(host.status)) {
    throw new RehostError('INVALID_TRANSITION', `cannot ${action} host ${host.name}: it is ${host.status}`, { hostId: host.id, field: 'ids' });
  }
}
