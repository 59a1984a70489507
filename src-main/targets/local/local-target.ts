/**
 * The Local target: migrated disks become sparse raw files in a folder on this machine. It keeps
 * snapshots (file copies) and boots them under QEMU (`machines`, see machines.ts).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, rm, stat, statfs, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { ResourceKind } from '../../../src-shared/states.js';
import type { DiskSink, DriverDeps, TargetCapabilities, TargetDriver, TargetInventory, TargetSnapshots } from '../../core/drivers.js';
import type { Host, Snapshot, Volume } from '../../core/model.js';
import { FileSink } from './file-sink.js';
import { Layout } from './layout.js';
import { isLocalResource, LOCAL_RESOURCES, presets } from './presets.js';
import { LocalMachines } from './machines.js';
import { createSnapshots } from './snapshots.js';

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

/** The TargetDriver behind `createLocalTarget`. */
export class LocalTarget implements TargetDriver {
  readonly cloudType = 'Local' as const;
  readonly capabilities: TargetCapabilities = { resources: LOCAL_RESOURCES };
  readonly snapshots: TargetSnapshots;
  readonly machines: LocalMachines;
  private readonly layout: Layout;
  private readonly sinks = new Set<DiskSink>();

  constructor(
    private readonly deps: DriverDeps,
    root: string,
  ) {
    this.layout = new Layout(root);
    this.snapshots = createSnapshots(this.layout, deps.log);
    this.machines = new LocalMachines(this.layout, deps.log);
  }

  /** Creates the folder when missing and proves it writable with a probe file (as root, access() always says yes). */
  private async ensureRoot(): Promise<void> {
    const root = this.layout.root;
    const probe = join(root, `.rehost-probe-${randomUUID()}`);
    try {
      await mkdir(root, { recursive: true });
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
    return presets(kind);
  }

  async prepareVolumes(host: Host, signal: AbortSignal): Promise<PreparedVolume[]> {
    await this.ensureRoot();
    await mkdir(this.layout.hostDir(host.id), { recursive: true });
    const out: PreparedVolume[] = [];
    for (const disk of host.disks) {
      signal.throwIfAborted();
      const ref = this.layout.volumePath(host.id, disk.index);
      await this.ensureVolumeFile(host, ref, disk.sizeBytes);
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

  /** Same size: reused as is (it holds the last sync). Grown source disk: extended. Shrunk: refused. */
  private async ensureVolumeFile(host: Host, path: string, sizeBytes: number): Promise<void> {
    const current = await stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
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

  async openSink(volume: Volume, signal: AbortSignal): Promise<DiskSink> {
    signal.throwIfAborted();
    const path = this.layout.assertVolumeRef(volume.ref);
    const sink = await FileSink.open(path, (closed) => this.sinks.delete(closed)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new RehostError('CONFLICT', `volume file ${path} is missing; sync again to recreate it`, { field: 'volume.ref' });
      throw err;
    });
    this.sinks.add(sink);
    return sink;
  }

  /**
   * Stops the host's machines, then removes `<root>/<host id>` and nothing else: cutover copies in
   * `<root>/migrated/` stay (the migrated server runs from them; `start.sh` there restarts it). Refs outside it are not followed. A missing root
   * without `force` is an error: it more likely means an unmounted drive than nothing to clean.
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
    await this.machines.stopAll(host);
    const refs = [...volumes.map((v) => v.ref), ...snapshots.map((s) => s.ref).filter((r): r is string => r !== null)];
    for (const ref of refs) {
      if (!Layout.isInside(dir, ref)) this.deps.log.warn({ host: host.id, ref }, 'ref outside the host folder left alone');
    }
    await rm(dir, { recursive: true, force: true });
    this.deps.log.info({ host: host.id, dir }, 'host data removed');
  }

  async close(): Promise<void> {
    await Promise.all([...this.sinks].map((s) => s.close()));
  }
}
