/**
 * Sync (seed §4.4): a job per host that opens a point-in-time view of the source, prepares one
 * target volume per disk, copies each disk through the replicator and, when asked, takes a
 * snapshot on the target. A dropped link is reconnected within the job (sync-copy.ts); a lasting
 * failure leaves the host `sync_failed`, retryable from the checkpoint.
 */
import { RehostError, errors } from '../../src-shared/errors.js';
import { snapshotName } from '../../src-shared/units.js';
import type { EngineCore } from './engine-core.js';
import type { HostService } from './hosts.js';
import type { LicenseService } from './licenses.js';
import { newId } from './ids.js';
import type { Host, Snapshot, Volume } from './model.js';
import { hasSnapshots, type TargetDriver } from './drivers.js';
import type { JobContext } from './jobs.js';
import { copyDisks, SourceLink, type CopiedDisks } from './sync-copy.js';

/** How often live progress is stored with the host during a sync. */
const PROGRESS_PERSIST_MS = 10_000;

export interface SyncOptions {
  doSnapshot: boolean;
  mode: 'full' | 'incremental';
  /** undefined/null: keep the last value; 0: unlimited; ≥ 1: Mbps. */
  transferSpeed?: number | null;
}

export class SyncService {
  private readonly progressSavedAt = new Map<string, number>();
  /** The running sync job per host, so stop-sync can find it. */
  private readonly running = new Map<string, string>();

  constructor(
    private readonly core: EngineCore,
    private readonly hosts: HostService,
    private readonly licenses: LicenseService,
  ) {}

  async start(ids: string[], options: SyncOptions): Promise<void> {
    const hosts = this.hosts.getAll(ids);
    for (const host of hosts) {
      const flags = this.hosts.flags(host);
      if (!flags.isSync) {
        const why = host.targetId === null ? 'it has no target platform (PUT /hosts/target_platform first)' : `it is ${host.status}${flags.isDoing ? ' and busy' : ''}`;
        throw errors.conflict(`host ${host.name} cannot sync now: ${why}`, { field: 'ids', hostId: host.id });
      }
      if (options.mode === 'incremental' && host.syncCount === 0) {
        throw errors.conflict(`host ${host.name} has no completed full sync yet; run sync_mode "full" first`, { field: 'sync.sync_mode', hostId: host.id });
      }
    }
    for (const host of hosts) {
      const transferSpeed =
        options.transferSpeed === undefined || options.transferSpeed === null ? host.transferSpeed : options.transferSpeed === 0 ? null : options.transferSpeed;
      const licenseId = this.licenses.bind(host);
      const started = this.hosts.setStatus(host.id, 'sync_doing', { transferSpeed, failedJobId: null, licenseId });
      await this.launch(started, options.mode, options.doSnapshot);
    }
    await this.core.store.persist();
  }

  /** Stops a running sync (→ sync_failed, retryable) and turns the schedule off. */
  async stop(ids: string[]): Promise<void> {
    const hosts = this.hosts.getAll(ids);
    for (const host of hosts) {
      if (!this.hosts.flags(host).isStopSync) {
        throw errors.conflict(`host ${host.name} has no running or scheduled sync to stop`, { field: 'ids', hostId: host.id });
      }
    }
    for (const host of hosts) {
      if (host.syncStrategy.autoTrigger) this.hosts.save({ ...host, syncStrategy: { ...host.syncStrategy, autoTrigger: false } });
      const jobId = this.running.get(host.id);
      if (jobId !== undefined) this.core.jobs.cancel(jobId, 'sync stopped by user');
    }
    await this.core.store.persist();
  }

