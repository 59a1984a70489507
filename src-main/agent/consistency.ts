/**
 * A point-in-time view of the disks where the host allows it: when every disk is an LVM logical
 * volume, or a whole disk holding a PV whose LVs are linear (read through a device-mapper view
 * over their snapshots: consistency-pv.ts, pv-view.ts), and the volume groups have free extents:
 * an LVM snapshot of each LV (lvcreate -s), with the mounted file systems on them frozen
 * (fsfreeze -f / -u) around the snapshot moment so what the snapshot holds is clean on disk. Otherwise the disks are read live and consistency comes from
 * converging passes (each incremental pass copies what changed during the previous one; the final
 * pass at cutover runs with services stopped). Planning is pure (planSnapshot); takeSnapshot runs
 * the plan and undoes what it did when a step fails.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { describeView, planPvViews, type LvSegment, type PvRow, type PvView } from './consistency-pv.js';
import { createViews, pvFacts, saveMetadata, undoViews, viewCleanup } from './pv-view.js';

/** One logical volume as `lvs` reports it (bytes). */
export interface LvRow {
  path: string;
  /** The device node the path resolves to (/dev/dm-N). */
  real: string;
  vg: string;
  name: string;
  sizeBytes: number;
  vgFreeBytes: number;
  extentBytes: number;
  /** lv_attr: the first letter `s` marks a snapshot, `o` an origin. */
  attr: string;
}

/** A mounted file system: the device (resolved) and where it is mounted. */
export interface MountRow {
  device: string;
  mountPoint: string;
}

export interface HostFacts {
  /** The disks to copy, as configured, with their resolved device node (and size, for views). */
  disks: { path: string; real: string; sizeBytes?: number }[];
  lvs: LvRow[];
  mounts: MountRow[];
  /** /dev/mapper/control exists: the kernel has device-mapper, so snapshots can be made. */
  deviceMapper: boolean;
  /** The fsfreeze tool exists. */
  fsfreeze: boolean;
  /** PVs placed on the configured disks and the LV segments (undefined: disks that are not LVs are read live). */
  pvs?: PvRow[];
  segments?: LvSegment[];
}

/** Snapshot size as a share of the origin: room for the writes made while the copy runs. */
export const SNAPSHOT_SHARE = 0.2;
/** Bounds of the snapshot size: at least 64 MiB (or the free space), at most 16 GiB. */
export const SNAPSHOT_MIN = 64 * 2 ** 20;
export const SNAPSHOT_MAX = 16 * 2 ** 30;

export interface SnapshotStep {
  /** The configured disk this LV is (null: an LV on a disk read through a view). */
  disk: string | null;
  lv: string;
  vg: string;
  snapshot: string;
  sizeBytes: number;
  /** Where the copy reads: the snapshot's device node. */
  readPath: string;
  create: string[];
  remove: string[];
}

export type SnapshotPlan =
  | { kind: 'lvm-snapshot'; steps: SnapshotStep[]; freeze: string[]; views: PvView[] }
  | { kind: 'converging-passes'; reason: string };

