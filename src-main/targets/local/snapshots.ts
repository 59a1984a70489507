/**
 * Snapshots on the Local target, cheap and independent of later syncs, in one of two ways:
 *
 * - layered (qcow2, every file system): a snapshot freezes the volume's active layer (renamed
 *   into the snapshot's folder) and puts a new, empty active layer on top of it. A snapshot thus
 *   holds only what changed since the previous one, and later syncs never touch it. Deleting one
 *   merges it into the next newer layer, so the newer snapshots stay readable (`remove`).
 * - reflink (raw, on file systems that clone: Btrfs, XFS): `cp --reflink=always`, a
 *   constant-time clone of the raw volume file.
 *
 * A volume keeps the format it was created with (see `LocalTarget.prepareVolumes`).
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { RehostError } from '../../../src-shared/errors.js';
import type { TargetSnapshots } from '../../core/drivers.js';
import type { Host, Volume } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import { baseOf, volumeFormat, type Layout } from './layout.js';
import { commitIntoBacking, convertLayer, createLayer, imageInfo, rebaseHeader } from './qcow2.js';

const run = promisify(execFile);

/** Copies one file keeping holes; GNU cp where it exists, a clone-or-copy elsewhere (macOS APFS clones). */
export async function copySparse(src: string, dst: string, signal: AbortSignal): Promise<void> {
  if (process.platform === 'linux') {
    await run('cp', ['--reflink=auto', '--sparse=always', '--', src, dst], { signal });
    return;
  }
  await copyFile(src, dst, constants.COPYFILE_FICLONE);
}

