/**
 * The snapshot quota (`sync_strategy.snapshot_quota`): the newest `quota` create_done snapshots of
 * a host are kept, older ones deleted on the target, except one a test boot runs from (its overlay
 * reads from it). It runs when a snapshot reaches create_done (never on create_doing or
 * create_failed: a snapshot being made must not race with layers being merged) and at once when
 * the quota is lowered, unless a sync of the host is running: its snapshot then applies the quota
 * when it is done. Runs are chained per host, so two never merge the same layers at once.
 */
import type { EngineCore } from './engine-core.js';
import { hasSnapshots } from './drivers.js';
import type { Host, Snapshot } from './model.js';

/** How long one snapshot removal on the target may take (a layer merge of a large disk). */
const REMOVE_TIMEOUT_MS = 600_000;

/** Which create_done snapshots go: beyond the quota, newest first, never the one in use. */
export function snapshotsBeyondQuota(snapshots: readonly Snapshot[], quota: number, inUse: string | null): Snapshot[] {
  const newestFirst = snapshots.filter((s) => s.status === 'create_done').sort((a, b) => b.createdAt - a.createdAt);
  return newestFirst.slice(Math.max(1, quota)).filter((s) => s.id !== inUse);
}

export class SnapshotQuota {
  private readonly pending = new Map<string, Promise<void>>();
  private readonly unsubscribe: () => void;

  constructor(private readonly core: EngineCore) {
    this.unsubscribe = core.events.subscribe((event) => {
      const hostId = event.data.host_id;
      if (event.type === 'snapshot' && event.data.status === 'create_done' && typeof hostId === 'string') void this.apply(hostId);
    });
  }

  /**
   * Applies the quota to the host's snapshots, after any run already queued for it. Never
   * rejects: a snapshot the target cannot remove now is logged and tried again next time.
   */
  apply(hostId: string): Promise<void> {
    const next = (this.pending.get(hostId) ?? Promise.resolve())
      .then(() => this.enforce(hostId))
      .catch((err: unknown) => this.core.log.warn({ host: hostId, err: err instanceof Error ? err.message : String(err) }, 'snapshot quota not applied'));
    this.pending.set(hostId, next);
    void next.then(() => {
      if (this.pending.get(hostId) === next) this.pending.delete(hostId);
    });
    return next;
  }

  /** The quota was set through the API: prune now, or leave it to the running sync's snapshot. */
  async changed(hostId: string): Promise<void> {
    const host = this.core.store.hosts.get(hostId);
    if (!host || host.status === 'sync_doing') return;
    await this.apply(hostId);
  }

  async close(): Promise<void> {
    this.unsubscribe();
    await Promise.allSettled(this.pending.values());
  }

  private async enforce(hostId: string): Promise<void> {
    const { store, pool, log } = this.core;
    const host = store.hosts.get(hostId);
    const target = host?.targetId ? store.targets.get(host.targetId) : null;
    if (!host || !target) return;
    const doomed = snapshotsBeyondQuota(store.snapshots.listByHost(hostId), host.syncStrategy.quota, this.snapshotInUse(host));
    if (doomed.length === 0) return;
    const driver = await pool.target(target);
    // Oldest first: each removal merges a layer into the next newer one, which stays.
    for (const snapshot of doomed.reverse()) {
      if (snapshot.ref !== null && hasSnapshots(driver)) await driver.snapshots.remove(snapshot.ref, AbortSignal.timeout(REMOVE_TIMEOUT_MS));
      store.snapshots.delete(snapshot.id);
      this.core.events.emit('snapshot', snapshot.id, { host_id: hostId, status: 'deleted' });
      log.info({ host: hostId, snapshot: snapshot.name, quota: host.syncStrategy.quota }, 'snapshot beyond the quota deleted');
      await store.persist();
    }
  }

  /** The snapshot a test boot of the host runs from (booting, or booted and still up). */
  private snapshotInUse(host: Host): string | null {
    if (host.bootStatus !== 'boot_doing' && host.bootStatus !== 'boot_done') return null;
    const last = this.core.store.jobs.query({ ownerId: host.id, jobType: 'Boot', page: 1, pageSize: 1 }).items[0];
    if (!last || last.params.backup_type !== 'volume_snapshot') return null;
    return typeof last.params.snapshot_id === 'string' ? last.params.snapshot_id : null;
  }
}
