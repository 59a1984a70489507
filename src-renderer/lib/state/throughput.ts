/**
 * Throughput samples of syncs for the host detail chart: the current sync from SSE `progress`
 * events, past syncs from the jobs list (their transfer step's duration). Pure functions; the
 * host-detail state keeps the arrays.
 */
import type { JobItem } from '../api/index.js';

export interface Sample {
  /** Milliseconds since the epoch. */
  at: number;
  bytesPerSecond: number;
  doneBytes: number;
  totalBytes: number;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** A sample from a `progress` event's data, or null when it lacks the figures. */
export function sampleFromProgress(data: Record<string, unknown>, at: number): Sample | null {
  const total = num(data.total_bytes);
  const done = num(data.done_bytes);
  if (total === null || done === null) return null;
  return { at, totalBytes: total, doneBytes: done, bytesPerSecond: Math.max(0, num(data.bytes_per_second) ?? 0) };
}

/**
 * Appends a sample to the current run; a sample whose done bytes went backwards (a new sync)
 * starts a new run. Keeps at most `max` samples per run.
 */
export function addSample(runs: Sample[][], sample: Sample, max = 600): Sample[][] {
  const current = runs.at(-1);
  if (!current || (current.length > 0 && sample.doneBytes < current.at(-1)!.doneBytes)) return [...runs, [sample]];
  const next = [...current, sample];
  if (next.length > max) next.splice(0, next.length - max);
  return [...runs.slice(0, -1), next];
}

export interface Point {
  x: number;
  y: number;
}

/** Polyline points of a run in a `width`×`height` box (time on x, bytes/s on y, 0 at the bottom). */
export function chartPoints(run: readonly Sample[], width: number, height: number, maxRate: number): Point[] {
  if (run.length === 0) return [];
  const t0 = run[0]!.at;
  const span = Math.max(1000, run.at(-1)!.at - t0);
  const top = Math.max(1, maxRate);
  return run.map((s) => ({ x: Math.round(((s.at - t0) / span) * width * 10) / 10, y: Math.round((height - (s.bytesPerSecond / top) * height) * 10) / 10 }));
}

/** A finished or running sync from the jobs list, for the "past syncs" bars. */
export interface PastSync {
  id: string;
  startAt: number;
  seconds: number | null;
  status: string;
  failure: string | null;
}

/** Past syncs of a host, oldest first, from its `Sync` jobs. */
export function pastSyncs(jobs: readonly JobItem[]): PastSync[] {
  return jobs
    .filter((j) => j.job_type === 'Sync')
    .map((j) => {
      const start = Date.parse(j.start_at);
      const end = j.end_at ? Date.parse(j.end_at) : NaN;
      return { id: j.task_id, startAt: start, seconds: Number.isNaN(end) || Number.isNaN(start) ? null : Math.max(0, (end - start) / 1000), status: j.job_status, failure: j.failure_reason };
    })
    .sort((a, b) => a.startAt - b.startAt);
}
