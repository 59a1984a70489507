import { describe, expect, it, vi } from 'vitest';
import { ApiClient, RehostApi, type HostItem } from '../api/index.js';
import { actionBody, detailFromProgress, isActionAllowed } from './host-actions.js';
import { HostsState } from './hosts.svelte.js';

function host(overrides: Partial<HostItem> = {}): HostItem {
  return {
    id: 'h1',
    host_name: 'web-01',
    host_type: 'image',
    system_type: 'Linux',
    ip_address: null,
    mac_address: null,
    created_at: '2026-01-01T00:00:00Z',
    description: null,
    detail: null,
    detail_data: null,
    h_host_status: 'host_register_done',
    h_boot_status: 'not_boot',
    h_health_status: 'active',
    h_sync_status: 'host_register_done',
    host_status: 'host_register_done',
    boot_status: 'not_boot',
    health_status: 'active',
    sync_status: 'host_register_done',
    host_icon: 'done',
    boot_icon: null,
    health_icon: 'done',
    sync_icon: 'done',
    is_clean: false,
    is_doing: false,
    is_next_step: false,
    is_stop_sync: false,
    is_sync: true,
    has_success_snapshot: false,
    last_snapshots_at: null,
    last_project_name: null,
    license_id: null,
    license_valid: true,
    snapshots: [],
    storage_id: 't1',
    target_name: 'Local_/srv',
    task_id: null,
    cloud_instance_id: null,
    sync_required_volumes: 1,
    step: '2',
    ...overrides,
  };
}

type Route = (url: string, init: RequestInit) => { status: number; body: unknown } | Promise<{ status: number; body: unknown }>;

function fakeApi(route: Route): { api: RehostApi; calls: { url: string; body: unknown }[] } {
  const calls: { url: string; body: unknown }[] = [];
  const client = new ApiClient({
    base: '/api',
    fetch: async (url, init) => {
      calls.push({ url, body: init.body === undefined ? undefined : JSON.parse(String(init.body)) });
      const { status, body } = await route(url, init);
      return new Response(JSON.stringify(body), { status });
    },
  });
  return { api: new RehostApi(client), calls };
}

describe('host actions', () => {
  it('enables buttons from the engine flags only', () => {
    const h = host({ is_sync: false, is_stop_sync: true, h_host_status: 'sync_doing' });
    expect(isActionAllowed(h, 'sync')).toBe(false);
    expect(isActionAllowed(h, 'stop_sync')).toBe(true);
    expect(isActionAllowed(h, 'next_step')).toBe(false);
    expect(isActionAllowed(h, 'clean')).toBe(false);
  });

  it('builds one POST /hosts body per action', () => {
    expect(actionBody('sync', host())).toEqual({ ids: ['h1'], sync: { do_snapshot: true, sync_mode: 'full' } });
    expect(actionBody('sync', host({ has_success_snapshot: true })).sync?.sync_mode).toBe('incremental');
    expect(actionBody('next_step', host())).toEqual({ ids: ['h1'], next_step: { step: '4' } });
    expect(actionBody('stop_sync', host())).toEqual({ ids: ['h1'], stop_sync: {} });
    expect(actionBody('clean', host())).toEqual({ ids: ['h1'], clean: { force: false } });
  });

  it('turns a progress event into the seed detail_data shape', () => {
    const mib = 1024 * 1024;
    const detail = detailFromProgress({ total_bytes: 512 * mib, done_bytes: 252 * mib, bytes_per_second: 1_750_000, remaining_seconds: 139 });
    expect(detail).toMatchObject({ percent: 49, sync_total: '512MB', synced: '252MB', speed: '14Mbps', remaining_time: '2Minute(s)19Sec(s)' });
    expect(detailFromProgress({ phase: 'x' })).toBeNull();
    // camelCase is no longer read: the engine sends snake_case only.
    expect(detailFromProgress({ totalBytes: 100, doneBytes: 50 })).toBeNull();
  });
});

describe('HostsState', () => {
  it('lists the selected step and drops answers to stale requests', async () => {
    let release: (() => void) | null = null;
    const { api, calls } = fakeApi(async (url) => {
      if (url.includes('status=register')) {
        await new Promise<void>((r) => (release = r));
        return { status: 200, body: { page_size: 20, total: 1, data: [host({ id: 'old' })] } };
      }
      return { status: 200, body: { page_size: 20, total: 1, data: [host({ id: 'new', step: '2' })] } };
    });
    const state = new HostsState(api);
    const first = state.load();
    state.showTab('sync');
    await new Promise((r) => setTimeout(r, 0));
    release!();
    await first;
    await new Promise((r) => setTimeout(r, 0));
    expect(calls.map((c) => c.url)).toEqual(['/api/hosts?status=register&page=1&page_size=20', '/api/hosts?status=sync&page=1&page_size=20']);
    expect(state.items.map((h) => h.id)).toEqual(['new']);
    expect(state.loading).toBe(false);
  });

  it('runs an action and shows its failure in the row', async () => {
    const { api, calls } = fakeApi((url, init) =>
      init.method === 'POST'
        ? { status: 409, body: { code: 409, message: 'host web-01 cannot go from sync_doing to sync_doing', error: 'INVALID_TRANSITION' } }
        : { status: 200, body: { page_size: 20, total: 1, data: [host()] } },
    );
    const state = new HostsState(api);
    await state.load();
    await state.run(state.items[0]!, 'sync');
    expect(calls[1]).toEqual({ url: '/api/hosts', body: { ids: ['h1'], sync: { do_snapshot: true, sync_mode: 'full' } } });
    expect(state.rowErrors.h1?.code).toBe('INVALID_TRANSITION');
    expect(state.busy.h1).toBeUndefined();
  });

  it('refuses actions the engine does not allow', async () => {
    const { api, calls } = fakeApi(() => ({ status: 200, body: { page_size: 20, total: 1, data: [host({ is_clean: false })] } }));
    const state = new HostsState(api);
    await state.load();
    await state.run(state.items[0]!, 'clean');
    expect(calls).toHaveLength(1);
  });

  it('patches live progress into the listed host', async () => {
    const { api } = fakeApi(() => ({ status: 200, body: { page_size: 20, total: 1, data: [host({ h_host_status: 'sync_doing' })] } }));
    const state = new HostsState(api);
    await state.load();
    state.applyProgress('h1', { total_bytes: 100, done_bytes: 25, bytes_per_second: 0, remaining_seconds: -1 });
    expect(state.items[0]!.detail_data?.percent).toBe(25);
    state.applyProgress('other', { total_bytes: 100, done_bytes: 50 });
    expect(state.items[0]!.detail_data?.percent).toBe(25);
  });

  it('coalesces event reloads, and skips them while no screen shows the list', async () => {
    vi.useFakeTimers();
    try {
      const { api, calls } = fakeApi(() => ({ status: 200, body: { page_size: 20, total: 0, data: [] } }));
      const state = new HostsState(api);
      state.scheduleReload();
      await vi.advanceTimersByTimeAsync(1000);
      expect(calls).toHaveLength(0);
      await state.load();
      for (let i = 0; i < 5; i++) state.scheduleReload();
      await vi.advanceTimersByTimeAsync(1000);
      expect(calls).toHaveLength(2);
      state.scheduleReload();
      state.pause();
      await vi.advanceTimersByTimeAsync(1000);
      expect(calls).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
