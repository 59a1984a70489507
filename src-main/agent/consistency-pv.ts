/**
 * A point-in-time view of a whole disk that is (or holds) an LVM physical volume carrying LVs
 * (/dev/sda2 → vg0 → root, home): each LV with extents on the disk gets a snapshot
 * (consistency.ts makes them, file systems frozen around the moment), and a read-only
 * device-mapper table assembles the disk again: the extents of each LV come from its snapshot,
 * the PV's label and metadata area from a copy taken just before the snapshots (so the copy does
 * not carry our snapshot LVs), everything else (partition table, other partitions, free extents)
 * from the disk itself. Planning and the table are pure; consistency.ts runs them.
 */
import type { LvRow } from './consistency.js';

const SECTOR = 512;

/** A PV as `pvs` reports it, placed on the configured disk that holds it. */
export interface PvRow {
  name: string;
  vg: string;
  /** Bytes from the PV's start to its first extent (label and metadata area before it). */
  peStart: number;
  extentBytes: number;
  /** The configured disk (path) the PV lies on, and where on it the PV starts; null when on none. */
  disk: string | null;
  offsetInDisk: number;
}

/** One segment of an LV (`lvs --segments`): which extents of which PV hold which part of the LV. */
export interface LvSegment {
  vg: string;
  lv: string;
  segtype: string;
  /** Byte offset of the segment within the LV, and its length. */
  lvOffset: number;
  size: number;
  /** `seg_pe_ranges`: "/dev/sda2:0-2559" (one range for a linear segment). */
  peRanges: string;
}

/** A piece of a view's table: `length` bytes at disk `offset` read from `device` at `deviceOffset`. */
export interface ViewPiece {
  offset: number;
  length: number;
  source: 'disk' | 'metadata' | 'snapshot';
  /** The LV (vg/lv) for snapshot pieces. */
  lv?: string;
  deviceOffset: number;
}

export interface PvView {
  disk: string;
  /** The device-mapper name, and where the copy reads. */
  name: string;
  readPath: string;
  pv: string;
  pvOffset: number;
  peStart: number;
  /** The LVs of this disk, by vg/lv, whose snapshots the view reads. */
  lvs: string[];
  pieces: ViewPiece[];
}

/** One PE range "/dev/sda2:0-2559" → the PV and its first and last extent. Pure. */
export function parsePeRange(range: string): { pv: string; first: number; last: number } | null {
  const m = /^(.+):(\d+)-(\d+)$/.exec(range.trim());
  return m ? { pv: m[1]!, first: Number(m[2]), last: Number(m[3]) } : null;
}

/** Rows of `lvs --segments --reportformat json --units b --nosuffix -o lv_name,vg_name,segtype,seg_start,seg_size,seg_pe_ranges`. Pure. */
export function parseSegments(rows: Record<string, string>[]): LvSegment[] {
  return rows.map((r) => ({ vg: r.vg_name ?? '', lv: r.lv_name ?? '', segtype: r.segtype ?? '', lvOffset: Number(r.seg_start ?? 0), size: Number(r.seg_size ?? 0), peRanges: r.seg_pe_ranges ?? '' }));
}

/**
 * Plans the views of the disks that hold PVs: the LVs to snapshot and, per disk, the pieces its
 * table is made of. Returns a reason instead when a disk's LVs cannot be served from snapshots
 * (a striped, mirrored or thin segment; an LV already a snapshot). Pure.
 */
export function planPvViews(disks: { path: string; sizeBytes: number }[], pvs: PvRow[], segments: LvSegment[], lvs: LvRow[], id: string): { views: PvView[]; snapshot: LvRow[] } | { reason: string } {
  const views: PvView[] = [];
  const snapshot = new Map<string, LvRow>();
  for (const [n, disk] of disks.entries()) {
    const onDisk = pvs.filter((p) => p.disk === disk.path);
    if (onDisk.length > 0 && !(disk.sizeBytes > 0)) return { reason: `the size of ${disk.path} is unknown (blockdev --getsize64 failed)` };
    if (onDisk.length !== 1) return { reason: onDisk.length === 0 ? `${disk.path} is not an LVM logical volume nor holds a physical volume` : `${disk.path} holds ${onDisk.length} physical volumes (one per disk is supported)` };
    const pv = onDisk[0]!;
    const pieces: ViewPiece[] = [{ offset: pv.offsetInDisk, length: pv.peStart, source: 'metadata', deviceOffset: 0 }];
    const names: string[] = [];
    for (const seg of segments.filter((s) => s.peRanges.split(/\s+/).some((r) => parsePeRange(r)?.pv === pv.name))) {
      const key = `${seg.vg}/${seg.lv}`;
      const range = parsePeRange(seg.peRanges);
      if (seg.segtype !== 'linear' || range === null || seg.peRanges.trim().includes(' ')) return { reason: `${key} has a ${seg.segtype} segment on ${pv.name}: only linear segments can be read from a snapshot` };
      const lv = lvs.find((l) => l.vg === seg.vg && l.name === seg.lv);
      if (lv === undefined || lv.attr.startsWith('s')) return { reason: `${key} on ${pv.name} is a snapshot or not listed by lvs` };
      snapshot.set(key, lv);
      if (!names.includes(key)) names.push(key);
      pieces.push({ offset: pv.offsetInDisk + pv.peStart + range.first * pv.extentBytes, length: (range.last - range.first + 1) * pv.extentBytes, source: 'snapshot', lv: key, deviceOffset: seg.lvOffset });
    }
    if (names.length === 0) return { reason: `the physical volume ${pv.name} on ${disk.path} carries no logical volume` };
    views.push({ disk: disk.path, name: `rehost-view-${id}-${n}`, readPath: `/dev/mapper/rehost-view-${id}-${n}`, pv: pv.name, pvOffset: pv.offsetInDisk, peStart: pv.peStart, lvs: names, pieces: fillGaps(pieces, disk.sizeBytes) });
  }
  return { views, snapshot: [...snapshot.values()] };
}

/** Sorts the pieces and fills what they leave with the disk itself, so the table covers the whole disk. */
function fillGaps(pieces: ViewPiece[], size: number): ViewPiece[] {
  const out: ViewPiece[] = [];
  let at = 0;
  for (const p of [...pieces].sort((a, b) => a.offset - b.offset)) {
    if (p.offset > at) out.push({ offset: at, length: p.offset - at, source: 'disk', deviceOffset: at });
    out.push(p);
    at = p.offset + p.length;
  }
  if (at < size) out.push({ offset: at, length: size - at, source: 'disk', deviceOffset: at });
  return out;
}

/** The device-mapper table of a view (one `linear` line per piece, in sectors). Pure. */
export function viewTable(view: PvView, devices: { disk: string; metadata: string; snapshot: (lv: string) => string }): string {
  return view.pieces
    .map((p) => {
      const dev = p.source === 'disk' ? devices.disk : p.source === 'metadata' ? devices.metadata : devices.snapshot(p.lv!);
      return `${p.offset / SECTOR} ${p.length / SECTOR} linear ${dev} ${p.deviceOffset / SECTOR}`;
    })
    .join('\n');
}

/** How the job steps describe a view. Pure. */
export function describeView(v: PvView): string {
  return `${v.disk} read through a device-mapper view: ${v.lvs.join(', ')} from their snapshots, the LVM metadata of ${v.pv} as before the snapshots, the rest of the disk live`;
}
