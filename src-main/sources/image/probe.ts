/**
 * Looks at one image file: can it be read, what qemu-img says about it, and what its partition
 * table and file systems suggest. Reads only the first bytes of the disk and of each partition.
 */
import { access, constants, open } from 'node:fs/promises';
import { join } from 'node:path';
import { detectFileSystem, FS_PROBE_BYTES, guessOs, type FileSystem, type OsGuess } from './parsers/filesystem.js';
import { HEAD_BYTES, parsePartitionTable, type PartitionTable } from './parsers/partition-table.js';
import { pinnedFormat } from './image-files.js';
import { qemuInfo, qemuReadAt, type ImageInfo } from './qemu-img.js';

/** Formats this driver copies; qemu-img reads more, but these are the ones tested and expected. */
export const SUPPORTED_FORMATS = new Set(['raw', 'qcow2', 'qcow', 'vmdk', 'vpc', 'vhdx', 'vdi']);
/** Enough for any real disk; a table claiming more is damaged. */
const MAX_PARTITIONS = 16;

/** The result of probing one image; errors are recorded, not thrown. */
export interface ImageProbe {
  file: string;
  readError: string | null;
  info: ImageInfo | null;
  infoError: string | null;
  table: PartitionTable | null;
  layoutError: string | null;
  filesystems: { partition: number | null; fs: FileSystem | null }[];
  os: OsGuess;
}

type BlockReader = (offset: number, length: number) => Promise<Uint8Array>;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Raw files are read directly; other formats through qemu-img, one small read at a time. */
async function withReader<T>(file: string, info: ImageInfo, scratch: string, signal: AbortSignal, use: (read: BlockReader) => Promise<T>): Promise<T> {
  if (info.format !== 'raw') return use((offset, length) => qemuReadAt(file, info.format, offset, length, scratch, signal));
  const fh = await open(file, 'r');
  try {
    return await use(async (offset, length) => {
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, offset);
      return buf;
    });
  } finally {
    await fh.close();
  }
}

/** Reads the partition table and the start of each partition (or of the bare disk). */
async function readLayout(read: BlockReader, size: number): Promise<Pick<ImageProbe, 'table' | 'filesystems'>> {
  const clip = (offset: number, want: number) => Math.max(0, Math.floor(Math.min(want, size - offset) / 512) * 512);
  const headLength = clip(0, HEAD_BYTES);
  if (headLength < 512) return { table: { style: 'NONE', sectorSize: 512, partitions: [] }, filesystems: [] };
  const table = parsePartitionTable(await read(0, headLength));
  const filesystems: ImageProbe['filesystems'] = [];
  if (table.style === 'NONE') {
    filesystems.push({ partition: null, fs: detectFileSystem(await read(0, clip(0, FS_PROBE_BYTES))) });
    return { table, filesystems };
  }
  for (const p of table.partitions.slice(0, MAX_PARTITIONS)) {
    const length = clip(p.offset, Math.min(FS_PROBE_BYTES, p.size));
    if (p.offset % 512 !== 0 || length === 0) continue;
    filesystems.push({ partition: p.number, fs: detectFileSystem(await read(p.offset, length)) });
  }
  return { table, filesystems };
}

/** Probes one image; never throws for a bad image: the problems end up in the probe (and the checks). */
export async function probeImage(file: string, workDir: string, signal: AbortSignal): Promise<ImageProbe> {
  const probe: ImageProbe = { file, readError: null, info: null, infoError: null, table: null, layoutError: null, filesystems: [], os: { osType: 'Unknown', osVersion: '', firmware: 'bios' } };
  try {
    await access(file, constants.R_OK);
  } catch (err) {
    probe.readError = message(err);
    return probe;
  }
  try {
    probe.info = await qemuInfo(file, pinnedFormat(file), signal);
  } catch (err) {
    signal.throwIfAborted();
    probe.infoError = message(err);
    return probe;
  }
  const info = probe.info;
  if (!SUPPORTED_FORMATS.has(info.format) || info.encrypted) return probe;
  try {
    const layout = await withReader(file, info, join(workDir, 'scratch'), signal, (read) => readLayout(read, info.virtualSize));
    probe.table = layout.table;
    probe.filesystems = layout.filesystems;
    const partitions = new Map(layout.table?.partitions.map((p) => [p.number, p]) ?? []);
    probe.os = guessOs(layout.filesystems.map((f) => ({ partition: f.partition === null ? null : (partitions.get(f.partition) ?? null), fs: f.fs })));
  } catch (err) {
    signal.throwIfAborted();
    probe.layoutError = message(err);
  }
  return probe;
}
