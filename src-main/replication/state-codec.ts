/**
 * The per-volume replication state and its compact binary form. Pure: no file access here.
 *
 * Layout: magic "RHREPL01", u32 LE header length, header JSON, one u64 LE digest per chunk, the
 * `done` bitmap, the `written` bitmap, then an xxh64 of everything before it. Binary rather than
 * JSON because a 1 TiB disk has 262,144 chunks and the state is rewritten at every checkpoint.
 */
import { xxh64 } from '@node-rs/xxhash';
import { chunkCount } from './chunk-plan.js';
import { UNKNOWN_DIGEST } from './digest.js';

const MAGIC = Buffer.from('RHREPL01', 'latin1');
const VERSION = 1;

/** Where an unfinished run stands; `null` in the state once the run completed. */
export interface RunCheckpoint {
  id: string;
  /** Identifies the source view the run copies (size, chunk size, source marker). */
  fingerprint: string;
  /** Every chunk of the run's plan below this index was processed and is durable. */
  cursor: number;
  /** No chunk at or above this index was written after the checkpoint: [cursor, writeLimit) is suspect. */
  writeLimit: number;
}

export interface ReplicaState {
  chunkSize: number;
  diskSize: number;
  /** Per chunk, the digest of what the target holds (ZERO_DIGEST, UNKNOWN_DIGEST or an xxh64). */
  digests: BigUint64Array;
  run: RunCheckpoint | null;
  /** Chunks the current run processed durably (written and flushed, or found unchanged). */
  done: Uint8Array;
  /** Chunks the current run wrote, checked again by the verification pass. */
  written: Uint8Array;
}

interface Header {
  version: number;
  chunkSize: number;
  diskSize: number;
  count: number;
  run: RunCheckpoint | null;
}

export function bitmapBytes(count: number): number {
  return Math.ceil(count / 8);
}

export function getBit(map: Uint8Array, index: number): boolean {
  return ((map[index >> 3] ?? 0) & (1 << (index & 7))) !== 0;
}

export function setBit(map: Uint8Array, index: number): void {
  map[index >> 3] = (map[index >> 3] ?? 0) | (1 << (index & 7));
}

export function clearBit(map: Uint8Array, index: number): void {
  map[index >> 3] = (map[index >> 3] ?? 0) & ~(1 << (index & 7));
}

/** A state for a disk nobody synced yet; `fill` says what the target is assumed to hold. */
export function freshState(diskSize: number, chunkSize: number, fill: bigint): ReplicaState {
  const count = chunkCount(diskSize, chunkSize);
  return {
    chunkSize,
    diskSize,
    digests: new BigUint64Array(count).fill(fill),
    run: null,
    done: new Uint8Array(bitmapBytes(count)),
    written: new Uint8Array(bitmapBytes(count)),
  };
}

export function encodeState(state: ReplicaState): Buffer {
  const count = state.digests.length;
  const header: Header = { version: VERSION, chunkSize: state.chunkSize, diskSize: state.diskSize, count, run: state.run };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const digests = Buffer.alloc(count * 8);
  for (let i = 0; i < count; i++) digests.writeBigUInt64LE(state.digests[i]!, i * 8);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const body = Buffer.concat([MAGIC, len, json, digests, state.done, state.written]);
  const trailer = Buffer.alloc(8);
  trailer.writeBigUInt64LE(xxh64(body));
  return Buffer.concat([body, trailer]);
}

/** Parses a state file; throws on any damage so the caller can fall back to "unknown". */
export function decodeState(buf: Buffer): ReplicaState {
  if (buf.length < MAGIC.length + 12 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not a replication state file');
  const body = buf.subarray(0, buf.length - 8);
  if (xxh64(body) !== buf.readBigUInt64LE(buf.length - 8)) throw new Error('replication state checksum mismatch');
  const jsonLen = body.readUInt32LE(MAGIC.length);
  let at = MAGIC.length + 4;
  const header = JSON.parse(body.subarray(at, at + jsonLen).toString('utf8')) as Header;
  at += jsonLen;
  if (header.version !== VERSION) throw new Error(`unsupported replication state version ${header.version}`);
  const count = header.count;
  if (count !== chunkCount(header.diskSize, header.chunkSize)) throw new Error('replication state chunk count mismatch');
  const maps = bitmapBytes(count);
  if (body.length !== at + count * 8 + 2 * maps) throw new Error('replication state has the wrong length');
  const digests = new BigUint64Array(count);
  for (let i = 0; i < count; i++) digests[i] = body.readBigUInt64LE(at + i * 8);
  at += count * 8;
  const done = Uint8Array.from(body.subarray(at, at + maps));
  const written = Uint8Array.from(body.subarray(at + maps, at + 2 * maps));
  return { chunkSize: header.chunkSize, diskSize: header.diskSize, digests, run: header.run, done, written };
}

/**
 * Adapts a state to a disk whose size changed (the source disk grew). Chunks that keep their
 * extent keep their digest; a last chunk whose length changed becomes unknown; new chunks get
 * `newFill` (zero: a grown sparse volume reads zeros there). The unfinished run is dropped.
 */
export function resizeState(state: ReplicaState, diskSize: number, newFill: bigint): ReplicaState {
  const next = freshState(diskSize, state.chunkSize, newFill);
  const keep = Math.min(state.digests.length, next.digests.length);
  next.digests.set(state.digests.subarray(0, keep));
  const boundaryMoved = state.diskSize % state.chunkSize !== 0 || diskSize % state.chunkSize !== 0;
  if (boundaryMoved && keep > 0) next.digests[keep - 1] = UNKNOWN_DIGEST;
  return next;
}

/**
 * After an interrupted run, the chunks between its last checkpoint and its write limit may hold
 * partly written data whatever the digests say: they become unknown so the next run rewrites them.
 */
export function markSuspects(state: ReplicaState): void {
  const run = state.run;
  if (run === null) return;
  const end = Math.min(run.writeLimit, state.digests.length);
  for (let i = Math.max(0, run.cursor); i < end; i++) {
    if (!getBit(state.done, i)) state.digests[i] = UNKNOWN_DIGEST;
  }
}

/**
 * The state as a checkpoint at `run.cursor` may record it: chunks at or past the cursor may have
 * been written while the sink flushed, so none of them is claimed done. A crash then leaves them
 * suspect (markSuspects) and the resumed run rewrites them instead of trusting data that was
 * never made durable.
 */
export function checkpointView(state: ReplicaState, cursor: number): ReplicaState {
  const done = state.done.slice();
  for (let i = Math.max(0, cursor); i < state.digests.length; i++) clearBit(done, i);
  return { ...state, done };
}

/** Starts a new run on a state: clears the per-run bitmaps. */
export function beginRun(state: ReplicaState, run: RunCheckpoint): void {
  state.run = run;
  state.done.fill(0);
  state.written.fill(0);
}
