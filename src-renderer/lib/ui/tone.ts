/** The colour family of a status value, from its wire spelling (`*_doing`, `*_failed` …). */
export type Tone = 'ok' | 'busy' | 'bad' | 'idle';

const OK = new Set(['active', 'available', 'connected', 'done', 'boot_done', 'sync_snapshot_done', 'host_register_done', 'clean_done', 'create_done', 'OK']);
const BAD = new Set(['failed', 'disconnected', 'ERROR', 'stalled']);
const BUSY = new Set(['working', 'connecting', 'creating', 'removing', 'pending', 'WARN']);

export function toneOf(status: string): Tone {
  if (OK.has(status)) return 'ok';
  if (BAD.has(status) || status.endsWith('_failed')) return 'bad';
  if (BUSY.has(status) || status.endsWith('_doing')) return 'busy';
  return 'idle';
}
