/**
 * The Local target: migrated disks become volumes in a folder on this machine: qcow2 layers
 * written through qemu-nbd, or raw files where the file system clones them (snapshots.ts). It
 * keeps snapshots and boots them under QEMU (`machines`, see machines.ts).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm, stat, statfs, truncate, writeFile } from 'node:fs/promises';
import { join, parse, sep } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { ResourceKind } from '../../../src-shared/states.js';
import type { DiskSink, DriverDeps, TargetCapabilities, TargetDriver, TargetInventory, TargetSnapshots } from '../../core/drivers.js';
import type { Host, Snapshot, Volume } from '../../core/model.js';
import { listKeypairs } from './cloud-init.js';
import { FileSink } from './file-sink.js';
import { baseOf, Layout, volumeFormat, type VolumeFormat } from './layout.js';
import { NbdSink } from './nbd-sink.js';
import { createLayer, directBase, hasQemuTools, imageInfo, resizeImage } from './qcow2.js';
import { isLocalResource, LOCAL_RESOURCES, presets } from './presets.js';
import { LocalMachines } from './machines.js';
import { createSnapshots, repairFrozenLayer, snapshotDisk, supportsReflink } from './snapshots.js';

type PreparedVolume = Omit<Volume, 'id' | 'createdAt'>;

/** Turns a file-system error on the root folder into a message that names `config.path`. */
function rootError(root: string, err: unknown): RehostError {
  const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
  const why: Record<string, string> = {
    ENOTDIR: 'a part of the path is a file, not a folder',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'the file system is read-only',
    ENOSPC: 'the disk is full',
    EEXIST: 'a file with that name is in the way',
  };
  const reason = why[code] ?? (err instanceof Error ? err.message : String(err));
  return new RehostError('VALIDATION', `config.path: ${root} is not a writable folder (${reason})`, { field: 'config.path' }, { cause: err });
}

/**
 * `mkdir -p`, one level at a time: Node's recursive mkdir never returns for a path under a
 * folder that refuses new entries with ENOENT (/proc, some FUSE mounts); this one fails.
 */
