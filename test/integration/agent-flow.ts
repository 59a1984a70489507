/**
 * Shared steps of the agent integration tests: the agent bundle built once per file, an Agent
 * source and a Local target registered through the API, syncs started and awaited.
 */
import { join } from 'node:path';
import { build } from 'esbuild';
import { ROOT, waitFor, type Rehost } from '../harness.js';

/** Builds the agent bundle (as scripts/build.mjs does) into `dir`; returns its path. */
export async function buildAgent(dir: string): Promise<string> {
  await build({ bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'error', entryPoints: { agent: join(ROOT, 'src-main/agent/main.ts') }, outdir: dir, outExtension: { '.js': '.cjs' } });
  return join(dir, 'agent.cjs');
}

export async function addAgentSource(r: Rehost, name: string, config: Record<string, unknown>): Promise<{ id: string; status: number; body: any }> {
  const res = await r.api('POST', '/sources', { type: 'Agent', name, config });
  return { id: res.body?.data?.id, status: res.status, body: res.body };
}

/** Waits until the source leaves `connecting`; returns its detail. */
export async function settledSource(r: Rehost, id: string): Promise<any> {
  return waitFor(`source ${id} settled`, async () => {
    const res = await r.api('GET', `/sources/${id}`);
    return res.body.source.status !== 'connecting' ? res.body : null;
  }, 60_000);
}

export async function addLocalTarget(r: Rehost, path: string): Promise<{ targetId: string; poolId: string }> {
  const tgt = await r.api('POST', '/targets', { type: 'HyperGate', config: { cloud_type: 'Local', path }, metadata: { driver_name: 'Local' } });
  if (tgt.status !== 200) throw new Error(JSON.stringify(tgt.body));
  const targetId = tgt.body.data.uuid as string;
  await waitFor('target active', async () => (await r.api('GET', '/targets')).body.targets.data.find((t: any) => t.uuid === targetId)?.target_status === 'active');
  const list = await r.api('GET', '/targets?cloud_type=Local');
  const storage = list.body.targets.storages.find((s: any) => s.storage_id === targetId);
  return { targetId, poolId: storage.pools[0].pool_uuid };
}

/** Registers the source's one host and assigns it to the target; returns the host id. */
export async function registerAndAssign(r: Rehost, sourceId: string, target: { targetId: string; poolId: string }): Promise<string> {
  const offered = await r.api('GET', `/sources/${sourceId}/hosts`);
  const hostId = offered.body.data[0].id as string;
  const reg = await r.api('POST', '/hosts/register', { ids: [hostId] });
  if (reg.status !== 200) throw new Error(JSON.stringify(reg.body));
  const assign = await r.api('PUT', '/hosts/target_platform', { ids: [hostId], storage_id: target.targetId, pool_id: target.poolId, step: '2' });
  if (assign.status !== 200) throw new Error(JSON.stringify(assign.body));
  return hostId;
}

export async function startSync(r: Rehost, hostId: string, mode: 'full' | 'incremental', transferSpeed = 0): Promise<void> {
  const res = await r.api('POST', '/hosts', { ids: [hostId], sync: { do_snapshot: false, sync_mode: mode, transfer_speed: transferSpeed } });
  if (res.status !== 200) throw new Error(JSON.stringify(res.body));
}

export async function host(r: Rehost, hostId: string): Promise<any> {
  return (await r.api('GET', `/hosts?ids=${hostId}`)).body.data[0];
}

/** Waits for the running sync to end; returns the host ('sync_snapshot_done' or 'sync_failed'). */
export async function syncEnded(r: Rehost, hostId: string, timeoutMs = 120_000): Promise<any> {
  return waitFor('sync end', async () => {
    const h = await host(r, hostId);
    return h.h_host_status === 'sync_snapshot_done' || h.h_host_status === 'sync_failed' ? h : null;
  }, timeoutMs);
}

/** The newest Sync job (the API lists newest first) and its step named `name`. */
export async function syncStep(r: Rehost, hostId: string, name: string): Promise<{ job: any; step: any }> {
  const job = (await r.api('GET', `/jobs?id=${hostId}&job_type=Sync`)).body.data[0];
  return { job, step: job?.steps.find((s: any) => s.name === name) };
}
