/**
 * Snapshots on the Local target: a point-in-time copy of each volume file in its own folder.
 * `cp --reflink=auto` makes the copy a constant-time clone on Btrfs/XFS and a sparse copy
 * elsewhere; the copy goes to `<name>.partial` and is renamed, so a half-made snapshot never
 * looks complete.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { copyFile, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RehostError } from '../../../src-shared/errors.js';
import type { TargetSnapshots } from '../../core/drivers.js';
import type { Host, Volume } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import type { Layout } from './layout.js';

const run = promisify(execFile);

/** Copies one file keeping holes; GNU cp where it exists, a clone-or-copy elsewhere (macOS APFS clones). */
export async function copySparse(src: string, dst: string, signal: AbortSignal): Promise<void> {
  if (process.platform === 'linux') {
    await run('cp', ['--reflink=auto', '--sparse=always', '--', src, dst], { signal });
    return;
  }
  await copyFile(src, dst, constants.COPYFILE_FICLONE);
}

/** cp does not fsync; a snapshot reported done must survive a power cut. */
async function syncFile(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    await fh.datasync();
    const st = await fh.stat();
    return st.blocks * 512;
  } finally {
    await fh.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The `snapshots` capability of a Local target rooted at `layout.root`. */
export function createSnapshots(layout: Layout, log: Logger): TargetSnapshots {
  return {
    async create(host: Host, volumes: Volume[], name: string, signal: AbortSignal) {
      const dir = layout.snapshotDir(host.id, name);
      if (await exists(dir)) throw new RehostError('CONFLICT', `snapshot ${name} of host ${host.name} already exists at ${dir}`, { hostId: host.id });
      const partial = `${dir}.partial`;
      await rm(partial, { recursive: true, force: true });
      await mkdir(partial, { recursive: true });
      try {
        let sizeBytes = 0;
        for (const volume of [...volumes].sort((a, b) => a.diskIndex - b.diskIndex)) {
          const src = layout.assertVolumeRef(volume.ref);
          if (src !== layout.volumePath(host.id, volume.diskIndex)) {
            throw new RehostError('VALIDATION', `volume ${volume.name} (${volume.ref}) does not belong to host ${host.name}`, { field: 'volume.ref', hostId: host.id });
          }
          const dst = join(partial, `disk-${volume.diskIndex}.raw`);
          await copySparse(src, dst, signal);
          sizeBytes += await syncFile(dst);
        }
        await rename(partial, dir);
        log.info({ host: host.id, snapshot: name, sizeBytes }, 'snapshot created');
        return { ref: dir, sizeBytes };
      } catch (err) {
        await rm(partial, { recursive: true, force: true });
        throw err;
      }
    },

    async remove(ref: string) {
      const dir = layout.assertSnapshotRef(ref);
      await rm(dir, { recursive: true, force: true });
      log.info({ snapshot: dir }, 'snapshot removed');
    },
  };
}
