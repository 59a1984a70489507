/**
 * The host side of a PV disk's point-in-time view (consistency-pv.ts plans it): where the PVs
 * lie on the configured disks (`pvs`, /sys/class/block partitions), the LV segments
 * (`lvs --segments`), the PV metadata area saved before the snapshots and shown as a read-only
 * loop device, and the device-mapper tables. Commands go through a Runner so tests record them.
 */
import { realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseSegments, viewTable, type LvSegment, type PvRow, type PvView } from './consistency-pv.js';
import type { SnapshotStep } from './consistency.js';

export type Runner = (argv: string[]) => string;

const REPORT = ['--reportformat', 'json', '--units', 'b', '--nosuffix'];

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function rows(text: string | null, key: string): Record<string, string>[] {
  if (text === null) return [];
  try {
    return (JSON.parse(text) as { report: Record<string, Record<string, string>[]>[] }).report[0]?.[key] ?? [];
  } catch {
    return [];
  }
}

/** The configured disk a PV lies on and its offset there: the disk itself, or one of its partitions. */
function placePv(pvReal: string, disks: { path: string; real: string }[], readText: (p: string) => string | null): { disk: string; offset: number } | null {
  const same = disks.find((d) => d.real === pvReal);
  if (same) return { disk: same.path, offset: 0 };
  const name = basename(pvReal);
  const start = readText(`/sys/class/block/${name}/start`);
  if (start === null) return null;
  const parent = basename(dirname(real(`/sys/class/block/${name}`)));
  const disk = disks.find((d) => basename(d.real) === parent);
  return disk ? { disk: disk.path, offset: Number(start.trim()) * 512 } : null;
}

/** PVs and LV segments of this host, or undefined when LVM's tools are missing. */
export function pvFacts(disks: { path: string; real: string }[], tryRun: (argv: string[]) => string | null, readText: (p: string) => string | null): { pvs: PvRow[]; segments: LvSegment[] } | undefined {
  const pvText = tryRun(['pvs', ...REPORT, '-o', 'pv_name,vg_name,pe_start,vg_extent_size']);
  if (pvText === null) return undefined;
  const pvs = rows(pvText, 'pv').map((r): PvRow => {
    const placed = placePv(real(r.pv_name ?? ''), disks, readText);
    return { name: r.pv_name ?? '', vg: r.vg_name ?? '', peStart: Number(r.pe_start ?? 0), extentBytes: Number(r.vg_extent_size ?? 0), disk: placed?.disk ?? null, offsetInDisk: placed?.offset ?? 0 };
  });
  const segments = parseSegments(rows(tryRun(['lvs', '--segments', ...REPORT, '-o', 'lv_name,vg_name,segtype,seg_start,seg_size,seg_pe_ranges']), 'seg'));
  return { pvs, segments };
}

export interface MadeView {
  view: PvView;
  metadataFile: string;
  tableFile: string;
  loop: string | null;
  created: boolean;
}

/** Saves each view's PV label and metadata area as it is now (before the snapshots) and shows it as a read-only loop. */
export function saveMetadata(views: PvView[], workDir: string, exec: Runner): MadeView[] {
  const made: MadeView[] = [];
  try {
    for (const view of views) {
      const m: MadeView = { view, metadataFile: join(workDir, `${view.name}.pvmeta`), tableFile: join(workDir, `${view.name}.table`), loop: null, created: false };
      made.push(m);
      exec(['dd', `if=${view.pv}`, `of=${m.metadataFile}`, `bs=${view.peStart}`, 'count=1', 'iflag=fullblock', 'status=none']);
      m.loop = exec(['losetup', '--find', '--show', '--read-only', m.metadataFile]).trim();
    }
  } catch (err) {
    undoViews(made, exec);
    throw new Error(`saving the LVM metadata of ${made.at(-1)?.view.pv ?? '?'} failed: ${(err as { stderr?: string }).stderr?.trim() || String(err)}`);
  }
  return made;
}

/** Writes each view's table (extents from the snapshots) and creates its read-only device-mapper device. */
export function createViews(made: MadeView[], steps: SnapshotStep[], disks: { path: string; real: string }[], exec: Runner, writeFile: (path: string, text: string) => void): void {
  const snapshotOf = (key: string): string => {
    const step = steps.find((s) => `${s.vg}/${s.lv}` === key);
    if (!step) throw new Error(`no snapshot of ${key} was made`);
    return step.readPath;
  };
  for (const m of made) {
    const disk = disks.find((d) => d.path === m.view.disk)?.real ?? m.view.disk;
    writeFile(m.tableFile, `${viewTable(m.view, { disk, metadata: m.loop!, snapshot: snapshotOf })}\n`);
    try {
      exec(['dmsetup', 'create', m.view.name, '--readonly', m.tableFile]);
    } catch (err) {
      throw new Error(`the device-mapper view of ${m.view.disk} failed: ${(err as { stderr?: string }).stderr?.trim() || String(err)}`);
    }
    m.created = true;
  }
}

/** The commands that remove views, in order: the device-mapper devices, the metadata loops, the files. */
export function viewCleanup(made: MadeView[]): string[][] {
  return [
    ...made.map((m) => ['dmsetup', 'remove', '--retry', m.view.name]),
    ...made.filter((m) => m.loop).map((m) => ['losetup', '--detach', m.loop!]),
    ...made.map((m) => ['rm', '-f', m.metadataFile, m.tableFile]),
  ];
}

/** Undoes what was made so far (after a failure): never throws. */
export function undoViews(made: MadeView[], exec: Runner): void {
  const cmds = [...made.filter((m) => m.created).map((m) => ['dmsetup', 'remove', '--retry', m.view.name]), ...viewCleanup(made).filter((c) => c[0] !== 'dmsetup')];
  for (const c of cmds) {
    try {
      exec(c);
    } catch {
      // Best effort: the release reports what is left.
    }
  }
}
