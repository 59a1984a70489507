/**
 * What a host row can do and what it shows, as pure functions of the wire data: the buttons'
 * enabled state comes only from the engine's flags (`is_sync`, `is_next_step`, `is_clean`,
 * `is_stop_sync`), never from the UI's own reading of the states.
 */
import { formatBytes, formatRemaining, formatSpeed } from '../../../src-shared/units.js';
import type { DetailData, HostItem, HostsActionBody } from '../api/index.js';

export const HOST_ACTIONS = ['sync', 'stop_sync', 'next_step', 'clean'] as const;
export type HostAction = (typeof HOST_ACTIONS)[number];

const FLAG: Record<HostAction, 'is_sync' | 'is_stop_sync' | 'is_next_step' | 'is_clean'> = {
  sync: 'is_sync',
  stop_sync: 'is_stop_sync',
  next_step: 'is_next_step',
  clean: 'is_clean',
};

/** Whether the engine allows `action` on `host` now. */
export function isActionAllowed(host: HostItem, action: HostAction): boolean {
  return host[FLAG[action]];
}

/**
 * The POST /hosts body for one action on one host. A sync takes a snapshot when it completes;
 * it is incremental once a snapshot exists, full before. The speed limit is left as it was.
 */
export function actionBody(action: HostAction, host: HostItem): HostsActionBody {
  const ids = [host.id];
  switch (action) {
    case 'sync':
      return { ids, sync: { do_snapshot: true, sync_mode: host.has_success_snapshot ? 'incremental' : 'full' } };
    case 'stop_sync':
      return { ids, stop_sync: {} };
    case 'next_step':
      return { ids, next_step: { step: '4' } };
    case 'clean':
      return { ids, clean: { force: false } };
  }
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * `detail_data` from an SSE `progress` event. The event carries the engine's raw figures in
 * snake_case (`total_bytes`, `done_bytes`, `bytes_per_second`, `remaining_seconds`); the seed
 * shapes come from src-shared/units.ts, the same formatting the engine uses for GET /hosts. Null
 * when the event does not carry them.
 */
export function detailFromProgress(data: Record<string, unknown>): DetailData | null {
  const total = num(data.total_bytes);
  const done = num(data.done_bytes);
  if (total === null || done === null) return null;
  const speed = num(data.bytes_per_second) ?? 0;
  const remaining = num(data.remaining_seconds) ?? -1;
  const percent = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
  const sync_total = formatBytes(total);
  const synced = formatBytes(done);
  const remaining_time = formatRemaining(remaining);
  const speedText = formatSpeed(speed);
  return {
    percent,
    remaining_time,
    speed: speedText,
    sync_total,
    synced,
    sync_detail: `Data syncing:${percent}% Total:${sync_total} synced:${synced} Speed:${speedText} Remain time:${remaining_time}`,
  };
}

/** A sync that sent no progress event for this long is shown as stalled. */
export const STALL_AFTER_MS = 10_000;

/** Whether a running sync last moved more than `STALL_AFTER_MS` before `now`. */
export function isStalled(syncing: boolean, lastProgressAt: number | undefined, now: number): boolean {
  return syncing && lastProgressAt !== undefined && now - lastProgressAt > STALL_AFTER_MS;
}
