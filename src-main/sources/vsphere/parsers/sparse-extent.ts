/**
 * Hosted sparse extents ("KDMV": monolithicSparse, twoGbMaxExtentSparse): header, grain
 * directory and grain tables. Pure: callers fetch the bytes the offsets name.
 */

export const SECTOR = 512;
const MAGIC = 0x564d444b; // "KDMV" little-endian
/** streamOptimized files keep the directory at the end; they are not read here. */
const GD_AT_END = 0xffffffffffffffffn;

export interface SparseHeader {
  version: number;
  flags: number;
  /** Capacity in sectors. */
  capacity: number;
  /** Grain size in sectors. */
  grainSize: number;
  descriptorOffset: number;
  descriptorSize: number;
  numGTEsPerGT: number;
  /** Redundant and primary grain directory, in sectors. */
  rgdOffset: number;
  gdOffset: number;
  overHead: number;
  compressAlgorithm: number;
}

export function isSparseHeader(buf: Uint8Array): boolean {
  return buf.byteLength >= 4 && Buffer.from(buf.buffer, buf.byteOffset, 4).readUInt32LE(0) === MAGIC;
}

export function parseSparseHeader(buf: Uint8Array): SparseHeader {
  if (buf.byteLength < 512 || !isSparseHeader(buf)) throw new Error('sparse extent: no KDMV header');
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const gd = b.readBigUInt64LE(56);
  const header: SparseHeader = {
    version: b.readUInt32LE(4),
    flags: b.readUInt32LE(8),
    capacity: Number(b.readBigUInt64LE(12)),
    grainSize: Number(b.readBigUInt64LE(20)),
    descriptorOffset: Number(b.readBigUInt64LE(28)),
    descriptorSize: Number(b.readBigUInt64LE(36)),
    numGTEsPerGT: b.readUInt32LE(44),
    rgdOffset: Number(b.readBigUInt64LE(48)),
    gdOffset: gd === GD_AT_END ? -1 : Number(gd),
    overHead: Number(b.readBigUInt64LE(64)),
    compressAlgorithm: b.readUInt16LE(77),
  };
  if (header.gdOffset < 0 || header.compressAlgorithm !== 0) throw new Error('sparse extent: streamOptimized (compressed) extents are not supported');
  if (header.grainSize === 0 || header.numGTEsPerGT === 0) throw new Error('sparse extent: zero grain size or table size');
  return header;
}

/** Number of grain directory entries (one per grain table). */
export function grainDirectoryEntries(h: SparseHeader): number {
  return Math.ceil(h.capacity / (h.grainSize * h.numGTEsPerGT));
}

/** Reads little-endian uint32 entries (grain directory or grain table). */
export function parseEntries(buf: Uint8Array, count: number): number[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(b.readUInt32LE(i * 4));
  return out;
}

/** Where a virtual sector lives: its grain table (directory index) and entry in it. */
export function locateGrain(h: SparseHeader, sector: number): { gdIndex: number; gtIndex: number; inGrain: number } {
  const grain = Math.floor(sector / h.grainSize);
  return { gdIndex: Math.floor(grain / h.numGTEsPerGT), gtIndex: grain % h.numGTEsPerGT, inGrain: sector % h.grainSize };
}
