/**
 * Replication state files under the state folder, one per key. Saves are crash-safe
 * (store/atomic-file.ts) so a checkpoint is either the old one or the new one.
 */
import { access, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RehostError } from '../../src-shared/errors.js';
import type { Logger } from '../core/ports.js';
import { UNKNOWN_DIGEST, ZERO_DIGEST } from './digest.js';
import { decodeState, encodeState, freshState, markSuspects, resizeState, type ReplicaState } from './state-codec.js';
import { pendingPath, writeFileAtomic } from '../store/atomic-file.js';

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
