/**
 * Boot (seed §4.5) and cleanup (§4.6). Cleanup removes what the target holds for the host, then
 * unregisters it (clean_doing → clean_done → host_unregister_doing → host_unregister_done), since
 * the seed's cleanup also clears the registration. A test boot (`volume_snapshot`) boots the chosen
 * snapshot; a cutover (`volume_backup`) runs a final incremental sync with a snapshot first and
 * boots that. The snapshot quota is snapshot-quota.ts's.
 */
import { RehostError, errors } from '../../src-shared/errors.js';
import type { EngineCore } from './engine-core.js';
import type { HostService } from './hosts.js';
import type { Host, Snapshot } from './model.js';
import { BOOT_MACHINE, assertTransition } from './state-machines.js';
import { canBoot, canStopServices } from './drivers.js';
import type { SyncService } from './sync.js';
import type { LicenseService } from './licenses.js';

export interface BootOptions {
  backupType: 'volume_snapshot' | 'volume_backup';
  snapshotId: string;
  projectName: string | null;
  /** Every other seed field (flavor_id, network_id, fixed_ip …), passed to the target driver. */
  options: Record<string, unknown>;
}

export class LifecycleService {
  constructor(
    private readonly core: EngineCore,
    private readonly hosts: HostService,
    private readonly sync: SyncService,
    private readonly licenses: LicenseService,
  ) {}

  async clean(ids: string[], force: boolean): Promise<void> {
    const hosts = this.hosts.getAll(ids);
    for (const host of hosts) {
      if (!this.hosts.flags(host).isClean) {
        throw errors.conflict(`host ${host.name} cannot be cleaned now: it is ${host.status}${host.bootStatus === 'boot_doing' ? ' and booting' : ''}`, {
          field: 'ids',
          hostId: host.id,
        });
      }
    }
    for (const host of hosts) await this.launchClean(host, force);
    await this.core.store.persist();
  }

  private async launchClean(host: Host, force: boolean): Promise<void> {
    const needsClean = host.status !== 'host_register_done' && host.status !== 'host_unregister_failed';
    const first = needsClean ? 'clean_doing' : 'host_unregister_doing';
    this.hosts.setStatus(host.id, first, { failedJobId: null });
    await this.core.jobs.start(
      {
        type: 'Clean',
        ownerId: host.id,
        ownerKind: 'host',
        ownerName: host.name,
        description: 'Clean host resources',
        steps: ['Remove target resources', 'Unregister host'],
        params: { force },
      },
      {
        run: async (ctx) => {
          if (needsClean) {
            await ctx.step('Remove target resources', () => this.removeTargetResources(host.id, force, ctx.signal));
            this.hosts.setStatus(host.id, 'clean_done');
            this.hosts.setStatus(host.id, 'host_unregister_doing');
            await this.core.store.persist();
          } else {
            await ctx.skip('Remove target resources', 'nothing was synced');
          }
          await ctx.step('Unregister host', async () => {
            for (const volume of this.core.store.volumes.listByHost(host.id)) {
              await this.core.replicator.forget(volume.id);
              this.core.store.volumes.delete(volume.id);
            }
            for (const snapshot of this.core.store.snapshots.listByHost(host.id)) this.core.store.snapshots.delete(snapshot.id);
            const current = this.hosts.get(host.id);
            this.licenses.release(current);
            this.hosts.setStatus(host.id, 'host_unregister_done', {
              bootStatus: 'not_boot',
              step: '1',
              targetId: null,
              poolId: null,
              progress: null,
              syncCount: 0,
              markers: {},
              cloudInstanceId: current.cloudInstanceId,
            });
            await this.core.store.persist();
          });
          return 'Done';
        },
        onFailure: (reason, _step, job) => {
          const current = this.core.store.hosts.get(host.id);
          if (current?.status === 'clean_doing') this.hosts.setStatus(host.id, 'clean_failed', { failedJobId: job.id, description: reason });
          if (current?.status === 'host_unregister_doing') this.hosts.setStatus(host.id, 'host_unregister_failed', { failedJobId: job.id, description: reason });
        },
      },
    );
  }

