/** Paths on the KVM host under `config.path`, and the presets it offers. */
import { posix } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { ResourceKind } from '../../../src-shared/states.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Presets like the Local target's: a KVM host has no flavor catalogue of its own. */
export const KVM_FLAVORS = [
  { id: 'kvm.tiny', name: 'tiny', vcpus: 1, ram_mib: 512, disk_gib: 1 },
  { id: 'kvm.small', name: 'small', vcpus: 1, ram_mib: 1024, disk_gib: 20 },
  { id: 'kvm.medium', name: 'medium', vcpus: 2, ram_mib: 4096, disk_gib: 40 },
  { id: 'kvm.large', name: 'large', vcpus: 4, ram_mib: 8192, disk_gib: 80 },
];
export const RESOURCES = ['flavors', 'networks', 'availability_zones', 'keypairs'] as const satisfies readonly ResourceKind[];

/** How a volume is kept: raw (reflink snapshots, or copies without qemu-nbd) or a qcow2 active layer. */
export type VolumeFormat = 'raw' | 'qcow2';

/** Remote paths, each checked before use. */
export class KvmLayout {
  constructor(readonly root: string) {
    if (!posix.isAbsolute(root) || root.split('/').includes('..')) throw new RehostError('VALIDATION', `config.path: ${root} must be an absolute folder path`, { field: 'config.path' });
  }
  hostDir(hostId: string): string {
    if (!UUID.test(hostId)) throw new RehostError('VALIDATION', `host id ${JSON.stringify(hostId)} is not a UUID`, { hostId });
    return posix.join(this.root, hostId);
  }
  /** The volume a sync writes: `disk-<n>.raw`, or `disk-<n>.qcow2`, the active layer over `base(n)` and frozen layers. */
  volume(hostId: string, index: number, format: VolumeFormat = 'raw'): string {
    if (!Number.isSafeInteger(index) || index < 0) throw new RehostError('VALIDATION', `disk index ${index} is not a non-negative integer`, { hostId });
    return posix.join(this.hostDir(hostId), `disk-${index}.${format}`);
  }
  /** The raw base under a qcow2 volume's layers: the first sync writes it directly. */
  base(hostId: string, index: number): string {
    return posix.join(this.layersDir(hostId), `base-disk-${index}.raw`);
  }
  /** Public keys `keypair_id` names: `<path>/keypairs/<name>.pub` on the host. */
  keypairDir(): string {
    return posix.join(this.root, 'keypairs');
  }
  /** A test boot's seed and overlays, or a cutover copy, hold the cloud-init seed. */
  seed(dir: string): string {
    return posix.join(dir, 'cidata.img');
  }
  /** Snapshot data: raw bases and qcow2 deltas, never renamed while a snapshot or overlay needs them. */
  layersDir(hostId: string): string {
    return posix.join(this.hostDir(hostId), 'layers');
  }
  machinesDir(hostId: string): string {
    return posix.join(this.hostDir(hostId), 'machines');
  }
  bootDir(hostId: string, instanceId: string): string {
    return posix.join(this.hostDir(hostId), 'boot', instanceId);
  }
  /** Cutover copies live outside the host folder so that cleanup keeps them. */
  migratedDir(hostId: string, stamp: string): string {
    this.hostDir(hostId);
    return posix.join(this.root, 'migrated', `${hostId}-${stamp}`);
  }
  snapshot(hostId: string, name: string): string {
    if (!NAME.test(name)) throw new RehostError('VALIDATION', `snapshot name ${JSON.stringify(name)} is not a plain name`, { hostId });
    return posix.join(this.hostDir(hostId), 'snapshots', name);
  }
  /** A ref from the database must be a snapshot folder of this root. */
  assertSnapshotRef(ref: string): string {
    const parts = posix.relative(this.root, posix.normalize(ref)).split('/');
    if (parts.length !== 3 || !UUID.test(parts[0]!) || parts[1] !== 'snapshots' || !NAME.test(parts[2]!)) {
      throw new RehostError('VALIDATION', `snapshot ${ref} is not a snapshot folder of this KVM target (${this.root})`, { field: 'snapshot.ref' });
    }
    return posix.normalize(ref);
  }
  assertVolumeRef(ref: string): string {
    const parts = posix.relative(this.root, posix.normalize(ref)).split('/');
    if (parts.length !== 2 || !UUID.test(parts[0]!) || !/^disk-\d+\.(raw|qcow2)$/.test(parts[1]!)) {
      throw new RehostError('VALIDATION', `volume ${ref} is not a disk file of this KVM target (${this.root})`, { field: 'volume.ref' });
    }
    return posix.normalize(ref);
  }
}

/** The format of a volume file, from its name. */
export function volumeFormat(path: string): VolumeFormat {
  return path.endsWith('.qcow2') ? 'qcow2' : 'raw';
}

/** Unix sockets on the host (their paths are limited to 108 bytes, so they live in /tmp). */
export function agentSocket(instanceId: string): string {
  return `/tmp/rehost-qga-${instanceId}.sock`;
}