/** True when `dir`'s file system clones files (a reflink copy of a probe file succeeds). */
export async function supportsReflink(dir: string): Promise<boolean> {
  const probe = join(dir, `.rehost-reflink-${process.pid}-${Date.now()}`);
  try {
    await (await open(probe, 'w')).close();
    if (process.platform === 'linux') await run('cp', ['--reflink=always', '--', probe, `${probe}.clone`]);
    else await copyFile(probe, `${probe}.clone`, constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  } finally {
    await rm(probe, { force: true });
    await rm(`${probe}.clone`, { force: true });
  }
}

/** Makes a file's data durable; returns its allocated bytes. */
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

/** The file of disk `index` in a snapshot folder: a qcow2 layer or a raw clone. */
export async function snapshotDisk(dir: string, index: number): Promise<{ path: string; format: 'qcow2' | 'raw' }> {
  const qcow2 = join(dir, `disk-${index}.qcow2`);
  if (await exists(qcow2)) return { path: qcow2, format: 'qcow2' };
  const raw = join(dir, `disk-${index}.raw`);
  if (await exists(raw)) return { path: raw, format: 'raw' };
  throw new RehostError('CONFLICT', `snapshot ${dir} has no file for disk ${index}; it was removed or never completed`, { field: 'boot.snapshot_id' });
}

/** Hooks the target gives: whether a volume file has an open sink (a sync writes it). */
export interface SnapshotDeps {
  layout: Layout;
  log: Logger;
  isWriting(volumePath: string): boolean;
}

/** The `snapshots` capability of a Local target rooted at `layout.root`. */
export function createSnapshots(deps: SnapshotDeps): TargetSnapshots {
  const { layout, log } = deps;
  return {
    async create(host: Host, volumes: Volume[], name: string, signal: AbortSignal) {
      const dir = layout.snapshotDir(host.id, name);
      if (await exists(dir)) throw new RehostError('CONFLICT', `snapshot ${name} of host ${host.name} already exists at ${dir}`, { hostId: host.id });
      const ordered = [...volumes].sort((a, b) => a.diskIndex - b.diskIndex);
      for (const volume of ordered) {
        const path = layout.assertVolumeRef(volume.ref);
        if (path !== layout.volumePath(host.id, volume.diskIndex, volumeFormat(path))) {
          throw new RehostError('VALIDATION', `volume ${volume.name} (${volume.ref}) does not belong to host ${host.name}`, { field: 'volume.ref', hostId: host.id });
        }
        if (deps.isWriting(path)) throw new RehostError('CONFLICT', `volume ${volume.name} is being written by a sync; snapshot after it`, { hostId: host.id });
      }
      const sizeBytes = ordered.every((v) => volumeFormat(v.ref) === 'qcow2') ? await freezeLayers(dir, ordered, signal) : await cloneRaw(dir, ordered, signal);
      log.info({ host: host.id, snapshot: name, sizeBytes }, 'snapshot created');
      return { ref: dir, sizeBytes };
    },

    async remove(ref: string, signal: AbortSignal) {
      const dir = layout.assertSnapshotRef(ref);
      const hostDir = join(dir, '..', '..');
      for (const name of (await readdir(dir).catch(() => [] as string[])).filter((n) => /^disk-\d+\.qcow2$/.test(n))) {
        await mergeIntoChild(join(dir, name), hostDir, deps, signal);
      }
      await rm(dir, { recursive: true, force: true });
      log.info({ snapshot: dir }, 'snapshot removed');
    },
  };
}

/**
 * Layered snapshot: per volume, a new empty active layer is made beside the active one (backing =
 * where the active one is about to go), then the active layer is renamed into the snapshot folder
 * and the new one takes its place. A failure moves the frozen layers back, so the volume is as before.
 */
async function freezeLayers(dir: string, volumes: Volume[], signal: AbortSignal): Promise<number> {
  await mkdir(dir, { recursive: true });
  const moved: { active: string; frozen: string }[] = [];
  try {
    let sizeBytes = 0;
    for (const volume of volumes) {
      const active = volume.ref;
      const frozen = join(dir, `disk-${volume.diskIndex}.qcow2`);
      const next = `${active}.next`;
      await rm(next, { force: true });
      const { virtualSize, backing, backingFormat } = await imageInfo(active, signal);
      await createLayer(next, frozen, 'qcow2', virtualSize, signal);
      sizeBytes += await syncFile(active);
      // The first snapshot freezes the raw base the first sync wrote: its data is this snapshot's.
      if (backing === baseOf(active)) sizeBytes += await syncFile(backing);
      await rename(active, frozen);
      moved.push({ active, frozen });
      // Backing names are relative to the image's folder, one level deeper now.
      if (backing !== null) await rebaseHeader(frozen, backing, backingFormat ?? 'qcow2', signal);
      await rename(next, active);
    }
    return sizeBytes;
  } catch (err) {
    for (const { active, frozen } of moved.reverse()) {
      await rm(`${active}.next`, { force: true });
      const { backing, backingFormat } = await imageInfo(frozen, signal);
      await rename(frozen, active);
      if (backing !== null) await rebaseHeader(active, backing, backingFormat ?? 'qcow2', signal);
    }
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Finishes a layered snapshot the engine died in after freezing the active layer (renamed into
 * the snapshot folder) but before its relative backing name was rebased: that name still counts
 * from the volume's folder, so it is rebased now. `next` is the new active layer left as `.next`.
 */
export async function repairFrozenLayer(next: string, active: string, signal: AbortSignal): Promise<void> {
  const frozen = (await imageInfo(next, signal)).backing;
  if (frozen === null || !(await exists(frozen))) return;
  const { backing, backingName, backingFormat } = await imageInfo(frozen, signal);
  if (backing === null || backingName === null || (await exists(backing))) return;
  const meant = resolve(dirname(active), backingName);
  if (await exists(meant)) await rebaseHeader(frozen, meant, backingFormat ?? 'qcow2', signal);
}

/** Reflink snapshot: clones into `<name>.partial` and renames, so a half-made one never looks complete. */
async function cloneRaw(dir: string, volumes: Volume[], signal: AbortSignal): Promise<number> {
  const partial = `${dir}.partial`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  try {
    let sizeBytes = 0;
    for (const volume of volumes) {
      const dst = join(partial, `disk-${volume.diskIndex}.raw`);
      await copySparse(volume.ref, dst, signal);
      sizeBytes += await syncFile(dst);
    }
    await rename(partial, dir);
    return sizeBytes;
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
}

/** The image whose backing file is `layer`: a newer snapshot's layer or the active one. */
async function findChild(layer: string, hostDir: string, signal: AbortSignal): Promise<string | null> {
  const file = layer.slice(layer.lastIndexOf('/') + 1);
  const snapshots = join(hostDir, 'snapshots');
  const candidates = [join(hostDir, file), ...(await readdir(snapshots).catch(() => [] as string[])).map((n) => join(snapshots, n, file))];
  for (const candidate of candidates) {
    if (candidate === layer || !(await exists(candidate))) continue;
    if ((await imageInfo(candidate, signal)).backing === layer) return candidate;
  }
  return null;
}

/**
 * Removes one frozen layer without changing what any newer image reads. Its data goes into the
 * child (the layer on top of it): `qemu-img commit -d` writes the child's clusters into this
 * layer, which then reads like the child and replaces it by rename. When a running machine holds
 * the layer (qemu's image locks refuse the commit), the child is rebuilt instead as a new file
 * over this layer's own backing; machines keep the old files they have open.
 */
async function mergeIntoChild(layer: string, hostDir: string, deps: SnapshotDeps, signal: AbortSignal): Promise<void> {
  const child = await findChild(layer, hostDir, signal);
  if (child === null) return;
  if (deps.isWriting(child)) throw new RehostError('CONFLICT', `cannot remove snapshot layer ${layer} while a sync writes ${child}`);
  const own = await imageInfo(layer, signal);
  const ownBacking = own.backing === null ? null : { path: own.backing, format: own.backingFormat ?? 'qcow2' };
  const committed = await commitIntoBacking(child, signal).then(
    () => true,
    (err: unknown) => {
      deps.log.info({ layer, child, err: String(err) }, 'commit refused (image in use); rebuilding the next layer instead');
      return false;
    },
  );
  if (committed) {
    await rename(layer, child);
    // The backing name is relative to the image's folder, which may have changed depth.
    if (ownBacking) await rebaseHeader(child, ownBacking.path, ownBacking.format, signal);
    deps.log.info({ layer, child }, 'snapshot layer merged into the next one');
    return;
  }
  const tmp = `${child}.merge`;
  await rm(tmp, { force: true });
  await convertLayer(child, tmp, ownBacking, signal);
  await rename(tmp, child);
}
