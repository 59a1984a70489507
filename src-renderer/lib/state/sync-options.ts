/**
 * The sync step's choices as the seed's `sync` object (§4.4.1) and the strategy body
 * (PUT /hosts/:id/sync_strategy), with the speed-limit semantics spelled out:
 * empty keeps the last limit (unlimited on a first sync), 0 is unlimited, ≥ 1 is Mbps.
 */
import type { IntervalUnit } from '../../../src-shared/states.js';
import type { SyncParams, SyncStrategyBody } from '../api/index.js';

export type SpeedParse = { ok: true; value: number | undefined } | { ok: false };

/** The wire `transfer_speed` from what the user typed. */
export function parseSpeed(text: string): SpeedParse {
  const t = text.trim();
  if (t === '') return { ok: true, value: undefined };
  const n = Number(t);
  if (!Number.isFinite(n) || n < 0 || (n > 0 && n < 1) || n > 1_000_000) return { ok: false };
  return { ok: true, value: n };
}

export interface SyncChoice {
  mode: 'full' | 'incremental';
  doSnapshot: boolean;
  speed: string;
}

/** The `sync` object of POST /hosts, or null when the speed is not valid. */
export function syncParams(choice: SyncChoice): SyncParams | null {
  const speed = parseSpeed(choice.speed);
  if (!speed.ok) return null;
  return { do_snapshot: choice.doSnapshot, sync_mode: choice.mode, ...(speed.value !== undefined ? { transfer_speed: speed.value } : {}) };
}

export interface StrategyChoice {
  autoTrigger: boolean;
  interval: number;
  unit: IntervalUnit;
  quota: number;
  /** `datetime-local` input value, or '' for "now". */
  startTime: string;
  speed: string;
}

/** The sync_strategy body, or null when a value is out of range. */
export function strategyBody(choice: StrategyChoice): SyncStrategyBody | null {
  const speed = parseSpeed(choice.speed);
  if (!speed.ok) return null;
  if (!Number.isInteger(choice.interval) || choice.interval < 1 || choice.interval > 10_000) return null;
  if (!Number.isInteger(choice.quota) || choice.quota < 1 || choice.quota > 1000) return null;
  const start = choice.startTime === '' ? null : new Date(choice.startTime);
  if (start !== null && Number.isNaN(start.getTime())) return null;
  return {
    snapshot_auto_trigger: choice.autoTrigger,
    snapshot_interval: choice.interval,
    snapshot_interval_unit: choice.unit,
    snapshot_quota: choice.quota,
    snapshot_start_time: start === null ? null : start.toISOString(),
    ...(speed.value !== undefined ? { transfer_speed: speed.value } : {}),
  };
}
