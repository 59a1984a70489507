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
 * data path only, and the demo says why.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Static } from '@sinclair/typebox';
import type { HostListReply, HostSnapshotReply } from '../src-shared/api/hosts.js';
import type { JobListReply } from '../src-shared/api/jobs.js';
import type { CreateSourceReply, SourceDetailReply, SourceHostsReply } from '../src-shared/api/sources.js';
import type { TargetListReply } from '../src-shared/api/targets.js';
import { startServer } from './runtime.js';
import { createLogger } from './log.js';

const MiB = 1024 * 1024;
const DISK_MIB = 256;
/** The busybox fixture: disk size, payload checked at boot, raw data region printed at boot. */
const BOOT_DISK_MIB = 128;
const DATA_MIB = 4;

/** Where the source disk comes from: the bootable fixture, or a generated disk and why. */
type DiskPlan = { bootable: true; image: string } | { bootable: false; why: string };

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
    const plan = planDisk(out);
    if (!plan.bootable) out(`  note: using a generated, non-bootable disk (${plan.why}); this run verifies the data path but boots nothing.`);
    await migrate(client(server.url), work, password, plan, out);
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
async function migrate(api: Client, work: string, password: string, plan: DiskPlan, out: (line: string) => void): Promise<void> {
  const step = stepper(out);
  const images = join(work, 'images');
  const target = join(work, 'target');
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
  await step('assign the host to the target', () => api.call('PUT', '/hosts/target_platform', { ids: [hostId], storage_id: targetId, pool_id: targetId, step: '2' }));
  out(`    ${(await step('full sync with snapshot', () => syncAndWait(api, hostId, 'full', 1, size))).detail}`);
  verify(out, disk, join(target, hostId, 'disk-0.raw'), 'full sync');
  const firstHash = sha256(disk);
  if (plan.bootable) await step(`change the ${DATA_MIB} MiB data region of the source disk`, async () => data.push(writeDataRegion(disk)));
  else await step('change data in 2 of the 64 blocks of the source disk', async () => changeDisk(disk));
  out(`    ${(await step('incremental sync with snapshot', () => syncAndWait(api, hostId, 'incremental', 2, size))).detail}`);
  verify(out, disk, join(target, hostId, 'disk-0.raw'), 'incremental sync');
  const snapshots = (await api.call<Static<typeof HostSnapshotReply>>('GET', `/hosts/${hostId}?sheet=snapshot`)).data.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.snapshot_name.localeCompare(b.snapshot_name));
  out(`    snapshots: ${snapshots.map((s) => `${s.snapshot_name} (${s.status})`).join(', ')}`);
  await step('move to the boot list', () => api.call('POST', '/hosts', { ids: [hostId], next_step: { step: '4' } }));
  if (plan.bootable) await bootAll(api, hostId, snapshots.map((s) => s.id), disk, data, step, out);
  await step('clean up', async () => {
    await api.call('POST', '/hosts', { ids: [hostId], clean: { force: false } });
    await api.until('host cleaned', async () => (await api.call<HostList>('GET', '/hosts')).total === 0);
  });
  if (existsSync(join(target, hostId))) throw new Error('cleanup left files on the target');
  out(`  ✓ nothing left on the target; first snapshot hash was ${firstHash.slice(0, 16)}…`);
  if (plan.bootable) out(`    the cutover copy stays (cleanup never removes it): ${readdirSync(join(target, 'migrated')).map((d) => join(target, 'migrated', d)).join(', ')}`);
}

type Step = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

function stepper(out: (line: string) => void): Step {
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
  const active = async () => (await api.call<Static<typeof TargetListReply>>('GET', '/targets')).targets.data.some((t) => t.uuid === res.data.uuid && t.target_status === 'active');
  await api.until('target active', active);
  return res.data.uuid;
}

/** Test boot from each snapshot, then a cutover after one more change; each boot must print its generation's data hash. */
async function bootAll(api: Client, hostId: string, snapshotIds: string[], disk: string, data: string[], step: Step, out: (line: string) => void): Promise<void> {
  for (const [i, snapshotId] of snapshotIds.entries()) {
    const line = await step(`test boot from snapshot ${i + 1} (QEMU, copy-on-write overlay)`, () => bootAndWait(api, hostId, 'volume_snapshot', snapshotId));
    out(`    console: ${line}`);
    expectData(line, data[i]!, `test boot ${i + 1}`);
  }
  await step('change the data region once more before the cutover', async () => data.push(writeDataRegion(disk)));
  const line = await step('cutover: final incremental sync, last snapshot, boot an independent copy', () => bootAndWait(api, hostId, 'volume_backup', snapshotIds[snapshotIds.length - 1]!));
  out(`    console: ${line}`);
  expectData(line, data[data.length - 1]!, 'cutover');
}

function expectData(line: string, sha: string, what: string): void {
  if (!line.includes(`data=${sha}`)) throw new Error(`${what} booted the wrong data: expected data=${sha.slice(0, 16)}…, console said: ${line}`);
}

