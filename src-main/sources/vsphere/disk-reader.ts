/**
 * Reads a VMDK through the datastore endpoint: the descriptor names the extents (flat, hosted
 * sparse, zero); reads map disk offsets onto them. Base disks only: a delta (child) disk is
 * refused with a clear error, since the sync reads its own snapshot's base.
 */
import { posix } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { DatastoreFiles } from './datastore-files.js';
import { grainDirectoryEntries, isSparseHeader, locateGrain, parseEntries, parseSparseHeader, SECTOR, type SparseHeader } from './parsers/sparse-extent.js';
import { hasParent, isDescriptor, parseDescriptor } from './parsers/vmdk-descriptor.js';
import { datastoreOf } from './vm-info.js';

interface Extent {
  readonly bytes: number;
  read(offset: number, length: number, signal: AbortSignal): Promise<Buffer>;
}

class ZeroExtent implements Extent {
  constructor(readonly bytes: number) {}
  async read(_offset: number, length: number): Promise<Buffer> {
    return Buffer.alloc(length);
  }
}

class FlatExtent implements Extent {
  constructor(
    private readonly files: DatastoreFiles,
    private readonly ds: string,
    private readonly path: string,
    private readonly base: number,
    readonly bytes: number,
  ) {}
  read(offset: number, length: number, signal: AbortSignal): Promise<Buffer> {
    return this.files.read(this.ds, this.path, this.base + offset, length, signal);
  }
}

class SparseExtent implements Extent {
  private readonly tables = new Map<number, number[]>();
  readonly bytes: number;

  private constructor(
    private readonly files: DatastoreFiles,
    private readonly ds: string,
    private readonly path: string,
    private readonly header: SparseHeader,
    private readonly directory: number[],
  ) {
    this.bytes = header.capacity * SECTOR;
  }

  static async open(files: DatastoreFiles, ds: string, path: string, signal: AbortSignal): Promise<SparseExtent> {
    const header = parseSparseHeader(await files.read(ds, path, 0, SECTOR, signal));
    const count = grainDirectoryEntries(header);
    const gd = parseEntries(await files.read(ds, path, header.gdOffset * SECTOR, count * 4, signal), count);
    return new SparseExtent(files, ds, path, header, gd);
  }

  async read(offset: number, length: number, signal: AbortSignal): Promise<Buffer> {
    const out = Buffer.alloc(length);
    const grainBytes = this.header.grainSize * SECTOR;
    let pos = 0;
    while (pos < length) {
      const at = offset + pos;
      const { gdIndex, gtIndex } = locateGrain(this.header, Math.floor(at / SECTOR));
      const inGrain = at % grainBytes;
      const n = Math.min(grainBytes - inGrain, length - pos);
      const sector = (await this.table(gdIndex, signal))[gtIndex] ?? 0;
      if (sector > 1) (await this.files.read(this.ds, this.path, sector * SECTOR + inGrain, n, signal)).copy(out, pos);
      pos += n;
    }
    return out;
  }

  private async table(gdIndex: number, signal: AbortSignal): Promise<number[]> {
    const cached = this.tables.get(gdIndex);
    if (cached) return cached;
    const gtSector = this.directory[gdIndex] ?? 0;
    const n = this.header.numGTEsPerGT;
    const table = gtSector === 0 ? new Array<number>(n).fill(0) : parseEntries(await this.files.read(this.ds, this.path, gtSector * SECTOR, n * 4, signal), n);
    this.tables.set(gdIndex, table);
    return table;
  }
}

/** How much of a descriptor file to fetch: descriptors are a few hundred bytes. */
const DESCRIPTOR_PROBE = 64 * 1024;

export class VmdkReader {
  private constructor(
    readonly format: string,
    private readonly extents: Extent[],
  ) {}

  /** Opens "[datastore] folder/disk.vmdk". */
  static async open(files: DatastoreFiles, fileName: string, signal: AbortSignal): Promise<VmdkReader> {
    const { datastore, path } = datastoreOf(fileName);
    const head = await files.read(datastore, path, 0, DESCRIPTOR_PROBE, signal);
    if (isSparseHeader(head)) return new VmdkReader('monolithicSparse', [await SparseExtent.open(files, datastore, path, signal)]);
    const text = head.toString('latin1');
    if (!isDescriptor(text)) throw new RehostError('DRIVER', `${fileName} is neither a VMDK descriptor nor a sparse VMDK`);
    const desc = parseDescriptor(text);
    if (hasParent(desc)) throw new RehostError('DRIVER', `${fileName} is a delta disk (parent ${desc.parentFileNameHint ?? '?'}); consolidate the VM's snapshots first`);
    const dir = posix.dirname(path);
    const extents: Extent[] = [];
    for (const e of desc.extents) {
      const bytes = e.sectors * SECTOR;
      const file = e.file === null ? '' : posix.join(dir, e.file);
      if (e.type === 'ZERO') extents.push(new ZeroExtent(bytes));
      else if (e.type === 'FLAT' || e.type === 'VMFS') extents.push(new FlatExtent(files, datastore, file, e.offsetSectors * SECTOR, bytes));
      else if (e.type === 'SPARSE') extents.push(await SparseExtent.open(files, datastore, file, signal));
      else throw new RehostError('DRIVER', `${fileName}: ${e.type} extents cannot be read over the datastore endpoint`);
    }
    return new VmdkReader(desc.createType, extents);
  }

  /** Reads disk bytes; past the last extent reads as zeros. */
  async read(offset: number, length: number, signal: AbortSignal): Promise<Buffer> {
    const out = Buffer.alloc(length);
    let base = 0;
    for (const e of this.extents) {
      const start = Math.max(offset, base);
      const end = Math.min(offset + length, base + e.bytes);
      if (start < end) (await e.read(start - base, end - start, signal)).copy(out, start - offset);
      base += e.bytes;
      if (base >= offset + length) break;
    }
    return out;
  }
}
