/**
 * Partition tables read from the disk bytes: MBR (with logical partitions in the extended
 * chain) and GPT. This sandbox — and many CI runners — have no partition devices for loop
 * files and no device-mapper, so the fix-up mounts each partition by byte offset and needs the
 * table itself rather than `/dev/loopNpM`.
 */

/** One partition, in bytes from the start of the disk. */
export interface Partition {
  /** 1-based, as Linux numbers them (`sda1`; logical MBR partitions start at 5). */
  number: number;
  offset: number;
  size: number;
  /** MBR type byte as two hex digits (`83`), or the GPT type GUID (lower case). */
  type: string;
  /** GPT partition GUID (PARTUUID), when the table is GPT. */
  partUuid?: string;
}

export interface PartitionTable {
  kind: 'mbr' | 'gpt' | 'none';
  partitions: Partition[];
}

/** Reads `length` bytes at `offset`; short reads past the end return fewer bytes. */
export type ReadAt = (offset: number, length: number) => Promise<Uint8Array>;

const SECTOR = 512;
const EXTENDED = new Set([0x05, 0x0f, 0x85]);
const GPT_PROTECTIVE = 0xee;
/** Logical partitions beyond this are refused: a looping EBR chain must not hang the fix-up. */
const MAX_LOGICAL = 128;

/** GPT type GUIDs that hold LVM physical volumes, which need device-mapper to open. */
export const LVM_TYPES = new Set(['8e', 'e6d6d379-f507-44c2-a23c-238f2a3df928']);

/** The disk's partitions; `none` with the whole disk as partition 1 when there is no table. */
export async function readPartitionTable(readAt: ReadAt, diskSize: number): Promise<PartitionTable> {
  const mbr = await readAt(0, SECTOR);
  if (mbr.length < SECTOR || mbr[510] !== 0x55 || mbr[511] !== 0xaa) return whole(diskSize);
  const view = new DataView(mbr.buffer, mbr.byteOffset, mbr.byteLength);
  const entries = [0, 1, 2, 3].map((i) => mbrEntry(view, 446 + i * 16));
  if (entries.some((e) => e.type === GPT_PROTECTIVE)) {
    const gpt = await readGpt(readAt);
    if (gpt) return { kind: 'gpt', partitions: gpt.filter((p) => p.offset + p.size <= diskSize) };
  }
  // A filesystem boot sector also ends in 55 AA: a valid table has sane, non-empty entries.
  const used = entries.filter((e) => e.type !== 0 && e.sectors > 0);
  if (used.length === 0 || used.some((e) => e.status !== 0 && e.status !== 0x80)) return whole(diskSize);
  const partitions: Partition[] = [];
  for (const [i, e] of entries.entries()) {
    if (e.type === 0 || e.sectors === 0) continue;
    if (EXTENDED.has(e.type)) {
      partitions.push(...(await readLogical(readAt, e.start * SECTOR)));
      continue;
    }
    partitions.push({ number: i + 1, offset: e.start * SECTOR, size: e.sectors * SECTOR, type: hex(e.type) });
  }
  return { kind: 'mbr', partitions: partitions.filter((p) => p.offset + p.size <= diskSize) };
}

function whole(diskSize: number): PartitionTable {
  return { kind: 'none', partitions: [{ number: 1, offset: 0, size: diskSize, type: '' }] };
}

function mbrEntry(view: DataView, at: number): { status: number; type: number; start: number; sectors: number } {
  return { status: view.getUint8(at), type: view.getUint8(at + 4), start: view.getUint32(at + 8, true), sectors: view.getUint32(at + 12, true) };
}

/** The EBR chain: each EBR holds one logical partition (relative to itself) and a link (relative to the extended partition). */
async function readLogical(readAt: ReadAt, extendedOffset: number): Promise<Partition[]> {
  const out: Partition[] = [];
  let ebr = extendedOffset;
  const seen = new Set<number>();
  while (out.length < MAX_LOGICAL && !seen.has(ebr)) {
    seen.add(ebr);
    const sector = await readAt(ebr, SECTOR);
    if (sector.length < SECTOR || sector[510] !== 0x55 || sector[511] !== 0xaa) break;
    const view = new DataView(sector.buffer, sector.byteOffset, sector.byteLength);
    const part = mbrEntry(view, 446);
    const link = mbrEntry(view, 462);
    if (part.type !== 0 && part.sectors > 0) {
      out.push({ number: 5 + out.length, offset: ebr + part.start * SECTOR, size: part.sectors * SECTOR, type: hex(part.type) });
    }
    if (link.type === 0 || link.start === 0) break;
    ebr = extendedOffset + link.start * SECTOR;
  }
  return out;
}

async function readGpt(readAt: ReadAt): Promise<Partition[] | null> {
  const header = await readAt(SECTOR, SECTOR);
  if (header.length < 92 || new TextDecoder().decode(header.subarray(0, 8)) !== 'EFI PART') return null;
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const entriesLba = Number(view.getBigUint64(72, true));
  const count = view.getUint32(80, true);
  const entrySize = view.getUint32(84, true);
  if (entrySize < 128 || count > 1024) return null;
  const table = await readAt(entriesLba * SECTOR, count * entrySize);
  const tview = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const out: Partition[] = [];
  for (let i = 0; i < count && (i + 1) * entrySize <= table.length; i++) {
    const at = i * entrySize;
    const type = guid(table.subarray(at, at + 16));
    if (type === '00000000-0000-0000-0000-000000000000') continue;
    const first = Number(tview.getBigUint64(at + 32, true));
    const last = Number(tview.getBigUint64(at + 40, true));
    if (last < first) continue;
    out.push({ number: i + 1, offset: first * SECTOR, size: (last - first + 1) * SECTOR, type, partUuid: guid(table.subarray(at + 16, at + 32)) });
  }
  return out;
}

/** GUIDs are stored mixed-endian: the first three groups little-endian. */
function guid(b: Uint8Array): string {
  const h = (i: number) => b[i]!.toString(16).padStart(2, '0');
  const group = (idx: number[]) => idx.map(h).join('');
  return [group([3, 2, 1, 0]), group([5, 4]), group([7, 6]), group([8, 9]), group([10, 11, 12, 13, 14, 15])].join('-');
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