  /**
   * Cutover's final sync: one incremental sync with a snapshot for a host the caller's job holds
   * (so the is_sync flag, false while booting, is not checked; the state machine still is).
   * Resolves with the snapshot it took; rejects when the sync fails or `signal` aborts it.
   */
  async runAndWait(hostId: string, signal: AbortSignal): Promise<Snapshot> {
    signal.throwIfAborted();
    const started = this.hosts.setStatus(hostId, 'sync_doing', { failedJobId: null });
    await this.launch(started, 'incremental', true);
    const jobId = this.running.get(hostId);
    if (jobId === undefined) throw new RehostError('CONFLICT', 'the final sync did not start');
    const onAbort = () => this.core.jobs.cancel(jobId, 'cutover cancelled');
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.core.jobs.wait(jobId);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    const job = this.core.store.jobs.get(jobId);
    if (job?.status !== 'done') throw new RehostError('CONFLICT', `the final sync failed: ${job?.failureReason ?? 'unknown reason'}`, { hostId });
    const made = this.core.store.snapshots
      .listByHost(hostId)
      .filter((s) => s.status === 'create_done' && s.createdAt >= job.startAt)
      .sort((a, b) => b.createdAt - a.createdAt)[0];
    if (!made) throw new RehostError('CONFLICT', 'the final sync took no snapshot (the target keeps none)', { hostId });
    return made;
  }

  private async launch(host: Host, mode: 'full' | 'incremental', doSnapshot: boolean): Promise<void> {
    const steps = ['Prepare target volumes', 'Open source snapshot', ...host.disks.map((d) => `Copy disk ${d.index}`), 'Close source snapshot', 'Create snapshot'];
    const job = await this.core.jobs.start(
      {
        type: 'Sync',
        ownerId: host.id,
        ownerKind: 'host',
        ownerName: host.name,
        description: `${mode === 'full' ? 'Full' : 'Incremental'} sync of host data`,
        steps,
        params: { sync_mode: mode, do_snapshot: doSnapshot, transfer_speed: host.transferSpeed ?? 0 },
      },
      {
        run: (ctx) => this.run(ctx, host.id, mode, doSnapshot),
        onFailure: (reason, _step, failed) => {
          this.running.delete(host.id);
          const last = this.core.progress.finish(host.id, `failed: ${reason}`);
          const current = this.core.store.hosts.get(host.id);
          if (current?.status === 'sync_doing') {
            this.hosts.setStatus(host.id, 'sync_failed', { failedJobId: failed.id, progress: last ?? current.progress, description: reason });
          }
        },
      },
    );
    this.running.set(host.id, job.id);
  }

  private async run(ctx: JobContext, hostId: string, mode: 'full' | 'incremental', doSnapshot: boolean): Promise<string> {
    const { store, pool, progress } = this.core;
    const host = this.hosts.get(hostId);
    // Live from the start, so progress events flow while volumes are prepared and the view opens.
    progress.start(host.id, host.disks.reduce((n, d) => n + d.sizeBytes, 0), 'preparing');
    const source = store.sources.get(host.sourceId);
    if (!source) throw errors.notFound('source', host.sourceId);
    const target = store.targets.get(host.targetId ?? '');
    if (!target) throw errors.notFound('target', host.targetId ?? '(none)');
    const sourceDriver = await pool.connectedSource(source, ctx.signal);
    const targetDriver = await pool.target(target);
    const volumes = await ctx.step('Prepare target volumes', () => this.prepareVolumes(host, targetDriver, ctx.signal));

    const markers = Object.fromEntries(Object.entries(host.markers).map(([k, v]) => [Number(k), v]));
    const directSinks = targetDriver.capabilities.directSinks === true;
    const open = () => sourceDriver.openSnapshot(host.sourceRef, { mode, markers, directSinks, limitMbps: host.transferSpeed }, ctx.signal);
    const view = await ctx.step('Open source snapshot', open);
    ctx.note('Open source snapshot', `consistency: ${view.method}${view.transport ? `; transport: ${view.transport}` : ''}`);
    const link = new SourceLink(view, open, this.core, hostId);
    let copied: CopiedDisks;
    try {
      copied = await copyDisks(this.core, { ctx, host, link, volumes, target: targetDriver, mode, onTick: () => this.persistProgress(host.id) });
    } catch (err) {
      // Release the point-in-time view, but keep the failed copy step as the job's failed step.
      await link.release();
      throw err;
    }
    await ctx.step('Close source snapshot', () => link.close());

    const finished = this.hosts.get(hostId);
    const last = progress.finish(host.id, 'done');
    this.hosts.save({ ...finished, progress: last, lastSyncAt: this.core.clock.now(), syncCount: finished.syncCount + 1, markers: copied.markers });
    await store.persist();

    if (doSnapshot) {
      await this.snapshot(ctx, this.hosts.get(hostId), volumes);
    } else {
      await ctx.skip('Create snapshot', 'do_snapshot is false');
    }
    this.running.delete(host.id);
    this.hosts.setStatus(hostId, 'sync_snapshot_done', { description: null });
    await store.persist();
    return copied.summary || 'Done';
  }