const MiB = 2 ** 20;
const fmt = (bytes: number): string => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${Math.round(bytes / MiB)} MiB`);

/** The snapshot size for an origin of `size` with `free` bytes in its VG, in whole extents; 0 when none fits. */
export function snapshotSize(size: number, free: number, extent: number, share: number): number {
  const wanted = Math.min(SNAPSHOT_MAX, Math.max(SNAPSHOT_MIN, Math.ceil(size * SNAPSHOT_SHARE)));
  const room = Math.floor((free * share) / extent) * extent;
  return Math.floor(Math.min(wanted, room) / extent) * extent;
}

function snapshotStep(disk: string | null, lv: LvRow, size: number, id: string): SnapshotStep {
  const snapshot = `${lv.name.slice(0, 80)}-rehost-${id}`;
  return {
    disk,
    lv: lv.name,
    vg: lv.vg,
    snapshot,
    sizeBytes: size,
    readPath: `/dev/${lv.vg}/${snapshot}`,
    create: ['lvcreate', '--snapshot', '--name', snapshot, '--size', `${size}b`, '--yes', `${lv.vg}/${lv.name}`],
    remove: ['lvremove', '--force', '--yes', `${lv.vg}/${snapshot}`],
  };
}

/**
 * The LVs to snapshot: the disks that are LVs, and the LVs on the disks that hold a PV (each read
 * through a view, consistency-pv.ts). A disk that is neither means converging passes for all.
 */
function snapshotTargets(facts: HostFacts, id: string): { direct: { disk: string; lv: LvRow }[]; views: PvView[]; viewLvs: LvRow[] } | { reason: string } {
  const direct: { disk: string; lv: LvRow }[] = [];
  const others: { path: string; sizeBytes: number }[] = [];
  for (const d of facts.disks) {
    const lv = facts.lvs.find((l) => l.real === d.real && !l.attr.startsWith('s'));
    if (lv) direct.push({ disk: d.path, lv });
    else if (facts.pvs === undefined) return { reason: `${d.path} is not an LVM logical volume` };
    else others.push({ path: d.path, sizeBytes: d.sizeBytes ?? 0 });
  }
  if (others.length === 0) return { direct, views: [], viewLvs: [] };
  const planned = planPvViews(others, facts.pvs ?? [], facts.segments ?? [], facts.lvs, id);
  if ('reason' in planned) return planned;
  const taken = new Set(direct.map((d) => `${d.lv.vg}/${d.lv.name}`));
  return { direct, views: planned.views, viewLvs: planned.snapshot.filter((l) => !taken.has(`${l.vg}/${l.name}`)) };
}

/** Decides how to get a consistent view of `facts.disks`; `id` names the snapshots. Pure. */
export function planSnapshot(facts: HostFacts, id: string): SnapshotPlan {
  const passes = (reason: string): SnapshotPlan => ({ kind: 'converging-passes', reason });
  if (facts.disks.length === 0) return passes('no disk');
  const targets = snapshotTargets(facts, id);
  if ('reason' in targets) return passes(targets.reason);
  const all = [...targets.direct.map((d) => ({ disk: d.disk as string | null, lv: d.lv })), ...targets.viewLvs.map((lv) => ({ disk: null, lv }))];
  // Several LVs of one VG share its free extents.
  const perVg = new Map<string, number>();
  for (const { lv } of all) perVg.set(lv.vg, (perVg.get(lv.vg) ?? 0) + 1);
  const steps: SnapshotStep[] = [];
  for (const { disk, lv } of all) {
    if (!facts.deviceMapper) return passes(`the kernel has no device-mapper (/dev/mapper/control) for an LVM snapshot of ${lv.vg}/${lv.name}`);
    if (lv.vgFreeBytes < lv.extentBytes) return passes(`volume group ${lv.vg} has no free extents for a snapshot of ${lv.name}`);
    const size = snapshotSize(lv.sizeBytes, lv.vgFreeBytes, lv.extentBytes, 1 / perVg.get(lv.vg)!);
    if (size === 0) return passes(`volume group ${lv.vg} has too few free extents for snapshots of ${perVg.get(lv.vg)} volumes`);
    steps.push(snapshotStep(disk, lv, size, id));
  }
  const reals = new Set(all.map((m) => m.lv.real));
  const freeze = facts.fsfreeze ? [...new Set(facts.mounts.filter((m) => reals.has(m.device)).map((m) => m.mountPoint))] : [];
  return { kind: 'lvm-snapshot', steps, freeze, views: targets.views };
}

/** The method as the job steps report it. Pure. */
export function describePlan(plan: SnapshotPlan, frozen: string[] = plan.kind === 'lvm-snapshot' ? plan.freeze : []): string {
  if (plan.kind === 'converging-passes') return `converging passes (${plan.reason}: each incremental pass copies what changed during the previous one; run the final pass with services stopped)`;
  const snaps = plan.steps.map((s) => `${s.vg}/${s.lv} → ${s.snapshot} (${fmt(s.sizeBytes)})`).join(', ');
  const views = plan.views.map((v) => `; ${describeView(v)}`).join('');
  return `LVM snapshot: ${snaps}${frozen.length > 0 ? `; fsfreeze on ${frozen.join(', ')} around the snapshot moment` : '; no mounted file system to freeze'}${views}`;
}

// ---------------------------------------------------------------- the host side

function run(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
}

function tryRun(argv: string[]): string | null {
  try {
    return run(argv);
  } catch {
    return null;
  }
}

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Unescapes the octal escapes of /proc/self/mounts (`\040` for a space). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function lvRows(): LvRow[] {
  const out = tryRun(['lvs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'lv_path,vg_name,lv_name,lv_size,vg_free,vg_extent_size,lv_attr']);
  if (out === null) return [];
  const rows = (JSON.parse(out) as { report: { lv?: Record<string, string>[] }[] }).report[0]?.lv ?? [];
  return rows
    .filter((r) => r.lv_path)
    .map((r) => ({ path: r.lv_path!, real: real(r.lv_path!), vg: r.vg_name ?? '', name: r.lv_name ?? '', sizeBytes: Number(r.lv_size), vgFreeBytes: Number(r.vg_free), extentBytes: Number(r.vg_extent_size), attr: r.lv_attr ?? '' }));
}

function mountRows(): MountRow[] {
  const text = tryRun(['cat', '/proc/self/mounts']) ?? '';
  return text
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length >= 2 && f[0]!.startsWith('/dev/'))
    .map((f) => ({ device: real(unescapeMount(f[0]!)), mountPoint: unescapeMount(f[1]!) }));
}

const readText = (p: string): string | null => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return null;
  }
};

/** What the planner needs, read from this host. */
export function hostFacts(disks: string[]): HostFacts {
  const placed = disks.map((p) => ({ path: p, real: real(p), sizeBytes: Number(tryRun(['blockdev', '--getsize64', p])?.trim() ?? 0) }));
  const pv = pvFacts(placed, tryRun, readText);
  return {
    disks: placed,
    lvs: lvRows(),
    mounts: mountRows(),
    deviceMapper: existsSync('/dev/mapper/control'),
    fsfreeze: tryRun(['fsfreeze', '--version']) !== null,
    ...(pv !== undefined ? { pvs: pv.pvs, segments: pv.segments } : {}),
  };
}

export interface TakenSnapshot {
  id: string;
  method: string;
  /** Per configured disk, the device to read. */
  reads: Record<string, string>;
  /** Commands that remove what was made (run by release). */
  cleanup: string[][];
}

/** Removes snapshots an earlier agent made of the same volumes and left behind (a crash mid-sync). */
function removeStale(plan: Extract<SnapshotPlan, { kind: 'lvm-snapshot' }>, lvs: LvRow[], exec: Runner): void {
  for (const s of plan.steps) {
    for (const old of lvs.filter((l) => l.vg === s.vg && l.attr.startsWith('s') && l.name.startsWith(`${s.lv.slice(0, 80)}-rehost-`))) {
      try {
        exec(['lvremove', '--force', '--yes', `${old.vg}/${old.name}`]);
      } catch {
        // Still in use or already gone: the new snapshot gets its own name anyway.
      }
    }
  }
}

/** Runs commands on the host; replaced in tests to see the order of freeze, create and thaw. */
export type Runner = (argv: string[]) => string;

/**
 * Makes the snapshots with the planned file systems frozen; the freeze is always undone and
 * snapshots made before a failure are removed. Returns the mount points that were frozen.
 */
function createFrozen(steps: SnapshotStep[], freeze: string[], exec: Runner): string[] {
  const frozen: string[] = [];
  const made: SnapshotStep[] = [];
  const attempt = (argv: string[]): boolean => {
    try {
      exec(argv);
      return true;
    } catch {
      return false;
    }
  };
  try {
    // A file system that cannot be frozen still gets device-mapper's own freeze at suspend; the
    // report lists only what was frozen here.
    for (const mp of freeze) if (attempt(['fsfreeze', '--freeze', mp])) frozen.push(mp);
    for (const s of steps) {
      // With a file system frozen, LVM must not write its metadata archive (which may live on
      // that very file system) or it would wait for the thaw forever.
      const create = frozen.length > 0 ? [...s.create.slice(0, 1), '--config', 'backup { backup = 0 archive = 0 }', ...s.create.slice(1)] : s.create;
      try {
        exec(create);
      } catch (err) {
        const msg = (err as { stderr?: string }).stderr?.trim() || String(err);
        throw new Error(`LVM snapshot of ${s.vg}/${s.lv} failed: ${msg}`);
      }
      made.push(s);
    }
  } catch (err) {
    for (const s of made) attempt(s.remove);
    throw err;
  } finally {
    for (const mp of frozen) attempt(['fsfreeze', '--unfreeze', mp]);
  }
  return frozen;
}

/** Where a view's files go (metadata copies, tables) and how they are written; tests give their own. */
export interface ViewIo {
  workDir: string;
  writeFile(path: string, text: string): void;
}

const defaultIo: ViewIo = { workDir: tmpdir(), writeFile: (path, text) => writeFileSync(path, text, { mode: 0o600 }) };

/** Makes the snapshots (with fsfreeze, else without: see takeSnapshot); returns the method. */
function snapshotsWithFallback(plan: Extract<SnapshotPlan, { kind: 'lvm-snapshot' }>, exec: Runner): string {
  try {
    return describePlan(plan, createFrozen(plan.steps, plan.freeze, exec));
  } catch (err) {
    if (plan.freeze.length === 0) throw err;
    createFrozen(plan.steps, [], exec);
    return `${describePlan(plan, [])} (fsfreeze first was refused: ${(err as Error).message}; device-mapper froze the file systems at the snapshot moment)`;
  }
}

/**
 * Takes the view the plan describes. Kernels before 6.6 refuse device-mapper's suspend on a file
 * system frozen from user space (EBUSY): then the snapshots are made again without fsfreeze,
 * relying on device-mapper's own freeze at the snapshot moment, and the method says so. A disk
 * holding a PV gets its metadata saved first, then its view assembled over the snapshots.
 */
export function takeSnapshot(facts: HostFacts, id = randomBytes(4).toString('hex'), exec: Runner = run, io: ViewIo = defaultIo): TakenSnapshot {
  const plan = planSnapshot(facts, id);
  if (plan.kind === 'converging-passes') {
    // The disks are read with O_DIRECT, past the page cache: what the file systems still hold
    // there goes to the disks first, so a pass copies everything written before it began.
    exec(['sync']);
    return { id, method: describePlan(plan), reads: Object.fromEntries(facts.disks.map((d) => [d.path, d.path])), cleanup: [] };
  }
  removeStale(plan, facts.lvs, exec);
  const made = saveMetadata(plan.views, io.workDir, exec);
  let method: string;
  try {
    method = snapshotsWithFallback(plan, exec);
  } catch (err) {
    undoViews(made, exec);
    throw err;
  }
  try {
    createViews(made, plan.steps, facts.disks, exec, io.writeFile);
  } catch (err) {
    undoViews(made, exec);
    for (const s of plan.steps) tryExec(exec, s.remove);
    throw err;
  }
  const reads: Record<string, string> = {};
  for (const s of plan.steps) if (s.disk !== null) reads[s.disk] = s.readPath;
  for (const v of plan.views) reads[v.disk] = v.readPath;
  // Views first: they hold the snapshots open.
  const cleanup = [...viewCleanup(made).filter((c) => c[0] === 'dmsetup'), ...plan.steps.map((s) => s.remove), ...viewCleanup(made).filter((c) => c[0] !== 'dmsetup')];
  return { id, method, reads, cleanup };
}

function tryExec(exec: Runner, argv: string[]): void {
  try {
    exec(argv);
  } catch {
    // Best effort after a failure.
  }
}

/** The snapshots this agent holds, by id; released on request and when the agent exits. */
export class SnapshotTable {
  private readonly taken = new Map<string, TakenSnapshot>();

  take(disks: string[]): TakenSnapshot {
    const snap = takeSnapshot(hostFacts(disks));
    this.taken.set(snap.id, snap);
    return snap;
  }

  /** Removes a snapshot; failures are reported, not thrown, so closing a view always completes. */
  release(id: string): { removed: number; errors: string[] } {
    const snap = this.taken.get(id);
    if (!snap) return { removed: 0, errors: [] };
    this.taken.delete(id);
    const errors: string[] = [];
    for (const cmd of snap.cleanup) {
      try {
        run(cmd);
      } catch (err) {
        errors.push(`${cmd.join(' ')}: ${(err as { stderr?: string }).stderr?.trim() || String(err)}`);
      }
    }
    return { removed: snap.cleanup.length - errors.length, errors };
  }

  releaseAll(): void {
    for (const id of [...this.taken.keys()]) this.release(id);
  }
}
