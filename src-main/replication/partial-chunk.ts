/**
 * Partial chunk reads for incremental syncs with changed areas (CBT reports 64 KiB blocks, the
 * grid is 4 MiB): a chunk only partly covered by the areas is assembled from the changed pieces
 * read at the source and the rest read back from the target, so a few scattered changes cost
 * about their own size at the source instead of whole chunks. The target's part is trusted only
 * after its digest matched the one the state recorded; the assembled chunk gets an exact digest,
 * so state and verification stay as for whole-chunk reads.
 */
import { RehostError } from '../../src-shared/errors.js';
import type { DiskSink, SourceDisk } from '../core/drivers.js';
import type { ByteRange } from '../core/model.js';
import { chunkDigest } from './digest.js';

/** Pieces are widened to this grid: sector- and page-aligned reads and writes. */
export const PIECE_ALIGN = 4096;
/** More pieces than this in one chunk (scattered small writes): one whole-chunk read is cheaper. */
export const MAX_PIECES = 32;
/** Source reads in flight per chunk. */
const PIECE_CONCURRENCY = 4;

/** One chunk's bytes as the copy handles them. */
export interface FetchedChunk {
  data: Uint8Array;
  /** Bytes read from the source for this chunk. */
  readBytes: number;
  /** Chunk-relative ranges that may differ from the target (to write when the digest changed); `null` = the whole chunk. */
  writeRanges: ByteRange[] | null;
}

/** Index of the first of the sorted, merged `areas` that ends after `offset`. */
function firstEndingAfter(areas: readonly ByteRange[], offset: number): number {
  let lo = 0;
  let hi = areas.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const a = areas[mid]!;
    if (a.offset + a.length <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The parts of the chunk [start, start + length) that `areas` (sorted and merged, as
 * `mergeRanges` returns them) cover, relative to the chunk, widened to `align` and merged.
 */
export function piecesInChunk(areas: readonly ByteRange[], start: number, length: number, align: number = PIECE_ALIGN): ByteRange[] {
  const out: ByteRange[] = [];
  const end = start + length;
  for (let k = firstEndingAfter(areas, start); k < areas.length; k++) {
    const a = areas[k]!;
    if (a.offset >= end) break;
    const from = Math.floor((Math.max(a.offset, start) - start) / align) * align;
    const to = Math.min(length, Math.ceil((Math.min(a.offset + a.length, end) - start) / align) * align);
    const last = out[out.length - 1];
    if (last !== undefined && from <= last.offset + last.length) last.length = Math.max(last.length, to - last.offset);
    else out.push({ offset: from, length: to - from });
  }
  return out;
}

/** The pieces to read for a chunk, or `null` when reading it whole is as good (fully covered, or too scattered). */
export function partialPlan(areas: readonly ByteRange[], start: number, length: number): ByteRange[] | null {
  const pieces = piecesInChunk(areas, start, length);
  const covered = pieces.reduce((n, p) => n + p.length, 0);
  if (pieces.length === 0 || pieces.length > MAX_PIECES || covered >= length) return null;
  return pieces;
}

export interface PartialContext {
  disk: SourceDisk;
  sink: DiskSink;
  signal: AbortSignal;
}

async function readPieces(ctx: PartialContext, offset: number, pieces: readonly ByteRange[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let at = 0; at < pieces.length; at += PIECE_CONCURRENCY) {
    const batch = pieces.slice(at, at + PIECE_CONCURRENCY);
    out.push(...(await Promise.all(batch.map((p) => ctx.disk.read(offset + p.offset, p.length, ctx.signal)))));
  }
  pieces.forEach((p, k) => {
    if (out[k]!.byteLength !== p.length) {
      throw new RehostError('DRIVER', `source disk ${ctx.disk.index} returned ${out[k]!.byteLength} bytes at offset ${offset + p.offset} (asked for ${p.length})`);
    }
  });
  return out;
}

/**
 * Assembles the chunk at `offset` from the target's copy (which must still have the digest
 * `expected`) and the source's `pieces`. Resolves `null`, before any source read, when the target
 * holds something else: the caller then reads the chunk whole.
 */
export async function readPartialChunk(ctx: PartialContext, offset: number, length: number, pieces: readonly ByteRange[], expected: bigint): Promise<FetchedChunk | null> {
  const old = await ctx.sink.read(offset, length);
  if (old.byteLength !== length || chunkDigest(old) !== expected) return null;
  const parts = await readPieces(ctx, offset, pieces);
  const data = Buffer.from(old);
  let readBytes = 0;
  const writeRanges: ByteRange[] = [];
  pieces.forEach((p, k) => {
    const part = parts[k]!;
    readBytes += part.byteLength;
    data.set(part, p.offset);
    if (Buffer.compare(part, old.subarray(p.offset, p.offset + p.length)) !== 0) writeRanges.push(p);
  });
  return { data, readBytes, writeRanges };
}