async function bootAndWait(api: Client, hostId: string, backupType: 'volume_snapshot' | 'volume_backup', snapshotId: string): Promise<string> {
  await api.call('POST', `/hosts/${hostId}/action`, { boot: { backup_type: backupType, snapshot_id: snapshotId, flavor_id: 'local.small', boot_timeout_seconds: 300 } });
  let status = '';
  await api.until('boot', async () => {
    const host = (await api.call<HostList>('GET', `/hosts?ids=${hostId}`)).data[0];
    status = host?.h_boot_status ?? 'gone';
    return status === 'boot_done' || status === 'boot_failed' || status === 'gone';
  });
  const job = (await api.call<Static<typeof JobListReply>>('GET', `/jobs?id=${hostId}&job_type=Boot&page_size=1`)).data[0];
  const detail = job?.steps.find((s) => s.name === 'Boot instance')?.detail ?? '';
  if (status !== 'boot_done') throw new Error(`boot failed: ${job?.detail ?? status}`);
  return /MIGRATION-BOOT-OK.*/.exec(detail)?.[0] ?? detail;
}

async function syncAndWait(api: Client, hostId: string, mode: 'full' | 'incremental', snapshots: number, sizeMiB: number): Promise<{ detail: string }> {
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
  return { detail: `${copy} — ${(sizeMiB / seconds).toFixed(0)} MiB/s of disk covered in ${seconds.toFixed(1)} s` };
}

function verify(out: (line: string) => void, source: string, target: string, when: string): void {
  const a = sha256(source);
  const flat = volumeContent(target);
  const b = sha256(flat);
  if (flat !== target) rmSync(flat, { force: true });
  if (a !== b) throw new Error(`verification after ${when}: target ${b} differs from source ${a}`);
  out(`    verified after ${when}: sha256 ${a.slice(0, 16)}… on both sides`);
}

/**
 * The Local target keeps a volume as `<stem>.qcow2` (layered snapshots) or `<stem>.raw`; a qcow2
 * volume is read through qemu-img into a raw file beside it, so both sides hash the same bytes.
 */
function volumeContent(rawPath: string): string {
  const qcow2 = rawPath.replace(/\.raw$/, '.qcow2');
  if (!existsSync(qcow2)) return rawPath;
  const flat = `${qcow2}.verify.raw`;
  const res = spawnSync('qemu-img', ['convert', '-U', '-O', 'raw', qcow2, flat], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`reading ${qcow2}: ${res.stderr || res.error?.message}`);
  return flat;
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * The bootable fixture when this machine can build and boot it: `make-image.sh` (found beside the
 * sources, `REHOST_IMAGE_SCRIPT` to override) run as root, into `~/.cache/rehost-images`.
 */
function planDisk(out: (line: string) => void): DiskPlan {
  const script = process.env.REHOST_IMAGE_SCRIPT ?? findUp(import.meta.dirname, join('test', 'fixtures', 'images', 'make-image.sh'));
  if (script === null) return { bootable: false, why: 'test/fixtures/images/make-image.sh is not shipped with this build' };
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return { bootable: false, why: 'building the bootable image needs Linux and root' };
  const qemu = process.env.REHOST_QEMU ?? 'qemu-system-x86_64';
  if (spawnSync(qemu, ['--version'], { stdio: 'ignore' }).status !== 0) return { bootable: false, why: `${qemu} is not installed` };
  const cache = process.env.REHOST_IMAGE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'rehost-images');
  const image = join(cache, `busybox-${BOOT_DISK_MIB}M-p16.raw`);
  const t0 = Date.now();
  const res = spawnSync('bash', [script, 'busybox', image], {
    env: { ...process.env, STATE_DIR: cache, SIZE: `${BOOT_DISK_MIB}M`, PAYLOAD_MB: '16', DATA_MB: String(DATA_MIB) },
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (res.status !== 0) return { bootable: false, why: `make-image.sh failed: ${(res.stderr || res.stdout).trim().split('\n').slice(-2).join(' / ')}` };
  out(`  ✓ bootable busybox disk ready in ${image} (${((Date.now() - t0) / 1000).toFixed(1)} s; cached)`);
  return { bootable: true, image };
}

function findUp(from: string, rel: string): string | null {
  let dir = from;
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, rel))) return join(dir, rel);
    dir = dirname(dir);
  }
  return null;
}

function copySparse(from: string, to: string): void {
  const res = spawnSync('cp', ['--sparse=always', '--', from, to], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`copying ${from}: ${res.stderr}`);
}

/** Fresh random bytes in the raw region at the end of the disk; returns the sha256 the guest prints. */
function writeDataRegion(path: string): string {
  const bytes = randomBytes(DATA_MIB * MiB);
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, fstatSync(fd).size - bytes.length);
  } finally {
    closeSync(fd);
  }
  return createHash('sha256').update(bytes).digest('hex');
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
