/**
 * Live sync progress per host, kept in memory (ticks are not persisted; checkpoints are). The API
 * renders it as the seed's `detail_data`; every change is an SSE `progress` event.
 */
import type { EventBus } from './events.js';
import type { SyncProgress } from './model.js';

const SPEED_WINDOW_MS = 5000;

export class ProgressBoard {
  private readonly live = new Map<string, SyncProgress & { samples: { at: number; bytes: number }[] }>();

  constructor(private readonly events: EventBus) {}

  start(hostId: string, totalBytes: number, phase: string): void {
    const now = Date.now();
    this.live.set(hostId, { totalBytes, doneBytes: 0, bytesPerSecond: 0, remainingSeconds: -1, phase, updatedAt: now, samples: [{ at: now, bytes: 0 }] });
    this.emit(hostId);
  }

  update(hostId: string, doneBytes: number, totalBytes?: number, phase?: string): void {
    const p = this.live.get(hostId);
    if (!p) return;
    const now = Date.now();
    p.doneBytes = doneBytes;
    if (totalBytes !== undefined) p.totalBytes = totalBytes;
    if (phase !== undefined) p.phase = phase;
    p.samples.push({ at: now, bytes: doneBytes });
    while (p.samples.length > 2 && now - p.samples[0]!.at > SPEED_WINDOW_MS) p.samples.shift();
    const first = p.samples[0]!;
    const elapsed = (now - first.at) / 1000;
    p.bytesPerSecond = elapsed > 0 ? Math.max(0, (doneBytes - first.bytes) / elapsed) : 0;
    p.remainingSeconds = p.bytesPerSecond > 0 ? (p.totalBytes - doneBytes) / p.bytesPerSecond : -1;
    p.updatedAt = now;
    this.emit(hostId);
  }

  get(hostId: string): SyncProgress | null {
    const p = this.live.get(hostId);
    if (!p) return null;
    const { samples: _samples, ...rest } = p;
    return rest;
  }

  /** Ends the live view and returns the last figures (persisted with the host). */
  finish(hostId: string, phase: string): SyncProgress | null {
    const p = this.get(hostId);
    this.live.delete(hostId);
    if (!p) return null;
    const done = { ...p, phase, remainingSeconds: 0, updatedAt: Date.now() };
    this.events.emit('progress', hostId, { ...done });
    return done;
  }

  private emit(hostId: string): void {
    const p = this.get(hostId);
    if (p) this.events.emit('progress', hostId, { ...p });
  }
}
