/**
 * Replication state files under the state folder, one per key. Saves are crash-safe
 * (store/atomic-file.ts) so a checkpoint is either the old one or the new one.
 */
import { access, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RehostError } from '../../src-shared/errors.js';
import type { DiskSink } from '../core/drivers.js';
import type { Logger } from '../core/ports.js';
import { chunkLength } from './chunk-plan.js';
import { chunkDigest, UNKNOWN_DIGEST, ZERO_DIGEST } from './digest.js';
import { decodeState, encodeState, freshState, markSuspects, resizeState, type ReplicaState } from './state-codec.js';
import { pendingPath, writeFileAtomic } from '../store/atomic-file.js';

/** Chunks per digest request while rebuilding a lost state from the target (256 MiB of its reads). */
const REBUILD_BATCH = 64;

/** Keys become file names: only a conservative alphabet, so no key can escape the folder. */
const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Loads and saves replication states, one file per volume key. */
export class StateStore {
  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** The state file for a key; rejects keys that are not plain file names. */
  file(key: string): string {
    if (!KEY_PATTERN.test(key) || key.includes('..')) {
      throw new RehostError('VALIDATION', `replication key "${key}" is not a plain identifier`, { field: 'key' });
    }
    return join(this.dir, `${key}.state`);
  }

  /**
   * Loads the state for a disk of `diskSize` bytes. No file: the target holds zeros when the sink
   * says it is blank, else nothing about it is known (state lost, volume kept). A damaged file or
   * another chunk size: nothing about the target is known.
   */
  async load(key: string, diskSize: number, chunkSize: number, targetBlank: boolean): Promise<ReplicaState> {
    const file = this.file(key);
    let raw: Buffer;
    try {
      raw = await readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return freshState(diskSize, chunkSize, targetBlank ? ZERO_DIGEST : UNKNOWN_DIGEST);
      throw err;
    }
    let state: ReplicaState;
    try {
      state = decodeState(raw);
    } catch (err) {
      this.log.warn({ key, err: String(err) }, 'replication state unreadable; every chunk will be rewritten');
      return freshState(diskSize, chunkSize, UNKNOWN_DIGEST);
    }
    if (state.chunkSize !== chunkSize) {
      this.log.warn({ key, was: state.chunkSize, now: chunkSize }, 'replication chunk size changed; every chunk will be rewritten');
      return freshState(diskSize, chunkSize, UNKNOWN_DIGEST);
    }
    markSuspects(state);
    if (state.diskSize !== diskSize) {
      this.log.info({ key, was: state.diskSize, now: diskSize }, 'disk size changed since the last sync');
      return resizeState(state, diskSize, ZERO_DIGEST);
    }
    return state;
  }

  /**
   * The digests are "kept with the target": when a state knows nothing (its file was lost, the
   * engine is new, or the file was unreadable) but the volume holds data, they are rebuilt from
   * the volume itself, so an incremental sync still sends only what changed. A sink that hashes
   * where its data lives is asked; any other is read back and hashed here. Resolves with the
   * number of chunks rebuilt (0 when the state already knew something).
   */
  async rebuildFromTarget(key: string, state: ReplicaState, sink: DiskSink, signal: AbortSignal): Promise<number> {
    if (state.run !== null || !state.digests.every((d) => d === UNKNOWN_DIGEST)) return 0;
    const started = Date.now();
    const count = state.digests.length;
    for (let at = 0; at < count; at += REBUILD_BATCH) {
      signal.throwIfAborted();
      const ranges = [];
      for (let i = at; i < Math.min(count, at + REBUILD_BATCH); i++) ranges.push({ offset: i * state.chunkSize, length: chunkLength(i, state.diskSize, state.chunkSize) });
      if (sink.digests) {
        (await sink.digests(ranges, signal)).forEach((d, k) => (state.digests[at + k] = d));
        continue;
      }
      // One chunk in memory at a time.
      for (const [k, r] of ranges.entries()) state.digests[at + k] = chunkDigest(await sink.read(r.offset, r.length));
    }
    this.log.info({ key, chunks: count, ms: Date.now() - started, by: sink.digests ? 'sink digests' : 'reading back' }, 'replication state rebuilt from the target volume');
    return count;
  }

  /** Whether a state file exists for the key (a previous run recorded what the target holds). */
  async exists(key: string): Promise<boolean> {
    try {
      await access(this.file(key));
      return true;
    } catch {
      return false;
    }
  }

  async save(key: string, state: ReplicaState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.file(key), encodeState(state));
  }

  async remove(key: string): Promise<void> {
    const file = this.file(key);
    await rm(file, { force: true });
    await rm(pendingPath(file), { force: true });
  }
}
