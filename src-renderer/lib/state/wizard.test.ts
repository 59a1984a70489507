import { describe, expect, it } from 'vitest';
import { ApiClient, RehostApi } from '../api/index.js';
import { bootParams, BootState, toOption, type BootChoice } from './boot.svelte.js';
import { buildConfig, emptyValues, missingFields, SOURCE_FIELDS, TARGET_FIELDS } from './config-specs.js';
import { isStalled, STALL_AFTER_MS } from './host-actions.js';
import { SourceHostsState, toSourceHost, worstLevel } from './source-hosts.svelte.js';
import { parseSpeed, strategyBody, syncParams } from './sync-options.js';

type Route = (url: string, init: RequestInit) => { status: number; body: unknown };

function fakeApi(route: Route): { api: RehostApi; calls: { method: string; url: string; body: unknown }[] } {
  const calls: { method: string; url: string; body: unknown }[] = [];
  const client = new ApiClient({
    base: '/api',
    fetch: async (url, init) => {
      calls.push({ method: String(init.method), url, body: init.body === undefined ? undefined : JSON.parse(String(init.body)) });
      const { status, body } = route(url, init);
      return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status });
    },
  });
  return { api: new RehostApi(client), calls };
}

const check = (severity: 'OK' | 'WARN' | 'ERROR', ok = severity !== 'ERROR') => ({ id: `c-${severity}`, ok, severity, code: 'x', reason: `${severity} reason`, params: {} });

describe('register step', () => {
  it('reads source hosts and ranks their checks', () => {
    const h = toSourceHost({ id: 'a', host_name: 'web', os_type: 'Linux', cpus: 2, memory_mib: 2048, disks: [{ size: '10G' }], checks: [check('OK'), check('WARN')], is_registered: false });
    expect(h).toMatchObject({ id: 'a', name: 'web', cpus: 2, memoryMiB: 2048, disks: [{ size: '10G' }], registered: false });
    expect(worstLevel(h.checks)).toBe('WARN');
    expect(worstLevel([check('ERROR'), check('WARN')])).toBe('ERROR');
    expect(worstLevel([])).toBe('OK');
  });

  it('searches, refuses to tick hosts with ERROR checks or already registered, and registers the ticked ones', async () => {
    const hosts = [
      { id: 'a', host_name: 'web-01', checks: [check('OK')] },
      { id: 'b', host_name: 'db-01', checks: [check('ERROR')] },
      { id: 'c', host_name: 'web-02', checks: [], is_registered: true },
    ];
    const { api, calls } = fakeApi((url) => {
      if (url.endsWith('/sources/s1/hosts')) return { status: 200, body: { total: 3, data: hosts } };
      if (url.endsWith('/sources/s1')) return { status: 200, body: { source: { pinned_identity: 'SHA256:abc' }, tree: null, hosts: [] } };
      return { status: 200, body: { code: 200, message: 'ok', data: ['a'] } };
    });
    const state = new SourceHostsState(api);
    await state.open('s1');
    expect(state.pinned).toBe('SHA256:abc');
    state.search = 'WEB';
    expect(state.visible.map((h) => h.id)).toEqual(['a', 'c']);
    state.toggleVisible();
    expect(state.selected).toEqual(['a']);
    state.search = '';
    expect(state.selectableId('b')).toBe(false);
    expect(await state.register()).toBe(true);
    expect(calls.find((c) => c.url.endsWith('/hosts/register'))).toMatchObject({ method: 'POST', body: { ids: ['a'] } });
    expect(state.registeredCount).toBe(1);
  });

  it('keeps the engine error of a refused registration', async () => {
    const { api } = fakeApi((url) =>
      url.endsWith('/register') ? { status: 409, body: { code: 409, message: 'already registered', error: 'CONFLICT', field: 'ids' } } : { status: 200, body: { total: 1, data: [{ id: 'a', host_name: 'x' }], source: { pinned_identity: null }, tree: null } },
    );
    const state = new SourceHostsState(api);
    await state.open('s1');
    state.toggle('a', true);
    expect(await state.register()).toBe(false);
    expect(state.error?.code).toBe('CONFLICT');
    expect(state.error?.isAbout('ids')).toBe(true);
  });
});

