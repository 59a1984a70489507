/**
 * Where the Local target keeps things, and the guards that keep every path it builds or is handed
 * (volume and snapshot refs come back from the database) inside `<root>/<host id>/`.
 *
 *   <root>/<host id>/disk-<index>.qcow2                the volume's active layer, written by syncs
 *   <root>/<host id>/disk-<index>.base.raw             the raw base under the first layer: the first
 *                                                      sync writes it directly (see LocalTarget.openSink)
 *   <root>/<host id>/snapshots/<name>/disk-<index>.qcow2  frozen layers: each snapshot holds what
 *                                                      changed since the previous one (see snapshots.ts)
 *   <root>/<host id>/disk-<index>.raw, snapshots/<name>/disk-<index>.raw
 *                                                      the same as raw files with reflink clones, on
 *                                                      file systems that clone (Btrfs, XFS)
 *   <root>/<host id>/boot/<instance>/disk-<index>.qcow2  test-boot overlays on a snapshot (throwaway)
 *   <root>/<host id>/boot/<instance>/cidata.iso          cloud-init NoCloud seed of that machine
 *   <root>/<host id>/machines/<instance>.json|.console.log|.qemu.log  running VMs: pid, console
 *   <root>/migrated/<host id>-<stamp>/disk-<index>.raw  cutover copies: outside the host folder, so
 *                                                      cleanup (which removes the host folder) keeps them
 */
import { isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';

/** How a volume is kept: a qcow2 layer chain, or raw files cloned by reflink. */
export type VolumeFormat = 'qcow2' | 'raw';

/** The raw base a qcow2 volume was created on (beside it, whatever layers come between). */
export function baseOf(volumePath: string): string {
  return volumePath.replace(/\.qcow2$/, '.base.raw');
}

/** The format of a volume file, from its name. */
export function volumeFormat(path: string): VolumeFormat {
  return path.endsWith('.qcow2') ? 'qcow2' : 'raw';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Snapshot names such as `HyperMotion-20250101T120000`: one plain path segment. */
const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Reads `config.path`: an absolute folder (a service's working folder is arbitrary, so relative paths would surprise). */
export function rootFromConfig(config: Record<string, unknown>): string {
  const path = config.path;
  if (typeof path !== 'string' || path.trim() === '') {
    throw new RehostError('VALIDATION', 'config.path: the folder for migrated disks is required', { field: 'config.path' });
  }
  if (!isAbsolute(path)) {
    throw new RehostError('VALIDATION', `config.path: ${path} must be an absolute folder path`, { field: 'config.path' });
  }
  return resolve(normalize(path));
}

/** Paths under one Local target root, each checked before use. */
export class Layout {
  constructor(readonly root: string) {}

  hostDir(hostId: string): string {
    if (!UUID.test(hostId)) throw new RehostError('VALIDATION', `host id ${JSON.stringify(hostId)} is not a UUID`, { field: 'host.id', hostId });
    return join(this.root, hostId);
  }

  /** `format`: qcow2 (layered snapshots) or raw (reflink snapshots). */
  volumePath(hostId: string, diskIndex: number, format: VolumeFormat): string {
    if (!Number.isSafeInteger(diskIndex) || diskIndex < 0) {
      throw new RehostError('VALIDATION', `disk index ${diskIndex} is not a non-negative integer`, { field: 'disks.index', hostId });
    }
    return join(this.hostDir(hostId), `disk-${diskIndex}.${format}`);
  }

  snapshotDir(hostId: string, name: string): string {
    if (!SNAPSHOT_NAME.test(name) || name.includes('..')) {
      throw new RehostError('VALIDATION', `snapshot name ${JSON.stringify(name)} is not a plain name`, { field: 'snapshot.name', hostId });
    }
    return join(this.hostDir(hostId), 'snapshots', name);
  }

  /** Test-boot overlays of one machine. */
  bootDir(hostId: string, instanceId: string): string {
    if (!UUID.test(instanceId)) throw new RehostError('VALIDATION', `instance id ${JSON.stringify(instanceId)} is not a UUID`, { hostId });
    return join(this.hostDir(hostId), 'boot', instanceId);
  }

  /** Pid files and consoles of the host's machines. */
  machinesDir(hostId: string): string {
    return join(this.hostDir(hostId), 'machines');
  }

  /** Public keys the boot option `keypair_id` names: `<root>/keypairs/<name>.pub`. */
  keypairDir(): string {
    return join(this.root, 'keypairs');
  }

  /** A cutover copy: kept by cleanup, since the migrated server runs from it. */
  migratedDir(hostId: string, stamp: string): string {
    if (!/^\d{8}T\d{6}Z?$/.test(stamp)) throw new RehostError('VALIDATION', `stamp ${JSON.stringify(stamp)} is not a UTC timestamp`, { hostId });
    return join(this.root, 'migrated', `${this.hostDir(hostId).slice(this.root.length + 1)}-${stamp}`);
  }

  /** True when `path` lies strictly inside `dir` (after resolving `..`). */
  static isInside(dir: string, path: string): boolean {
    const rel = relative(dir, resolve(path));
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) && !rel.split(sep).includes('..');
  }

  /** A volume ref handed back by core: must be a file directly in some host's folder. */
  assertVolumeRef(ref: string): string {
    const rel = relative(this.root, resolve(ref)).split(sep);
    if (rel.length !== 2 || !UUID.test(rel[0]!) || !/^disk-\d+\.(raw|qcow2)$/.test(rel[1]!)) {
      throw new RehostError('VALIDATION', `volume ${ref} is not a disk file of this Local target (${this.root})`, { field: 'volume.ref' });
    }
    return resolve(ref);
  }

  /** A snapshot ref handed back by core: must be `<root>/<uuid>/snapshots/<name>`. */
  assertSnapshotRef(ref: string): string {
    const rel = relative(this.root, resolve(ref)).split(sep);
    if (rel.length !== 3 || !UUID.test(rel[0]!) || rel[1] !== 'snapshots' || !SNAPSHOT_NAME.test(rel[2]!) || rel[2]!.includes('..')) {
      throw new RehostError('VALIDATION', `snapshot ${ref} is not a snapshot folder of this Local target (${this.root})`, { field: 'snapshot.ref' });
    }
    return resolve(ref);
  }
}
