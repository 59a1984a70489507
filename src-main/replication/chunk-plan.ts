/**
 * Pure chunk and range arithmetic for the block sync: the fixed chunk grid, merging byte ranges,
 * and turning "areas worth reading" plus what the target holds into a per-chunk plan.
 */
import type { ByteRange } from '../core/model.js';

/**
 * 4 MiB: large enough that per-chunk costs (a read call, an xxh64, a write call, a state entry of
 * 8 bytes) are amortised and a 1 TiB disk needs only 262,144 state entries (2 MiB of digests);
 * small enough that a 1 % change rate touches few chunks, so an incremental sync sends little
 * more than what changed, and checkpoints (every few chunks) lose little work on a crash.
 */
export const CHUNK_SIZE = 4 * 1024 * 1024;

/** What the copy does with one chunk (values stored in a Uint8Array plan). */
export const ChunkAction = {
  /** Not in this run's plan. */
  None: 0,
  /** Read from the source, hash, and write when it differs from what the target holds. */
  Read: 1,
  /** The source is known to hold zeros there but the target may not: write zeros, no source read. */
  Zero: 2,
} as const;

/** Number of chunks of `chunkSize` needed to cover `diskSize` bytes (the last one may be short). */
export function chunkCount(diskSize: number, chunkSize: number = CHUNK_SIZE): number {
  return Math.ceil(diskSize / chunkSize);
}

/** Byte length of chunk `index`: `chunkSize`, except the last chunk of a disk that is not a multiple. */
export function chunkLength(index: number, diskSize: number, chunkSize: number = CHUNK_SIZE): number {
  const start = index * chunkSize;
  return Math.max(0, Math.min(chunkSize, diskSize - start));
}

/**
 * Sorts ranges, clips them to [0, diskSize), drops empty ones and merges overlapping or touching
 * ones, so later steps can walk them once.
 */
export function mergeRanges(ranges: readonly ByteRange[], diskSize: number): ByteRange[] {
  const clipped = ranges
    .map((r) => ({ start: Math.max(0, r.offset), end: Math.min(diskSize, r.offset + r.length) }))
    .filter((r) => r.end > r.start)
    .sort((a, b) => a.start - b.start);
  const out: ByteRange[] = [];
  let current: { start: number; end: number } | null = null;
  for (const r of clipped) {
    if (current !== null && r.start <= current.end) {
      current.end = Math.max(current.end, r.end);
      continue;
    }
    if (current !== null) out.push({ offset: current.start, length: current.end - current.start });
    current = { ...r };
  }
  if (current !== null) out.push({ offset: current.start, length: current.end - current.start });
  return out;
}

/**
 * Marks every chunk that any range touches. In a full sync a chunk only partly covered is still
 * read whole: the source returns zeros for its holes, and whole chunks keep one digest per grid
 * cell. (Incremental runs may read only the changed pieces of a chunk: partial-chunk.ts.)
 */
export function chunksTouching(ranges: readonly ByteRange[], diskSize: number, chunkSize: number = CHUNK_SIZE): Uint8Array {
  const mask = new Uint8Array(chunkCount(diskSize, chunkSize));
  for (const r of mergeRanges(ranges, diskSize)) {
    const first = Math.floor(r.offset / chunkSize);
    const last = Math.floor((r.offset + r.length - 1) / chunkSize);
    mask.fill(1, first, last + 1);
  }
  return mask;
}

/** What `planChunks` needs to know. */
export interface PlanInput {
  diskSize: number;
  chunkSize: number;
  mode: 'full' | 'incremental';
  /** The source's areas; `null` = read everything and compare digests. */
  areas: readonly ByteRange[] | null;
  /** Per chunk: does the target (as far as the state knows) hold anything but zeros there? */
  targetMayHoldData: (index: number) => boolean;
}

/**
 * One action per chunk. Full sync: chunks touching the allocated areas are read; every other
 * chunk is zero in the source, so it is zero-filled only where the target may still hold old data
 * (a file deleted since the last sync). Incremental with areas: only changed chunks are read; the
 * rest did not change. `null` areas: every chunk is read and compared by digest.
 */
export function planChunks(input: PlanInput): Uint8Array {
  const count = chunkCount(input.diskSize, input.chunkSize);
  if (input.areas === null) return new Uint8Array(count).fill(ChunkAction.Read);
  const touched = chunksTouching(input.areas, input.diskSize, input.chunkSize);
  const plan = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    if (touched[i] === 1) plan[i] = ChunkAction.Read;
    else if (input.mode === 'full' && input.targetMayHoldData(i)) plan[i] = ChunkAction.Zero;
  }
  return plan;
}

/** Total bytes of the chunks a plan acts on. */
export function plannedBytes(plan: Uint8Array, diskSize: number, chunkSize: number = CHUNK_SIZE): number {
  let total = 0;
  for (let i = 0; i < plan.length; i++) if (plan[i] !== ChunkAction.None) total += chunkLength(i, diskSize, chunkSize);
  return total;
}

/** Bytes as the summary shows them ("64.0MB"). */
export function formatMiB(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)}MB`;
}
