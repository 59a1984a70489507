import { describe, expect, it } from 'vitest';
import { ApiClient, RehostApi, type JobItem } from '../api/index.js';
import { HostDetailState } from './host-detail.svelte.js';
import { filterTree, hostIdsUnder, normalizeTree } from './inventory-tree.js';
import { addSample, chartPoints, pastSyncs, sampleFromProgress } from './throughput.js';

function fakeApi(route: (url: string) => { status: number; body: unknown; type?: string }): RehostApi {
  return new RehostApi(
    new ApiClient({
      base: '/api',
      fetch: async (url) => {
        const { status, body, type } = route(url);
        return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers: { 'Content-Type': type ?? 'application/json' } });
      },
    }),
  );
}

describe('throughput', () => {
  it('reads snake_case progress events and starts a new run when a new sync begins', () => {
    expect(sampleFromProgress({ totalBytes: 1, doneBytes: 1 }, 0)).toBeNull();
    const a = sampleFromProgress({ total_bytes: 100, done_bytes: 10, bytes_per_second: 5 }, 1000)!;
    const b = sampleFromProgress({ total_bytes: 100, done_bytes: 60, bytes_per_second: 50 }, 2000)!;
    const c = sampleFromProgress({ total_bytes: 100, done_bytes: 0, bytes_per_second: 0 }, 9000)!;
    let runs = addSample([], a);
    runs = addSample(runs, b);
    expect(runs).toHaveLength(1);
    runs = addSample(runs, c);
    expect(runs.map((r) => r.length)).toEqual([2, 1]);
    expect(chartPoints(runs[0]!, 100, 50, 50)).toEqual([
      { x: 0, y: 45 },
      { x: 100, y: 0 },
    ]);
  });

  it('lists past syncs from Sync jobs, oldest first, with durations', () => {
    const job = (id: string, start: string, end: string | null, type = 'Sync') => ({ task_id: id, job_type: type, job_status: end ? 'done' : 'working', start_at: start, end_at: end, failure_reason: null }) as unknown as JobItem;
    const past = pastSyncs([job('2', '2026-01-01T00:10:00Z', null), job('1', '2026-01-01T00:00:00Z', '2026-01-01T00:01:30Z'), job('x', '2026-01-01T00:00:00Z', null, 'Boot')]);
    expect(past.map((p) => [p.id, p.seconds])).toEqual([
      ['1', 90],
      ['2', null],
    ]);
  });
});

describe('host detail', () => {
  it('shows the console on 200 and hides it on 404', async () => {
    let consoleStatus = 200;
    const api = fakeApi((url) => {
      if (url.endsWith('/console')) return consoleStatus === 200 ? { status: 200, body: 'SeaBIOS\nlogin:', type: 'text/plain' } : { status: 404, body: { code: 404, message: 'no console', error: 'NOT_FOUND' } };
      if (url.includes('/jobs')) return { status: 200, body: { page_size: 50, total: 0, data: [] } };
      return { status: 200, body: { host_detail: { primary_information: { data: {}, health_status: 'active', title: '' }, inventory: {}, checks: [] } } };
    });
    const state = new HostDetailState(api);
    await state.open('h1');
    expect(state.console).toBe('SeaBIOS\nlogin:');
    expect(state.base).not.toBeNull();
    consoleStatus = 404;
    await state.pollConsole();
    expect(state.console).toBeNull();
    state.close();
  });

  it('keeps progress samples of hosts whose detail is closed', () => {
    const state = new HostDetailState(fakeApi(() => ({ status: 404, body: {} })));
    state.applyProgress('h2', { total_bytes: 10, done_bytes: 1, bytes_per_second: 1 }, 1);
    expect(state.runs).toEqual([]);
    state.hostId = 'h2';
    state.applyProgress('h2', { total_bytes: 10, done_bytes: 2, bytes_per_second: 1 }, 2);
    expect(state.runs[0]).toHaveLength(2);
  });
});

describe('inventory tree', () => {
  const machines = [
    { id: 'vm-1', name: 'web-01' },
    { id: 'vm-2', name: 'db-01' },
  ];

  it('reads datacenters → clusters → hosts → folders → VMs and matches VMs to machines', () => {
    const tree = { datacenters: [{ name: 'DC1', clusters: [{ name: 'C1', hosts: [{ name: 'esx1', vms: [{ name: 'web-01', id: 'vm-1' }] }] }], folders: [{ name: 'db', vms: [{ name: 'db-01' }] }] }] };
    const nodes = normalizeTree(tree, machines);
    expect(nodes).toHaveLength(1);
    expect(nodes[0]!.kind).toBe('datacenter');
    expect(hostIdsUnder(nodes[0]!).sort()).toEqual(['vm-1', 'vm-2']);
    const filtered = filterTree(nodes, 'DB-0');
    expect(hostIdsUnder(filtered[0]!)).toEqual(['vm-2']);
  });

  it('accepts a flat list and no tree at all', () => {
    expect(normalizeTree(null, machines)).toEqual([]);
    const flat = normalizeTree([{ name: 'web-01', type: 'VirtualMachine' }], machines);
    expect(flat[0]).toMatchObject({ kind: 'vm', hostId: 'vm-1' });
  });
});
