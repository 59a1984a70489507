/**
 * `rehost demo`: the main job on the embedded default, with no vCenter or cloud. It starts the
 * engine on a free loopback port and drives it through the public REST API, exactly as a
 * cloud-management platform would: Image source → Local target → full sync with snapshot →
 * change data on the source → incremental sync → verification → test boot from the first and
 * from the second snapshot → cutover → cleanup. Exits non-zero on any failure.
 *
 * The source disk is the busybox fixture (`test/fixtures/images/make-image.sh`, cached in
 * `~/.cache/rehost-images`) when it can be built and booted here (root, QEMU); its boot marker
 * prints the sha256 of a raw data region the demo rewrites between syncs, so each boot shows
 * which generation of the data it got. Otherwise a generated, non-bootable disk verifies the
 * data path only, and the demo says why (demo-disk.ts). Throughput is what the copy steps sent
 * divided by their copy time, as the job's steps report them. After cleanup the whole target
 * folder is listed: only the migrated copy may be left, and the migrated machine must still run;
 * the demo then stops that machine itself (unless `--keep`), since it is only a demo.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import type { HostListReply, HostSnapshotReply } from '../src-shared/api/hosts.js';
import type { JobListReply } from '../src-shared/api/jobs.js';
import type { CreateSourceReply, SourceDetailReply, SourceHostsReply } from '../src-shared/api/sources.js';
import type { TargetListReply } from '../src-shared/api/targets.js';
import { startServer } from './runtime.js';
import { createLogger } from './log.js';
import { BOOT_DISK_MIB, DATA_MIB, DISK_MIB, changeDisk, copySparse, machinePids, makeDisk, planDisk, sha256, stopMachines, verify, writeDataRegion, type DiskPlan } from './demo-disk.js';

interface DemoOptions {
  dataDir?: string;
  /** The Local target's folder (default `<work>/target`). */
  targetDir?: string;
  keep: boolean;
}

type HostList = Static<typeof HostListReply>;
type Out = (line: string) => void;