describe('sync options', () => {
  it('follows the seed speed semantics: empty keeps, 0 unlimited, ≥ 1 Mbps', () => {
    expect(parseSpeed('')).toEqual({ ok: true, value: undefined });
    expect(parseSpeed('0')).toEqual({ ok: true, value: 0 });
    expect(parseSpeed('12.5')).toEqual({ ok: true, value: 12.5 });
    for (const bad of ['0.5', '-1', 'fast', '2000000']) expect(parseSpeed(bad).ok).toBe(false);
    expect(syncParams({ mode: 'full', doSnapshot: true, speed: '' })).toEqual({ do_snapshot: true, sync_mode: 'full' });
    expect(syncParams({ mode: 'incremental', doSnapshot: false, speed: '0' })).toEqual({ do_snapshot: false, sync_mode: 'incremental', transfer_speed: 0 });
    expect(syncParams({ mode: 'full', doSnapshot: true, speed: '0.2' })).toBeNull();
  });

  it('builds the sync strategy body and refuses values out of range', () => {
    const base = { autoTrigger: true, interval: 6, unit: '2' as const, quota: 3, startTime: '', speed: '100' };
    expect(strategyBody(base)).toEqual({ snapshot_auto_trigger: true, snapshot_interval: 6, snapshot_interval_unit: '2', snapshot_quota: 3, snapshot_start_time: null, transfer_speed: 100 });
    expect(strategyBody({ ...base, startTime: '2026-01-02T03:04' })?.snapshot_start_time).toMatch(/^2026-01-0\dT/);
    expect(strategyBody({ ...base, interval: 0 })).toBeNull();
    expect(strategyBody({ ...base, quota: 1001 })).toBeNull();
    expect(strategyBody({ ...base, speed: '0.1' })).toBeNull();
  });

  it('shows a sync as stalled only after 10 s without progress', () => {
    expect(isStalled(true, 1000, 1000 + STALL_AFTER_MS)).toBe(false);
    expect(isStalled(true, 1000, 1001 + STALL_AFTER_MS)).toBe(true);
    expect(isStalled(false, 1000, 100_000)).toBe(false);
    expect(isStalled(true, undefined, 100_000)).toBe(false);
  });
});

describe('boot step', () => {
  const choice = (over: Partial<BootChoice> = {}): BootChoice => ({
    backupType: 'volume_snapshot',
    snapshotId: 'snap-1',
    osType: 'Linux',
    fixedIp: '',
    adminPass: '',
    timeout: '',
    projects: '',
    availability_zones: '',
    flavors: '',
    networks: '',
    subnets: '',
    security_groups: '',
    floating_ips: '',
    keypairs: '',
    ...over,
  });

  it('sends the seed boot body with ids and names from the target lists, leaving empty choices out', () => {
    const options = {
      flavors: [toOption({ id: 'f1', name: 'small', vcpus: 1, ram_mib: 1024 })],
      networks: [toOption({ id: 'n1', name: 'lan' })],
      subnets: [toOption({ id: 's1', name: 'lan-v4', cidr: '10.0.0.0/24' })],
    };
    const body = bootParams(choice({ flavors: 'f1', networks: 'n1', subnets: 's1', fixedIp: ' 10.0.0.5 ', timeout: '30' }), options);
    expect(body).toEqual({
      backup_type: 'volume_snapshot',
      snapshot_id: 'snap-1',
      os_type: 'Linux',
      flavor_id: 'f1',
      flavor_name: 'small',
      flavor_vcpus: '1',
      flavor_ram: '1024',
      network_id: 'n1',
      network_name: 'lan',
      subnet_id: 's1',
      subnet_name: 'lan-v4',
      subnet_cidr: '10.0.0.0/24',
      fixed_ip: '10.0.0.5',
      boot_timeout_seconds: 30,
    });
    expect(bootParams(choice({ backupType: 'volume_backup' }), {})).toEqual({ backup_type: 'volume_backup', snapshot_id: 'snap-1', os_type: 'Linux' });
  });

  it('offers only the resource kinds the target answers for (a 400 means not offered)', async () => {
    const { api } = fakeApi((url) => {
      if (url.includes('kind=flavors')) return { status: 200, body: { kind: 'flavors', data: [{ id: 'f1', name: 'small' }] } };
      if (url.includes('kind=networks')) return { status: 502, body: { code: 502, message: 'neutron down', error: 'DRIVER' } };
      return { status: 400, body: { code: 400, message: 'not offered', error: 'VALIDATION', field: 'kind' } };
    });
    const state = new BootState(api);
    const host = { id: 'h1', storage_id: 't1', system_type: 'Linux', snapshots: [{ id: 'snap-1', status: 'create_done', snapshot_name: 's', created_at: '', size: '' }] };
    await state.open(host as never);
    expect(Object.keys(state.options)).toEqual(['flavors']);
    expect(state.kindErrors.networks?.code).toBe('DRIVER');
    expect(state.choice.snapshotId).toBe('snap-1');
    expect(state.choice.flavors).toBe('');
  });
});

describe('add forms', () => {
  it('builds a source config: ports as numbers, lists split, secrets untrimmed, empty fields left out', () => {
    const values = { ...emptyValues(SOURCE_FIELDS.Agent), address: ' 10.0.0.2 ', port: '2222', username: 'root', password: ' pw ', sudo: true, disks: '/dev/sda, /dev/sdb' };
    expect(buildConfig(SOURCE_FIELDS.Agent, values)).toEqual({ address: '10.0.0.2', port: 2222, username: 'root', password: ' pw ', sudo: true, disks: ['/dev/sda', '/dev/sdb'] });
    expect(missingFields(SOURCE_FIELDS.VMware, emptyValues(SOURCE_FIELDS.VMware))).toEqual(['host', 'username', 'password']);
    expect(buildConfig(TARGET_FIELDS.OpenStack, { ...emptyValues(TARGET_FIELDS.OpenStack), os_auth_url: 'http://k:5000/v3', port: 'x' })).toEqual({ os_auth_url: 'http://k:5000/v3', port: 'x' });
  });
});
