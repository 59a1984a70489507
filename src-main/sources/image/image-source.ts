/**
 * The Image source: every disk image in `config.path` (or the one file it names) is a machine
 * with one disk. Images do not change while they are copied, so the "snapshot" is the file.
 */
import { basename, isAbsolute, resolve } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { DriverDeps, OpenSnapshotOptions, SourceCapabilities, SourceConnection, SourceDriver, SourceInventory, SourceSnapshot } from '../../core/drivers.js';
import type { EnvCheck } from '../../core/model.js';
import { imageChecks } from './checks.js';
import { assertRef, checkRoot, hostId, hostName, listImages, pinnedFormat, type SourceRoot } from './image-files.js';
import { probeImage, SUPPORTED_FORMATS, type ImageProbe } from './probe.js';
import { qemuImgVersion, qemuInfo } from './qemu-img.js';
import { ImageDisk, rawViewFor } from './raw-view.js';

type InventoryHost = SourceInventory['hosts'][number];

/** An image says nothing about the machine it came from; these are the wizard's starting values. */
const DEFAULT_CPUS = 2;
const DEFAULT_MEMORY_MIB = 2048;

/** Reads `config.path`: absolute, since the engine's working folder is arbitrary (a service, an app bundle). */
export function pathFromConfig(config: Record<string, unknown>): string {
  const path = config.path;
  if (typeof path !== 'string' || path.trim() === '') {
    throw new RehostError('VALIDATION', 'config.path: a folder or file of disk images is required', { field: 'config.path' });
  }
  if (!isAbsolute(path)) throw new RehostError('VALIDATION', `config.path: ${path} must be an absolute path`, { field: 'config.path' });
  return resolve(path);
}

/** The SourceDriver behind `createImageSource`. */
export class ImageSource implements SourceDriver {
  readonly kind = 'Image' as const;
  readonly capabilities: SourceCapabilities = { changeTracking: 'hash', pointInTime: false };
  private readonly open = new Set<ImageDisk>();

  constructor(
    private readonly deps: DriverDeps,
    private readonly path: string,
  ) {}

  async connect(_pinned: string | null, signal: AbortSignal): Promise<SourceConnection> {
    const root = await checkRoot(this.path);
    const version = await qemuImgVersion(signal);
    const images = await listImages(root);
    const what = root.kind === 'file' ? `image file ${root.path}` : `folder ${root.path} with ${images.length} image file(s)`;
    return { identity: null, description: `${what}; qemu-img ${version}` };
  }

  async discover(signal: AbortSignal): Promise<SourceInventory> {
    const root = await checkRoot(this.path);
    const hosts: InventoryHost[] = [];
    for (const file of await listImages(root)) {
      signal.throwIfAborted();
      hosts.push(this.toHost(root, await probeImage(file, this.deps.workDir, signal)));
    }
    const tree = { path: root.path, kind: root.kind, images: hosts.map((h) => ({ id: h.id, name: h.name, file: basename(h.ref), format: h.disks[0]?.format ?? 'unknown', size: h.disks[0]?.sizeBytes ?? 0 })) };
    this.deps.log.info({ path: root.path, images: hosts.length }, 'images discovered');
    return { tree, hosts };
  }

  async checkHost(ref: string, signal: AbortSignal): Promise<EnvCheck[]> {
    const file = assertRef(await checkRoot(this.path), ref);
    return imageChecks(await probeImage(file, this.deps.workDir, signal));
  }

  async openSnapshot(ref: string, options: OpenSnapshotOptions, signal: AbortSignal): Promise<SourceSnapshot> {
    const root = await checkRoot(this.path);
    const file = assertRef(root, ref);
    const info = await qemuInfo(file, pinnedFormat(file), signal);
    if (!SUPPORTED_FORMATS.has(info.format) || info.encrypted) {
      throw new RehostError('UNPROCESSABLE', `image ${file} (${info.format}${info.encrypted ? ', encrypted' : ''}) cannot be copied`, { field: 'ref' });
    }
    const id = hostId(root.path, file);
    const raw = await rawViewFor(file, info.format, info.virtualSize, id, this.deps.workDir, this.deps.log, signal);
    const disk = await ImageDisk.open(raw, info.virtualSize, options.mode);
    this.open.add(disk);
    return {
      method: 'static image file',
      disks: [disk],
      close: async () => {
        if (!this.open.delete(disk)) return;
        await disk.close();
      },
    };
  }

  async close(): Promise<void> {
    const disks = [...this.open];
    this.open.clear();
    await Promise.all(disks.map((d) => d.close()));
  }

  private toHost(root: SourceRoot, probe: ImageProbe): InventoryHost {
    const info = probe.info;
    const name = hostName(probe.file);
    return {
      id: hostId(root.path, probe.file),
      ref: probe.file,
      name,
      osType: probe.os.osType,
      osVersion: probe.os.osVersion,
      firmware: probe.os.firmware,
      cpus: DEFAULT_CPUS,
      memoryMiB: DEFAULT_MEMORY_MIB,
      disks: [
        {
          index: 0,
          name: basename(probe.file),
          sizeBytes: info?.virtualSize ?? 0,
          isBoot: true,
          locator: probe.file,
          format: info?.format ?? 'unknown',
          partitionStyle: probe.table?.style ?? 'NONE',
        },
      ],
      nics: [],
      checks: imageChecks(probe),
    };
  }
}