export async function runDemo(options: DemoOptions): Promise<number> {
  const work = options.dataDir ?? mkdtempSync(join(tmpdir(), 'rehost-demo-'));
  const target = options.targetDir ?? join(work, 'target');
  const out: Out = (line) => process.stdout.write(`${line}\n`);
  const password = randomBytes(12).toString('base64url');
  const dataDir = join(work, 'data');
  const server = await startServer({ listen: '127.0.0.1:0', dataDir, adminPassword: password, log: createLogger({ dataDir, stderr: false }) });
  const started = Date.now();
  let failed = false;
  try {
    out(`Rehost demo: engine on ${server.url}, work folder ${work}, target folder ${target}`);
    const plan = planDisk(out);
    if (!plan.bootable) out(`  note: using a generated, non-bootable disk (${plan.why}); this run verifies the data path but boots nothing.`);
    await migrate(client(server.url), work, target, password, plan, out);
    out(`Demo passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    failed = true;
    out(`Demo FAILED: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await server.close();
    // The demo's machines run from its target folder: stopped here unless asked to keep them.
    if (!options.keep) {
      const stopped = await stopMachines(target);
      if (stopped.length > 0) out(`  demo teardown: stopped the demo's machines (pid ${stopped.join(', ')})`);
    }
    if (!options.keep && !options.dataDir) rmSync(work, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

/** The flow itself, through the REST API only. */
async function migrate(api: Client, work: string, target: string, password: string, plan: DiskPlan, out: Out): Promise<void> {
  const step = stepper(out);
  const images = join(work, 'images');
  mkdirSync(images, { recursive: true });
  const disk = join(images, 'demo-web-01.raw');
  const size = plan.bootable ? BOOT_DISK_MIB : DISK_MIB;
  const data: string[] = [];
  if (plan.bootable) {
    await step(`copy the bootable busybox disk (${BOOT_DISK_MIB} MiB) from the cache`, async () => copySparse(plan.image, disk));
    data.push(writeDataRegion(disk));
  } else {
    await step(`generate a ${DISK_MIB} MiB source disk (random, zero and text regions)`, async () => makeDisk(disk));
  }
  await step('sign in', () => api.login(password));
  const hostId = await step('add Image source', () => addSource(api, images));
  await step('register host', () => api.call('POST', '/hosts/register', { ids: [hostId] }));
  const targetId = await step('add Local target', () => addTarget(api, target));
  const targetBefore = new Set(readdirSync(target));
  await step('assign the host to the target', () => api.call('PUT', '/hosts/target_platform', { ids: [hostId], storage_id: targetId, pool_id: targetId, step: '2' }));
  printCopy(out, await step('full sync with snapshot', () => syncAndWait(api, hostId, 'full', 1)));
  verify(out, disk, join(target, hostId, 'disk-0.raw'), 'full sync');
  const firstHash = sha256(disk);
  if (plan.bootable) await step(`change the ${DATA_MIB} MiB data region of the source disk`, async () => data.push(writeDataRegion(disk)));
  else await step('change data in 2 of the 64 blocks of the source disk', async () => changeDisk(disk));
  printCopy(out, await step('incremental sync with snapshot', () => syncAndWait(api, hostId, 'incremental', 2)));
  verify(out, disk, join(target, hostId, 'disk-0.raw'), 'incremental sync');
  const snapshots = (await api.call<Static<typeof HostSnapshotReply>>('GET', `/hosts/${hostId}?sheet=snapshot`)).data.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.snapshot_name.localeCompare(b.snapshot_name));
  out(`    snapshots: ${snapshots.map((s) => `${s.snapshot_name} (${s.status})`).join(', ')}; ${size} MiB disk`);
  await step('move to the boot list', () => api.call('POST', '/hosts', { ids: [hostId], next_step: { step: '4' } }));
  const migrated = plan.bootable ? await bootAll(api, hostId, snapshots.map((s) => s.id), disk, data, step, out) : null;
  await step('clean up', async () => {
    await api.call('POST', '/hosts', { ids: [hostId], clean: { force: false } });
    await api.until('host cleaned', async () => (await api.call<HostList>('GET', '/hosts')).total === 0);
  });
  checkLeft(out, target, targetBefore, migrated);
  out(`    first snapshot hash was ${firstHash.slice(0, 16)}…`);
}

/**
 * After cleanup the target folder holds what it held before the host synced, plus the migrated
 * copy (`migrated/<host>-<stamp>/`) when a cutover ran; its machine must still run.
 */
function checkLeft(out: Out, target: string, before: Set<string>, migrated: string | null): void {
  const left = listTree(target).filter((p) => !before.has(p.split('/')[0]!));
  const stray = left.filter((p) => migrated === null || !(p === 'migrated' || p.startsWith('migrated/')));
  if (stray.length > 0) throw new Error(`cleanup left files on the target: ${stray.join(', ')}`);
  if (migrated !== null && !left.some((p) => p.endsWith('/disk-0.raw'))) throw new Error('cleanup removed the migrated copy');
  const copies = left.filter((p) => /^migrated\/[^/]+\/$/.test(p));
  const shown = copies.map((c) => `${c}{${left.filter((p) => p.startsWith(c) && p !== c).map((p) => p.slice(c.length)).join(', ')}}`);
  out(`  ✓ target folder after cleanup: ${left.length === 0 ? 'nothing left' : `only the migrated copy: ${shown.join('; ')}`}`);
  if (migrated === null) return;
  const pids = machinePids(migrated);
  if (pids.length === 0) throw new Error('the migrated machine stopped during cleanup');
  out(`  ✓ the migrated machine still runs after cleanup (pid ${pids.join(', ')}); cleanup never touches it`);
}

/** Every path under `dir`, relative to it, folders with a trailing `/`. */
function listTree(dir: string, base = dir): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    const rel = relative(base, path);
    return statSync(path).isDirectory() ? [`${rel}/`, ...listTree(path, base)] : [rel];
  });
}

type Step = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