  /** One volume per disk, keeping the ids of volumes made by an earlier attempt. */
  private async prepareVolumes(host: Host, driver: TargetDriver, signal: AbortSignal): Promise<Volume[]> {
    const { store, clock } = this.core;
    const prepared = await driver.prepareVolumes(host, signal);
    const existing = store.volumes.listByHost(host.id);
    const volumes: Volume[] = prepared.map((v) => {
      const known = existing.find((e) => e.diskIndex === v.diskIndex);
      return { ...v, id: known?.id ?? newId(), createdAt: known?.createdAt ?? clock.now() };
    });
    for (const v of volumes) store.volumes.put(v);
    await store.persist();
    return volumes;
  }

  /**
   * Progress ticks live in memory; every PROGRESS_PERSIST_MS the current figures are stored with
   * the host, so a restart shows where the sync was, without a database write per tick.
   */
  private persistProgress(hostId: string): void {
    const now = this.core.clock.now();
    if (now - (this.progressSavedAt.get(hostId) ?? 0) < PROGRESS_PERSIST_MS) return;
    this.progressSavedAt.set(hostId, now);
    const host = this.core.store.hosts.get(hostId);
    const live = this.core.progress.get(hostId);
    if (!host || !live) return;
    this.core.store.hosts.put({ ...host, progress: live });
    void this.core.store.persist().catch((err: unknown) => this.core.log.warn({ host: hostId, err: String(err) }, 'progress not persisted'));
  }

  private async snapshot(ctx: JobContext, host: Host, volumes: Volume[]): Promise<void> {
    const { store, pool, clock } = this.core;
    const target = store.targets.get(host.targetId ?? '');
    if (!target) throw errors.notFound('target', host.targetId ?? '(none)');
    const driver = await pool.target(target);
    if (!hasSnapshots(driver)) {
      await ctx.skip('Create snapshot', `${target.cloudType} targets keep no snapshots`);
      return;
    }
    const now = clock.now();
    const snapshot: Snapshot = { id: newId(), hostId: host.id, targetId: target.id, name: uniqueSnapshotName(store.snapshots.listByHost(host.id), now), status: 'create_doing', sizeBytes: 0, reason: null, ref: null, createdAt: now };
    store.snapshots.put(snapshot);
    this.core.events.emit('snapshot', snapshot.id, { host_id: host.id, status: snapshot.status });
    await ctx.step('Create snapshot', async () => {
      let final: Snapshot = snapshot;
      try {
        const made = await driver.snapshots.create(host, volumes, snapshot.name, ctx.signal);
        final = { ...snapshot, status: 'create_done', ref: made.ref, sizeBytes: made.sizeBytes };
        store.snapshots.put(final);
        ctx.note('Create snapshot', snapshot.name);
      } catch (err) {
        final = { ...snapshot, status: 'create_failed', reason: err instanceof Error ? err.message : String(err) };
        store.snapshots.put(final);
        throw err;
      } finally {
        await store.persist();
        // Persisted first: the snapshot quota, which listens for create_done, then sees it stored.
        this.core.events.emit('snapshot', snapshot.id, { host_id: host.id, status: final.status });
      }
    });
  }
}

/**
 * The seed's names have whole seconds; two syncs finishing within one second would collide, so
 * the later one takes the next free second.
 */
function uniqueSnapshotName(existing: Snapshot[], now: number): string {
  const taken = new Set(existing.map((s) => s.name));
  let at = now;
  while (taken.has(snapshotName(at))) at += 1000;
  return snapshotName(at);
}
