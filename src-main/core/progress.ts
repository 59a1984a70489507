/**
 * Live sync progress per host, kept in memory (ticks are not persisted; checkpoints are). The API
 * renders it as the seed's `detail_data`; every change is an SSE `progress` event, and a heartbeat
 * repeats the figures while nothing moves (opening the source snapshot, between disks, a
 * reconnect), so a client hears from a running sync at least once a second.
 */
import type { EventBus } from './events.js';
import type { SyncProgress } from './model.js';

const SPEED_WINDOW_MS = 5000;
/** A live entry not emitted for this long is emitted again (its speed decaying towards 0). */
const HEARTBEAT_MS = 500;

type Live = SyncProgress & { samples: { at: number; bytes: number }[]; emittedAt: number };

export class ProgressBoard {
  private readonly live = new Map<string, Live>();
  private heartbeat: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly events: EventBus) {}

  start(hostId: string, totalBytes: number, phase: string): void {
    const now = Date.now();
    this.live.set(hostId, { totalBytes, doneBytes: 0, bytesPerSecond: 0, remainingSeconds: -1, phase, updatedAt: now, samples: [{ at: now, bytes: 0 }], emittedAt: 0 });
    this.emit(hostId);
    this.heartbeat ??= setInterval(() => this.beat(), HEARTBEAT_MS);
    // The heartbeat alone must not keep a process alive.
    (this.heartbeat as { unref?: () => void }).unref?.();
  }

  update(hostId: string, doneBytes: number, totalBytes?: number, phase?: string): void {
    const p = this.live.get(hostId);
    if (!p) return;
    if (totalBytes !== undefined) p.totalBytes = totalBytes;
    if (phase !== undefined) p.phase = phase;
    this.sample(p, doneBytes);
    p.updatedAt = p.samples.at(-1)!.at;
    this.emit(hostId);
  }

  get(hostId: string): SyncProgress | null {
    const p = this.live.get(hostId);
    if (!p) return null;
    const { samples: _samples, emittedAt: _emittedAt, ...rest } = p;
    return rest;
  }

  /** Ends the live view and returns the last figures (persisted with the host). */
  finish(hostId: string, phase: string): SyncProgress | null {
    const p = this.get(hostId);
    this.live.delete(hostId);
    this.stopWhenIdle();
    if (!p) return null;
    const done = { ...p, phase, remainingSeconds: 0, updatedAt: Date.now() };
    this.events.emit('progress', hostId, { ...done });
    return done;
  }

  /** Stops the heartbeat (engine shutdown). */
  close(): void {
    this.live.clear();
    this.stopWhenIdle();
  }

  /** Records `doneBytes` now and recomputes the speed over the last SPEED_WINDOW_MS and the time left. */
  private sample(p: Live, doneBytes: number): void {
    const now = Date.now();
    p.doneBytes = doneBytes;
    p.samples.push({ at: now, bytes: doneBytes });
    while (p.samples.length > 2 && now - p.samples[0]!.at > SPEED_WINDOW_MS) p.samples.shift();
    const first = p.samples[0]!;
    const elapsed = (now - first.at) / 1000;
    p.bytesPerSecond = elapsed > 0 ? Math.max(0, (doneBytes - first.bytes) / elapsed) : 0;
    p.remainingSeconds = p.bytesPerSecond > 0 ? (p.totalBytes - doneBytes) / p.bytesPerSecond : -1;
  }

  /** Emits every live entry that was quiet for a heartbeat; `updatedAt` stays the last real change. */
  private beat(): void {
    const now = Date.now();
    for (const [hostId, p] of this.live) {
      if (now - p.emittedAt < HEARTBEAT_MS) continue;
      this.sample(p, p.doneBytes);
      this.emit(hostId);
    }
  }

  private stopWhenIdle(): void {
    if (this.live.size > 0 || this.heartbeat === null) return;
    clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private emit(hostId: string): void {
    const p = this.live.get(hostId);
    if (!p) return;
    p.emittedAt = Date.now();
    this.events.emit('progress', hostId, { ...this.get(hostId)! });
  }
}
