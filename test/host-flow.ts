/**
 * The REST steps the migration tests repeat: a host from a folder of images, a target waited
 * until active, syncs and boots waited until their job has ended, snapshot ids in creation order,
 * and stopping machines a failed run left behind.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { waitFor, type Rehost } from './harness.js';

/** The host's row as `GET /hosts` lists it. */
export async function hostRow(r: Rehost, id: string): Promise<any> {
  return (await r.api('GET', `/hosts?ids=${id}`)).body.data[0];
}

/** Adds an Image source on `folder`, waits until it is connected and registers its first host; returns the host id. */
export async function registerImageHost(r: Rehost, folder: string, name = 'imgs'): Promise<string> {
  const src = (await r.api('POST', '/sources', { type: 'Image', name, config: { path: folder } })).body.data.id;
  await waitFor('source connected', async () => (await r.api('GET', `/sources/${src}`)).body.source.status === 'connected');
  const id = (await r.api('GET', `/sources/${src}/hosts`)).body.data[0].id;
  assert.equal((await r.api('POST', '/hosts/register', { ids: [id] })).status, 200);
  return id;
}

/** Creates a target (HyperGate) and waits until it is active; throws with the record when it fails. */
export async function addTarget(r: Rehost, config: Record<string, unknown> & { cloud_type: string }): Promise<string> {
  const created = await r.api('POST', '/targets', { type: 'HyperGate', config, metadata: { driver_name: config.cloud_type } });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const tgt: string = created.body.data.uuid;
  await waitFor('target active', async () => {
    const t = (await r.api('GET', '/targets')).body.targets.data.find((x: any) => x.uuid === tgt);
    if (t?.target_status === 'create_failed') throw new Error(JSON.stringify(t));
    return t?.target_status === 'active';
  });
  return tgt;
}

/** Assigns the host to the target (step 2 of the wizard). */
export async function assignTarget(r: Rehost, id: string, tgt: string): Promise<void> {
  const res = await r.api('PUT', '/hosts/target_platform', { ids: [id], storage_id: tgt, pool_id: tgt, step: '2' });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

export interface SyncWait {
  doSnapshot?: boolean;
  timeoutMs?: number;
  /** Resolve with the failed host instead of throwing (tests of failures). */
  allowFailure?: boolean;
}

/** Starts a sync and waits until its job has ended; resolves with the host row. */
export async function syncAndWait(r: Rehost, id: string, mode: 'full' | 'incremental', options: SyncWait = {}): Promise<any> {
  const jobs = async () => (await r.api('GET', `/jobs?id=${id}&job_type=Sync&page_size=1`)).body;
  const before = (await jobs()).total;
  const res = await r.api('POST', '/hosts', { ids: [id], sync: { do_snapshot: options.doSnapshot ?? true, sync_mode: mode, transfer_speed: 0 } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return waitFor(`${mode} sync`, async () => {
    const h = await hostRow(r, id);
    if (h.h_host_status === 'sync_failed' && !options.allowFailure) throw new Error(h.detail);
    const list = await jobs();
    const ended = list.total > before && ['done', 'failed'].includes(list.data[0].job_status);
    return ended && ['sync_snapshot_done', 'sync_failed'].includes(h.h_host_status) ? h : null;
  }, options.timeoutMs ?? 120_000);
}

/**
 * Starts a boot and waits until both the host and its job say it ended (the host shows
 * boot_done a moment before the job records its result); resolves with both.
 */
export async function bootAndWait(r: Rehost, id: string, boot: Record<string, unknown>, timeoutMs = 300_000): Promise<{ host: any; job: any }> {
  const jobs = async () => (await r.api('GET', `/jobs?id=${id}&job_type=Boot&page_size=1`)).body;
  const before = (await jobs()).total;
  const res = await r.api('POST', `/hosts/${id}/action`, { boot });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return waitFor('boot', async () => {
    const list = await jobs();
    if (list.total <= before || !['done', 'failed'].includes(list.data[0].job_status)) return null;
    const h = await hostRow(r, id);
    return ['boot_done', 'boot_failed'].includes(h.h_boot_status) ? { host: h, job: list.data[0] } : null;
  }, timeoutMs, 250);
}

/** The host's snapshots, oldest first. */
export async function snapshotsOldestFirst(r: Rehost, id: string): Promise<any[]> {
  const sheet = await r.api('GET', `/hosts/${id}?sheet=snapshot&page_size=50`);
  return sheet.body.data.sort((a: any, b: any) => a.created_at.localeCompare(b.created_at) || a.snapshot_name.localeCompare(b.snapshot_name));
}

/** Command lines of the processes whose command line contains every one of `parts`. */
export function processesWith(...parts: string[]): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((pid) => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return parts.every((part) => cmd.includes(part));
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** A failed run must not leave machines behind: kills every process whose command line has all of `parts`. */
export function killProcessesWith(...parts: string[]): void {
  for (const pid of processesWith(...parts)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
