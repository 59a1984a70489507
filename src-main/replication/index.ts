/**
 * The block sync (DESIGN.md "Data path"): implements core's Replicator port. Fixed 4 MiB chunks,
 * zero and unchanged chunks skipped by xxh64 digest, a token-bucket speed limit, crash-safe
 * checkpoints with resume, and a verification pass over what was written.
 */
import { RehostError } from '../../src-shared/errors.js';
import type { Logger } from '../core/ports.js';
import type { DiskCopyRequest, DiskCopyResult, Replicator } from '../core/replicator.js';
import { DiskCopy } from './copy-disk.js';
import { StateStore } from './state-store.js';

export interface ReplicatorDeps {
  /** Folder for per-volume state files (`<key>.state`), created on first use. */
  stateDir: string;
  log: Logger;
}

/** Creates the replicator; one instance serves every disk copy of the engine. */
export function createReplicator(deps: ReplicatorDeps): Replicator {
  const store = new StateStore(deps.stateDir, deps.log);
  // Two copies into one volume at once would interleave writes and corrupt the shared state file.
  const active = new Set<string>();
  return {
    async copyDisk(request: DiskCopyRequest): Promise<DiskCopyResult> {
      store.file(request.key);
      if (active.has(request.key)) {
        throw new RehostError('CONFLICT', `a copy into volume ${request.key} is already running`);
      }
      active.add(request.key);
      try {
        return await new DiskCopy(request, store, deps.log.child({ key: request.key })).run();
      } finally {
        active.delete(request.key);
      }
    },
    async forget(key: string): Promise<void> {
      if (active.has(key)) throw new RehostError('CONFLICT', `cannot forget volume ${key} while a copy into it is running`);
      await store.remove(key);
    },
  };
}