  private async removeTargetResources(hostId: string, force: boolean, signal: AbortSignal): Promise<void> {
    const { store, pool } = this.core;
    const host = this.hosts.get(hostId);
    const volumes = store.volumes.listByHost(hostId);
    const snapshots = store.snapshots.listByHost(hostId);
    const target = host.targetId === null ? null : store.targets.get(host.targetId);
    if (target === null) {
      if (volumes.length > 0 && !force) {
        throw new RehostError('CONFLICT', 'the target this host synced to is gone; clean with force to drop the records', { hostId });
      }
      return;
    }
    const driver = await pool.target(target);
    await driver.cleanup(host, volumes, snapshots, force, signal);
  }

  async boot(id: string, boot: BootOptions): Promise<void> {
    const { store } = this.core;
    const host = this.hosts.get(id);
    const snapshot = this.bootableSnapshot(host, boot.snapshotId);
    const cutover = boot.backupType === 'volume_backup';
    const { stop_source_services: stopRaw, ...targetOptions } = boot.options;
    const stopServices = await this.servicesToStop(host, cutover, stopRaw);
    const driver = await this.bootDriver(host);
    await driver.machines.check?.(host, store.volumes.listByHost(id), targetOptions);
    this.hosts.save({ ...host, bootStatus: 'boot_doing', failedJobId: null });
    await this.core.jobs.start(
      {
        type: 'Boot',
        ownerId: id,
        ownerKind: 'host',
        ownerName: host.name,
        description: cutover ? 'Cutover: final sync, then boot the migrated host' : 'Test boot from a snapshot',
        steps: cutover ? [...(stopServices.length > 0 ? ['Stop source services'] : []), 'Final sync', 'Boot instance'] : ['Boot instance'],
        params: { backup_type: boot.backupType, snapshot_id: boot.snapshotId, ...(stopServices.length > 0 ? { stop_source_services: stopServices } : {}) },
      },
      {
        run: async (ctx) => {
          let from = snapshot;
          if (cutover && stopServices.length > 0) {
            // Stopped first, so the final sync catches every write the services made.
            await ctx.step('Stop source services', async () => ctx.note('Stop source services', await this.stopSourceServices(id, stopServices, ctx.signal)));
          }
          if (cutover) {
            // The cutover boots what the source holds now: a last incremental sync and its snapshot.
            from = await ctx.step('Final sync', async () => {
              const made = await this.sync.runAndWait(id, ctx.signal);
              ctx.note('Final sync', `snapshot ${made.name}`);
              return made;
            });
            ctx.job.params = { ...ctx.job.params, snapshot_id: from.id };
          }
          // Notes go in inside the step, so the step's own save stores them before the host reads boot_done
          // (a client that sees boot_done then reads the job must find the detail).
          const result = await ctx.step('Boot instance', async () => {
            const booted = await driver.machines.boot(this.hosts.get(id), store.volumes.listByHost(id), { backupType: boot.backupType, snapshot: from, options: targetOptions, signal: ctx.signal });
            ctx.note('Boot instance', booted.detail);
            return booted;
          });
          const current = this.hosts.get(id);
          this.hosts.save({ ...current, bootStatus: 'boot_done', cloudInstanceId: result.instanceId, lastProjectName: boot.projectName ?? current.lastProjectName, description: null });
          await store.persist();
          return result.detail;
        },
        onFailure: (reason, _step, job) => {
          const current = store.hosts.get(id);
          if (current?.bootStatus === 'boot_doing') this.hosts.save({ ...current, bootStatus: 'boot_failed', failedJobId: job.id, description: reason });
        },
      },
    );
    await store.persist();
  }

