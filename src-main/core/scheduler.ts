/**
 * The sync schedule (seed 001: snapshot interval, start time): for every host whose
 * `sync_strategy.snapshot_auto_trigger` is on, an incremental sync (full when none ran yet) starts
 * at each slot `snapshot_start_time + k × snapshot_interval × unit`. A slot is taken once: a sync
 * that fails waits for the next slot, and a host busy at its slot (booting, cleaning) skips it.
 */
import type { IntervalUnit } from '../../src-shared/states.js';
import type { EngineCore } from './engine-core.js';
import type { HostService } from './hosts.js';
import type { Host, SyncStrategy } from './model.js';
import type { SyncService } from './sync.js';

const UNIT_MS: Record<IntervalUnit, number> = { '1': 60_000, '2': 3_600_000, '3': 86_400_000 };

/** The latest slot at or before `now`, or null before the start time. */
export function currentSlot(strategy: SyncStrategy, now: number): number | null {
  if (!strategy.autoTrigger || strategy.startTime === null || now < strategy.startTime) return null;
  const period = Math.max(1, strategy.interval) * UNIT_MS[strategy.intervalUnit];
  return strategy.startTime + Math.floor((now - strategy.startTime) / period) * period;
}

/** True when the slot's sync has not run: no sync finished at or after the slot began. */
export function isDue(host: Host, slot: number): boolean {
  return host.lastSyncAt === null || host.lastSyncAt < slot;
}

export class SyncScheduler {
  private timer: ReturnType<typeof setInterval> | null = null;
  /** The slot each host's last scheduled sync was started for, so one slot starts one sync. */
  private readonly taken = new Map<string, number>();
  private ticking = false;

  constructor(
    private readonly core: EngineCore,
    private readonly hosts: HostService,
    private readonly sync: SyncService,
    private readonly tickMs = 15_000,
  ) {}

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
    void this.tick();
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass over the hosts; public so tests can drive it with their own clock. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = this.core.clock.now();
      for (const host of this.core.store.hosts.list()) {
        const slot = currentSlot(host.syncStrategy, now);
        if (slot === null || this.taken.get(host.id) === slot || !isDue(host, slot)) continue;
        if (host.status === 'host_unregister_done' || !this.hosts.flags(host).isSync) continue;
        this.taken.set(host.id, slot);
        const mode = host.syncCount > 0 ? 'incremental' : 'full';
        await this.sync.start([host.id], { doSnapshot: host.syncStrategy.doSnapshot, mode }).catch((err: unknown) => {
          this.core.log.warn({ host: host.id, err: err instanceof Error ? err.message : String(err) }, 'scheduled sync did not start');
        });
        this.core.log.info({ host: host.id, mode, slot: new Date(slot).toISOString() }, 'scheduled sync started');
      }
    } finally {
      this.ticking = false;
    }
  }
}