function stepper(out: Out): Step {
  return async (name, fn) => {
    const t0 = Date.now();
    const result = await fn();
    out(`  ✓ ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return result;
  };
}

async function addSource(api: Client, images: string): Promise<string> {
  const res = await api.call<Static<typeof CreateSourceReply>>('POST', '/sources', { type: 'Image', name: 'demo-images', config: { path: images } });
  await api.until('source connected', async () => (await api.call<Static<typeof SourceDetailReply>>('GET', `/sources/${res.data.id}`)).source.status === 'connected');
  const offered = (await api.call<Static<typeof SourceHostsReply>>('GET', `/sources/${res.data.id}/hosts`)).data[0] as { id?: string } | undefined;
  if (!offered?.id) throw new Error('the image source offers no host');
  return offered.id;
}

async function addTarget(api: Client, path: string): Promise<string> {
  const res = await api.call<{ data: { uuid: string } }>('POST', '/targets', { type: 'HyperGate', config: { cloud_type: 'Local', path }, metadata: { driver_name: 'Local' } });
  let reason = '';
  const active = async () => {
    const t = (await api.call<Static<typeof TargetListReply>>('GET', '/targets')).targets.data.find((x) => x.uuid === res.data.uuid);
    if (t?.target_status === 'create_failed') reason = t.status_reason ?? 'create_failed';
    return t?.target_status === 'active' || reason !== '';
  };
  await api.until('target active', active);
  if (reason) throw new Error(`the Local target ${path} could not be added: ${reason}`);
  return res.data.uuid;
}

/**
 * Test boot from each snapshot, then a cutover after one more change; each boot must print its
 * generation's data hash. Resolves with the cutover machine's instance id.
 */
async function bootAll(api: Client, hostId: string, snapshotIds: string[], disk: string, data: string[], step: Step, out: Out): Promise<string> {
  for (const [i, snapshotId] of snapshotIds.entries()) {
    const booted = await step(`test boot from snapshot ${i + 1} (QEMU, copy-on-write overlay)`, () => bootAndWait(api, hostId, 'volume_snapshot', snapshotId));
    out(`    console: ${booted.line}`);
    expectData(booted.line, data[i]!, `test boot ${i + 1}`);
  }
  await step('change the data region once more before the cutover', async () => data.push(writeDataRegion(disk)));
  const cut = await step('cutover: final incremental sync, last snapshot, boot an independent copy', () => bootAndWait(api, hostId, 'volume_backup', snapshotIds[snapshotIds.length - 1]!));
  out(`    console: ${cut.line}`);
  expectData(cut.line, data[data.length - 1]!, 'cutover');
  return cut.instanceId;
}

function expectData(line: string, sha: string, what: string): void {
  if (!line.includes(`data=${sha}`)) throw new Error(`${what} booted the wrong data: expected data=${sha.slice(0, 16)}…, console said: ${line}`);
}

async function bootAndWait(api: Client, hostId: string, backupType: 'volume_snapshot' | 'volume_backup', snapshotId: string): Promise<{ line: string; instanceId: string }> {
  await api.call('POST', `/hosts/${hostId}/action`, { boot: { backup_type: backupType, snapshot_id: snapshotId, flavor_id: 'local.small', boot_timeout_seconds: 600 } });
  let status = '';
  let instanceId = '';
  await api.until('boot', async () => {
    const host = (await api.call<HostList>('GET', `/hosts?ids=${hostId}`)).data[0];
    status = host?.h_boot_status ?? 'gone';
    instanceId = host?.cloud_instance_id ?? '';
    return status === 'boot_done' || status === 'boot_failed' || status === 'gone';
  });
  const job = (await api.call<Static<typeof JobListReply>>('GET', `/jobs?id=${hostId}&job_type=Boot&page_size=1`)).data[0];
  const detail = job?.steps.find((s) => s.name === 'Boot instance')?.detail ?? '';
  if (status !== 'boot_done') throw new Error(`boot failed: ${job?.detail ?? status}`);
  return { line: /MIGRATION-BOOT-OK.*/.exec(detail)?.[0] ?? detail, instanceId };
}

/** What a sync's copy steps report: their details, bytes sent and copy time (summed over disks). */
interface CopyReport {
  details: string[];
  sentMiB: number;
  copySeconds: number;
}

async function syncAndWait(api: Client, hostId: string, mode: 'full' | 'incremental', snapshots: number): Promise<CopyReport> {
  await api.call('POST', '/hosts', { ids: [hostId], sync: { do_snapshot: true, sync_mode: mode, transfer_speed: 0 } });
  await api.until(`${mode} sync`, async () => {
    const host = (await api.call<HostList>('GET', `/hosts?ids=${hostId}`)).data[0];
    if (!host) throw new Error('host vanished');
    if (host.h_host_status === 'sync_failed') throw new Error(`sync failed: ${host.detail}`);
    return host.h_host_status === 'sync_snapshot_done' && host.snapshots.filter((s) => s.status === 'create_done').length === snapshots;
  });
  const job = (await api.call<Static<typeof JobListReply>>('GET', `/jobs?id=${hostId}&job_type=Sync&page_size=1`)).data[0];
  const details = (job?.steps ?? []).filter((s) => s.name.startsWith('Copy disk')).map((s) => s.detail ?? '');
  const sent = details.map((d) => Number(/([\d.]+)MB sent/.exec(d)?.[1]));
  const secs = details.map((d) => Number(/copied in ([\d.]+) s/.exec(d)?.[1]));
  if (details.length === 0 || [...sent, ...secs].some((n) => !Number.isFinite(n))) throw new Error(`the copy steps do not say what they sent and how long they took: ${details.join(' | ')}`);
  return { details, sentMiB: sent.reduce((a, b) => a + b, 0), copySeconds: secs.reduce((a, b) => a + b, 0) };
}

/** Throughput is the data actually sent over the copy time, both from the job's copy steps. */
function printCopy(out: Out, copy: CopyReport): void {
  for (const detail of copy.details) out(`    ${detail}`);
  const rate = copy.copySeconds > 0 ? `${(copy.sentMiB / copy.copySeconds).toFixed(1)} MiB/s` : 'instant';
  out(`    throughput: ${copy.sentMiB.toFixed(1)} MiB sent in ${copy.copySeconds.toFixed(2)} s of copying = ${rate}`);
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