  /** The snapshot a boot request names, when the host may boot from it now (else a 4xx naming why). */
  private bootableSnapshot(host: Host, snapshotId: string): Snapshot {
    // The snapshot first: one still being made is the answer to give (its sync also holds the host).
    const asked = this.core.store.snapshots.get(snapshotId);
    if (asked?.hostId === host.id && asked.status === 'create_doing') {
      throw errors.conflict(`snapshot ${asked.name} is still being created (create_doing); boot it once it is create_done`, { field: 'boot.snapshot_id', hostId: host.id });
    }
    // The seed's overview diagram boots only from sync_snapshot_done ("sync_snapshot_done --> boot_done"):
    // a host whose last sync failed syncs again first, even when an older snapshot is good.
    if (host.status !== 'sync_snapshot_done' || host.step !== '4') {
      throw errors.conflict(`host ${host.name} cannot boot: it is ${host.status} in step ${host.step}; sync with a snapshot and move it to the boot list (next_step) first`, {
        hostId: host.id,
      });
    }
    assertTransition(BOOT_MACHINE, 'boot', host.bootStatus, 'boot_doing', host.id);
    const snapshot = this.core.store.snapshots.get(snapshotId);
    if (!snapshot || snapshot.hostId !== host.id) throw errors.notFound('snapshot', snapshotId, 'boot.snapshot_id');
    if (snapshot.status !== 'create_done') {
      throw errors.conflict(`snapshot ${snapshot.name} is ${snapshot.status}; only a create_done snapshot can boot`, { field: 'boot.snapshot_id' });
    }
    return snapshot;
  }

  /**
   * The boot option `stop_source_services` checked before the job starts: a cutover only, and a
   * source that can run commands on its hosts (an Agent host).
   */
  private async servicesToStop(host: Host, cutover: boolean, raw: unknown): Promise<string[]> {
    const names = Array.isArray(raw) ? raw.filter((n): n is string => typeof n === 'string') : [];
    if (names.length === 0) return [];
    if (!cutover) {
      throw new RehostError('VALIDATION', 'boot.stop_source_services: services are stopped only for a cutover (backup_type "volume_backup")', { field: 'boot.stop_source_services', hostId: host.id });
    }
    const source = this.core.store.sources.get(host.sourceId);
    if (!source) throw errors.notFound('source', host.sourceId, 'boot.stop_source_services');
    if (!canStopServices(await this.core.pool.source(source))) {
      throw new RehostError('UNPROCESSABLE', `boot.stop_source_services: ${source.type} source ${source.name} cannot stop services on its hosts (Agent sources can)`, { field: 'boot.stop_source_services', hostId: host.id });
    }
    return names;
  }

  /** Stops the services on the source host; any that would not stop fails the step, naming it. */
  private async stopSourceServices(hostId: string, names: string[], signal: AbortSignal): Promise<string> {
    const host = this.hosts.get(hostId);
    const source = this.core.store.sources.get(host.sourceId);
    if (!source) throw errors.notFound('source', host.sourceId);
    const driver = await this.core.pool.connectedSource(source, signal);
    if (!canStopServices(driver)) throw new RehostError('UNPROCESSABLE', `${source.type} source ${source.name} cannot stop services`, { hostId });
    const results = await driver.services.stop(host.sourceRef, names, signal);
    const failed = results.filter((r) => !r.ok);
    if (failed.length > 0) {
      const stopped = results.filter((r) => r.ok).map((r) => r.name);
      throw new RehostError('DRIVER', `could not stop ${failed.map((r) => `${r.name} (${r.detail})`).join(', ')} on the source${stopped.length ? `; stopped: ${stopped.join(', ')}` : ''}`, { hostId });
    }
    return `stopped on the source: ${results.map((r) => `${r.name} (${r.detail})`).join(', ')}`;
  }

  /** The serial console of the host's last machine (GET /hosts/:id/console), or null when none was captured. */
  async console(id: string): Promise<string | null> {
    const host = this.hosts.get(id);
    if (host.targetId === null) return null;
    const target = this.core.store.targets.get(host.targetId);
    if (!target) return null;
    const driver = await this.core.pool.target(target);
    return canBoot(driver) ? driver.machines.console(host) : null;
  }

  private async bootDriver(host: Host) {
    const target = this.core.store.targets.get(host.targetId ?? '');
    if (!target) throw errors.notFound('target', host.targetId ?? '(none)', 'storage_id');
    const driver = await this.core.pool.target(target);
    if (!canBoot(driver)) {
      throw new RehostError('UNPROCESSABLE', `${target.cloudType} target ${target.name} cannot boot machines in this build`, { field: 'boot' });
    }
    return driver;
  }
}
