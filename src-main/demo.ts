/**
 * `rehost demo`: the main job on the embedded default, with no vCenter or cloud. It starts the
 * engine on a free loopback port and drives it through the public REST API, exactly as a
 * cloud-management platform would: Image source → Local target → full sync with snapshot →
 * change data on the source → incremental sync → verification → cleanup. Exits non-zero on any
 * failure.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Static } from '@sinclair/typebox';
import type { HostListReply, HostSnapshotReply } from '../src-shared/api/hosts.js';
import type { JobListReply } from '../src-shared/api/jobs.js';
import type { CreateSourceReply, SourceDetailReply, SourceHostsReply } from '../src-shared/api/sources.js';
import type { TargetListReply } from '../src-shared/api/targets.js';
import { startServer } from './runtime.js';
import { createLogger } from './log.js';

const MiB = 1024 * 1024;
const DISK_MIB = 256;

interface DemoOptions {
  dataDir?: string;
  keep: boolean;
}

type HostList = Static<typeof HostListReply>;

export async function runDemo(options: DemoOptions): Promise<number> {
  const work = options.dataDir ?? mkdtempSync(join(tmpdir(), 'rehost-demo-'));
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const password = randomBytes(12).toString('base64url');
  const dataDir = join(work, 'data');
  const server = await startServer({ listen: '127.0.0.1:0', dataDir, adminPassword: password, log: createLogger({ dataDir, stderr: false }) });
  const started = Date.now();
  let failed = false;
  try {
    out(`Rehost demo: engine on ${server.url}, work folder ${work}`);
    out('  note: the disk is generated, not bootable; boot verification arrives with the boot issue, so this run verifies the data path.');
    await migrate(client(server.url), work, password, out);
    out(`Demo passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    failed = true;
    out(`Demo FAILED: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await server.close();
    if (!options.keep && !options.dataDir) rmSync(work, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

/** The flow itself, through the REST API only. */
async function migrate(api: Client, work: string, password: string, out: (line: string) => void): Promise<void> {
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const result = await fn();
    out(`  ✓ ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return result;
  };
  const images = join(work, 'images');
  const target = join(work, 'target');
  mkdirSync(images, { recursive: true });
  const disk = join(images, 'demo-web-01.raw');
  await step(`generate a ${DISK_MIB} MiB source disk (random, zero and text regions)`, async () => makeDisk(disk));
  await step('sign in', () => api.login(password));
  const hostId = await step('add Image source', async () => {
    const res = await api.call<Static<typeof CreateSourceReply>>('POST', '/sources', { type: 'Image', name: 'demo-images', config: { path: images } });
    await api.until('source connected', async () => (await api.call<Static<typeof SourceDetailReply>>('GET', `/sources/${res.data.id}`)).source.status === 'connected');
    const offered = (await api.call<Static<typeof SourceHostsReply>>('GET', `/sources/${res.data.id}/hosts`)).data[0] as { id?: string } | undefined;
    if (!offered?.id) throw new Error('the image source offers no host');
    return offered.id;
  });
  await step('register host', () => api.call('POST', '/hosts/register', { ids: [hostId] }));
  const targetId = await step('add Local target', async () => {
    const res = await api.call<{ data: { uuid: string } }>('POST', '/targets', { type: 'HyperGate', config: { cloud_type: 'Local', path: target }, metadata: { driver_name: 'Local' } });
    const active = async () => (await api.call<Static<typeof TargetListReply>>('GET', '/targets')).targets.data.some((t) => t.uuid === res.data.uuid && t.target_status === 'active');
    await api.until('target active', active);
    return res.data.uuid;
  });
  await step('assign the host to the target', () => api.call('PUT', '/hosts/target_platform', { ids: [hostId], storage_id: targetId, pool_id: targetId, step: '2' }));
  out(`    ${(await step('full sync with snapshot', () => syncAndWait(api, hostId, 'full', 1))).detail}`);
  verify(out, disk, join(target, hostId, 'disk-0.raw'), 'full sync');
  const firstHash = sha256(disk);
  await step('change data in 2 of the 64 blocks of the source disk', async () => changeDisk(disk));
  out(`    ${(await step('incremental sync with snapshot', () => syncAndWait(api, hostId, 'incremental', 2))).detail}`);
  verify(out, disk, join(target, hostId, 'disk-0.raw'), 'incremental sync');
  const snapshots = (await api.call<Static<typeof HostSnapshotReply>>('GET', `/hosts/${hostId}?sheet=snapshot`)).data;
  out(`    snapshots: ${snapshots.map((s) => `${s.snapshot_name} (${s.status})`).join(', ')}`);
  await step('move to the boot list', () => api.call('POST', '/hosts', { ids: [hostId], next_step: { step: '4' } }));
  await step('clean up', async () => {
    await api.call('POST', '/hosts', { ids: [hostId], clean: { force: false } });
    await api.until('host cleaned', async () => (await api.call<HostList>('GET', '/hosts')).total === 0);
  });
  if (existsSync(join(target, hostId))) throw new Error('cleanup left files on the target');
  out(`  ✓ nothing left on the target; first snapshot hash was ${firstHash.slice(0, 16)}…`);
}

async function syncAndWait(api: Client, hostId: string, mode: 'full' | 'incremental', snapshots: number): Promise<{ detail: string }> {
  const t0 = Date.now();
  await api.call('POST', '/hosts', { ids: [hostId], sync: { do_snapshot: true, sync_mode: mode, transfer_speed: 0 } });
  await api.until(`${mode} sync`, async () => {
    const host = (await api.call<HostList>('GET', `/hosts?ids=${hostId}`)).data[0];
    if (!host) throw new Error('host vanished');
    if (host.h_host_status === 'sync_failed') throw new Error(`sync failed: ${host.detail}`);
    return host.h_host_status === 'sync_snapshot_done' && host.snapshots.filter((s) => s.status === 'create_done').length === snapshots;
  });
  const job = (await api.call<Static<typeof JobListReply>>('GET', `/jobs?id=${hostId}&job_type=Sync&page_size=1`)).data[0];
  const copy = (job?.steps ?? []).filter((s) => s.name.startsWith('Copy disk')).map((s) => s.detail).join('; ');
  const seconds = (Date.now() - t0) / 1000;
  return { detail: `${copy} — ${(DISK_MIB / seconds).toFixed(0)} MiB/s of disk covered in ${seconds.toFixed(1)} s` };
}

function verify(out: (line: string) => void, source: string, target: string, when: string): void {
  const a = sha256(source);
  const b = sha256(target);
  if (a !== b) throw new Error(`verification after ${when}: target ${b} differs from source ${a}`);
  out(`    verified after ${when}: sha256 ${a.slice(0, 16)}… on both sides`);
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function makeDisk(path: string): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, DISK_MIB * MiB);
    const text = Buffer.from('Rehost demo disk. Lift and shift, block by block. ');
    // In 4 MiB stretches, one chunk each: random, random, zeros (a hole), text.
    for (let mib = 0; mib < DISK_MIB; mib++) {
      const kind = Math.floor(mib / 4) % 4;
      if (kind === 2) continue;
      const buf = kind === 3 ? Buffer.alloc(MiB) : randomBytes(MiB);
      if (kind === 3) for (let o = 0; o < MiB; o += text.length) text.copy(buf, o);
      writeSync(fd, buf, 0, MiB, mib * MiB);
    }
  } finally {
    closeSync(fd);
  }
}

/** Rewrites 4 KiB in two of the 64 blocks of 4 MiB (about 3% of the blocks). */
function changeDisk(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    for (const block of [5, 37]) writeSync(fd, randomBytes(4096), 0, 4096, block * 4 * MiB + 8192);
  } finally {
    closeSync(fd);
  }
}

type Client = ReturnType<typeof client>;

function client(base: string) {
  let token = '';
  const call = async <T = unknown>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${base}/hypermotion/v1${path}`, {
      method,
      headers: { 'X-AUTH-TOKEN': token, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await res.json()) as T & { message?: string };
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${json.message ?? ''}`);
    return json;
  };
  return {
    call,
    login: async (password: string) => {
      token = (await call<{ token: string }>('POST', '/users/token', { username: 'admin', password })).token;
    },
    until: async (what: string, fn: () => Promise<boolean>, timeoutMs = 600_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await fn())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
}