async function makeFolder(path: string): Promise<void> {
  const { root } = parse(path);
  let current = root;
  for (const part of path.slice(root.length).split(sep).filter(Boolean)) {
    current = join(current, part);
    await mkdir(current).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}

/** The TargetDriver behind `createLocalTarget`. */
export class LocalTarget implements TargetDriver {
  readonly cloudType = 'Local' as const;
  readonly capabilities: TargetCapabilities = { resources: LOCAL_RESOURCES };
  readonly snapshots: TargetSnapshots;
  readonly machines: LocalMachines;
  private readonly layout: Layout;
  private readonly sinks = new Map<DiskSink, string>();
  private format: Promise<VolumeFormat> | null = null;

  constructor(
    private readonly deps: DriverDeps,
    root: string,
  ) {
    this.layout = new Layout(root);
    this.snapshots = createSnapshots({ layout: this.layout, log: deps.log, isWriting: (path) => [...this.sinks.values()].includes(path) });
    this.machines = new LocalMachines(this.layout, deps.log);
  }

  /** Creates the folder when missing and proves it writable with a probe file (as root, access() always says yes). */
  private async ensureRoot(): Promise<void> {
    const root = this.layout.root;
    const probe = join(root, `.rehost-probe-${randomUUID()}`);
    try {
      await makeFolder(root);
      await writeFile(probe, 'rehost');
    } catch (err) {
      throw rootError(root, err);
    } finally {
      // Best effort: when the folder is unusable the probe was never made and rm fails too.
      await rm(probe, { force: true }).catch(() => undefined);
    }
  }

  async verify(signal: AbortSignal): Promise<TargetInventory> {
    signal.throwIfAborted();
    await this.ensureRoot();
    const fsInfo = await statfs(this.layout.root);
    const totalBytes = fsInfo.blocks * fsInfo.bsize;
    const usedBytes = (fsInfo.blocks - fsInfo.bfree) * fsInfo.bsize;
    return {
      displayName: `Local_${this.layout.root}`,
      address: 'localhost',
      totalBytes,
      usedBytes,
      pools: [{ id: 'default', name: 'Local_Pool', protocol: 'file', totalBytes, usedBytes, status: 'available' }],
    };
  }

  async listResources(kind: ResourceKind, signal: AbortSignal): Promise<Record<string, unknown>[]> {
    signal.throwIfAborted();
    if (!isLocalResource(kind)) throw new RehostError('UNPROCESSABLE', `Local targets have no ${kind}; they offer ${LOCAL_RESOURCES.join(', ')}`, { field: 'kind' });
    if (kind === 'keypairs') return listKeypairs(this.layout.keypairDir());
    return presets(kind);
  }

  async prepareVolumes(host: Host, signal: AbortSignal): Promise<PreparedVolume[]> {
    await this.ensureRoot();
    await mkdir(this.layout.hostDir(host.id), { recursive: true });
    const out: PreparedVolume[] = [];
    for (const disk of host.disks) {
      signal.throwIfAborted();
      const ref = await this.volumeFile(host, disk.index, signal);
      await this.ensureVolumeFile(host, ref, disk.sizeBytes, signal);
      out.push({
        hostId: host.id,
        targetId: host.targetId ?? '',
        diskIndex: disk.index,
        name: `sync_vol_${host.name}_${disk.index}`,
        sizeBytes: disk.sizeBytes,
        status: 'in-use',
        ref,
      });
    }
    return out;
  }

  /**
   * The volume's file: an existing one keeps its format; a new one is raw where the folder's file
   * system clones files (reflink snapshots), qcow2 layers elsewhere. A snapshot interrupted between
   * its two renames left the new active layer as `.next`: it is put in place here.
   */
  private async volumeFile(host: Host, index: number, signal: AbortSignal): Promise<string> {
    const qcow2 = this.layout.volumePath(host.id, index, 'qcow2');
    const raw = this.layout.volumePath(host.id, index, 'raw');
    const there = async (p: string) => stat(p).then(() => true, () => false);
    if (await there(qcow2)) {
      await rm(`${qcow2}.next`, { force: true });
      return qcow2;
    }
    if (await there(`${qcow2}.next`)) {
      this.deps.log.warn({ host: host.id, path: qcow2 }, 'finishing an interrupted snapshot: the new active layer goes in place');
      await repairFrozenLayer(`${qcow2}.next`, qcow2, signal);
      await rename(`${qcow2}.next`, qcow2);
      return qcow2;
    }
    if (await there(raw)) return raw;
    signal.throwIfAborted();
    this.format ??= this.chooseFormat();
    return (await this.format) === 'raw' ? raw : qcow2;
  }

  /**
   * Raw where the file system clones (reflink snapshots cost nothing); qcow2 layers elsewhere. A
   * machine without qemu-img and qemu-nbd (a laptop without QEMU) still syncs, to raw files whose
   * snapshots are then full copies: slower, and said so in the log.
   */
  private async chooseFormat(): Promise<VolumeFormat> {
    if (await supportsReflink(this.layout.root)) return 'raw';
    if (await hasQemuTools()) return 'qcow2';
    this.deps.log.warn({ root: this.layout.root }, 'qemu-img/qemu-nbd missing and no reflink support: snapshots will be full copies (install qemu-utils)');
    return 'raw';
  }

  /** Same size: reused as is (it holds the last sync). Grown source disk: extended. Shrunk: refused. */
  private async ensureVolumeFile(host: Host, path: string, sizeBytes: number, signal: AbortSignal): Promise<void> {
    const current = await stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (volumeFormat(path) === 'qcow2') return this.ensureLayer(host, path, current === null ? null : (await imageInfo(path, signal)).virtualSize, sizeBytes, signal);
    if (current === null) {
      // 'wx' fails instead of clobbering a file another prepare created meanwhile.
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.truncate(sizeBytes);
      } finally {
        await fh.close();
      }
      return;
    }
    if (!current.isFile()) throw new RehostError('CONFLICT', `volume path ${path} exists and is not a file`, { hostId: host.id });
    if (current.size === sizeBytes) return;
    if (current.size > sizeBytes) {
      throw new RehostError('CONFLICT', `volume ${path} holds ${current.size} bytes but the source disk now has ${sizeBytes}; clean the host to start over`, { hostId: host.id });
    }
    this.deps.log.info({ host: host.id, path, from: current.size, to: sizeBytes }, 'source disk grew; extending the volume');
    await truncate(path, sizeBytes);
  }

  /**
   * A qcow2 active layer: created blank over a blank raw base (which the first sync writes
   * directly, see openSink), grown with the disk, never shrunk.
   */
  private async ensureLayer(host: Host, path: string, currentSize: number | null, sizeBytes: number, signal: AbortSignal): Promise<void> {
    if (currentSize === null) {
      const base = await open(baseOf(path), 'a', 0o600);
      try {
        // A blank base is one a prepare interrupted before making the layer left. One holding
        // data may lie under snapshots whose active layer went missing: never overwritten.
        const st = await base.stat();
        if (st.blocks > 0) {
          throw new RehostError('CONFLICT', `volume ${path} is missing but its base ${baseOf(path)} holds data (snapshots may use it); clean the host to start over`, { hostId: host.id });
        }
        await base.truncate(sizeBytes);
      } finally {
        await base.close();
      }
      return createLayer(path, baseOf(path), 'raw', sizeBytes, signal);
    }
    if (currentSize === sizeBytes) return;
    if (currentSize > sizeBytes) {
      throw new RehostError('CONFLICT', `volume ${path} holds ${currentSize} bytes but the source disk now has ${sizeBytes}; clean the host to start over`, { hostId: host.id });
    }
    // Only the active layer grows: older layers may be smaller, and read as zeros past their end.
    this.deps.log.info({ host: host.id, path, from: currentSize, to: sizeBytes }, 'source disk grew; extending the volume');
    await resizeImage(path, sizeBytes, signal);
  }

  async openSink(volume: Volume, signal: AbortSignal): Promise<DiskSink> {
    signal.throwIfAborted();
    const path = this.layout.assertVolumeRef(volume.ref);
    if (!(await stat(path).then(() => true, () => false))) {
      throw new RehostError('CONFLICT', `volume file ${path} is missing; sync again to recreate it`, { field: 'volume.ref' });
    }
    if ([...this.sinks.values()].includes(path)) throw new RehostError('CONFLICT', `volume ${path} is already open for writing`, { field: 'volume.ref' });
    const onClose = (closed: DiskSink) => this.sinks.delete(closed);
    const sink = volumeFormat(path) === 'qcow2' ? await this.openLayerSink(path, signal, onClose) : await FileSink.open(path, onClose);
    // Keyed by the volume's own file, whichever file the sink writes: snapshots check it.
    this.sinks.set(sink, path);
    return sink;
  }

  /**
   * While no snapshot has frozen a volume's raw base and its active layer holds nothing of its
   * own (the first sync, and any before the first snapshot), the sink writes the base file itself:
   * plain positional writes, no qemu-nbd and no qcow2 metadata in the path of a full copy. Any
   * other active layer is written through qemu-nbd.
   */
  private async openLayerSink(path: string, signal: AbortSignal, onClose: (sink: DiskSink) => void): Promise<DiskSink> {
    const direct = await directBase(path, baseOf(path), signal);
    if (direct === null) return NbdSink.open(path, signal, onClose);
    // The layer grew with the disk; the base only it reads grows along.
    if ((await stat(direct.base)).size < direct.virtualSize) await truncate(direct.base, direct.virtualSize);
    return FileSink.open(direct.base, onClose);
  }

  /**
   * Removes everything Rehost made on this target to sync and test the host: its test machines
   * (stopped first), volumes, snapshot layers, overlays, seeds and machine records, i.e.
   * `<root>/<host id>`. The migrated server is never touched: a cutover machine keeps running
   * from its copy in `<root>/migrated/` (with its `start.sh` and console), which no cleanup
   * removes. Refs outside the host folder are not followed. Without `force`, a missing root (an
   * unmounted drive?) or a snapshot or volume file that is gone (removed by hand?) refuses the
   * cleanup and names what is missing; `force` removes whatever is still there.
   */
  async cleanup(host: Host, volumes: Volume[], snapshots: Snapshot[], force: boolean, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const dir = this.layout.hostDir(host.id);
    const rootThere = await stat(this.layout.root).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!rootThere) {
      if (force) return;
      throw new RehostError('CONFLICT', `config.path: ${this.layout.root} is not there (an unmounted drive?); clean with force to drop the records anyway`, { field: 'config.path', hostId: host.id });
    }
    const hostThere = await stat(dir).then(() => true, () => false);
    // No host folder is nothing to clean (cleaned before); one with files gone was broken by hand.
    if (!force && hostThere) {
      const missing = await missingParts(volumes, snapshots);
      if (missing.length > 0) {
        throw new RehostError('CONFLICT', `parts of host ${host.name} are already missing on the target: ${missing.join(', ')}; clean with force to remove the rest`, { field: 'clean.force', hostId: host.id });
      }
    }
    await this.machines.stopAll(host, 'test');
    // qemu-nbd servers of an interrupted sync hold files in the folder.
    await Promise.all([...this.sinks].filter(([, path]) => Layout.isInside(dir, path)).map(([sink]) => sink.close()));
    const refs = [...volumes.map((v) => v.ref), ...snapshots.map((s) => s.ref).filter((r): r is string => r !== null)];
    for (const ref of refs) {
      if (!Layout.isInside(dir, ref)) this.deps.log.warn({ host: host.id, ref }, 'ref outside the host folder left alone');
    }
    await rm(dir, { recursive: true, force: true });
    this.deps.log.info({ host: host.id, dir, force }, 'host data removed; migrated copies in migrated/ are kept');
  }

  async close(): Promise<void> {
    await Promise.all([...this.sinks.keys()].map((s) => s.close()));
  }
}

/** Volume files and create_done snapshot files the records name but the folder no longer has. */
async function missingParts(volumes: Volume[], snapshots: Snapshot[]): Promise<string[]> {
  const there = async (p: string) => stat(p).then(() => true, () => false);
  const missing: string[] = [];
  for (const v of volumes) {
    // `.next`: a snapshot interrupted between its renames; the next prepare puts it in place.
    if (!(await there(v.ref)) && !(await there(`${v.ref}.next`))) missing.push(`volume ${v.ref}`);
  }
  for (const s of snapshots.filter((x) => x.status === 'create_done' && x.ref !== null)) {
    for (const v of volumes) {
      const found = await snapshotDisk(s.ref!, v.diskIndex).then(() => true, () => false);
      if (!found) missing.push(`snapshot ${s.name} disk ${v.diskIndex} in ${s.ref}`);
    }
  }
  return missing;
}
