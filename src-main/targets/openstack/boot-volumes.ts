/**
 * The volumes a machine boots from, one per snapshot in disk order, made in the volume project
 * once the project's quota and capacity are known to take them:
 *
 * - test boot: a new volume from each Cinder snapshot (fast; it may depend on the snapshot).
 * - cutover: a volume independent of the snapshot chain (boot-copies.ts): backup → restore when
 *   the cloud's backup service works, else a flattened clone; never a volume still hanging on the
 *   snapshot.
 *
 * Volumes go to the asked availability zone where Cinder has it (a volume made from a snapshot or
 * cloned stays in its source's zone, as Cinder requires). The boot volume gets the bootable flag
 * and the `os_type`/`os_distro` image properties. A boot in another project then gets the volumes
 * by volume transfer (offered by the volume project, accepted by the boot user).
 */
import { RehostError } from '../../../src-shared/errors.js';
import { OpenStackError, type OpenStackClient } from './client/index.js';
import { backupServiceUp, COPY_TIMEOUT_MS, flattenedCopy, restoredCopy, type CopyRequest } from './boot-copies.js';
import { createVolumeChecked, findShortage } from './capacity.js';
import { rehostMetadata, type OpenStackContext } from './context.js';

/**
 * Metadata key telling a test boot's resources from a cutover's. A cutover server is tagged
 * `cutover-pending` until it is ACTIVE, then `cutover`: only a finished cutover's server is the
 * migrated machine that cleanup keeps.
 */
export const META_BOOT = 'rehost_boot';
export type BootKind = 'test' | 'cutover';
export const CUTOVER_PENDING = 'cutover-pending';

export function bootMetadata(hostId: string, kind: BootKind, extra: Record<string, string> = {}): Record<string, string> {
  return rehostMetadata(hostId, 'boot', { [META_BOOT]: kind, ...extra });
}

/** Name of the volume a machine boots from: the customer sees it next to the server. */
export function bootVolumeName(hostName: string, diskIndex: number): string {
  return `${hostName}_disk${diskIndex}`;
}

export interface BootDisk {
  diskIndex: number;
  snapshotId: string;
}

export interface BootVolumeOptions {
  /** Nova's zone the machine boots in (`availability_zone_id`); null = any. */
  availabilityZone: string | null;
  /** Image properties for the boot volume (first disk): `os_type`, `os_distro`. */
  imageProperties: Record<string, string>;
}

export interface MadeVolumes {
  /** Cinder volume ids in the order of `disks`. */
  ids: string[];
  method: string;
}

type CopyMethod = 'snapshot' | 'backup' | 'clone';

/** Cutover: backup when the service is up (or cannot be told), unless the target asks for clones. */
async function copyMethod(ctx: OpenStackContext, kind: BootKind, signal: AbortSignal): Promise<CopyMethod> {
  if (kind === 'test') return 'snapshot';
  if (ctx.config.cutoverCopy === 'clone') return 'clone';
  return (await backupServiceUp(ctx.client, signal)) === false ? 'clone' : 'backup';
}

const METHODS: Record<CopyMethod, string> = {
  snapshot: 'volume from snapshot',
  backup: 'backup of the snapshot restored into a new volume',
  clone: 'flattened clone (volume from the snapshot, cloned, the intermediate deleted)',
};

/**
 * Makes one volume per disk; `created` receives each id as soon as it exists (so a failure
 * half-way can remove what was made).
 */
export async function makeBootVolumes(ctx: OpenStackContext, hostId: string, hostName: string, kind: BootKind, disks: BootDisk[], options: BootVolumeOptions, created: (id: string) => void, signal: AbortSignal): Promise<MadeVolumes> {
  const { cinder } = ctx.client;
  let method = await copyMethod(ctx, kind, signal);
  const snapshots = await Promise.all(disks.map((d) => cinder.getSnapshot(d.snapshotId, signal)));
  await checkBootRoom(ctx, hostId, method, snapshots, signal);
  const zones = await cinderZones(ctx.client, signal);
  const notes: string[] = [];
  const ids: string[] = [];
  for (const [i, disk] of disks.entries()) {
    const snapshot = snapshots[i]!;
    const source = await cinder.getVolume(snapshot.volume_id, signal);
    const zone = volumeZone(options.availabilityZone, zones, source.availability_zone, method === 'backup', notes);
    const r: CopyRequest = { hostId, name: bootVolumeName(hostName, disk.diskIndex), metadata: bootMetadata(hostId, kind, { rehost_disk: String(disk.diskIndex) }), zone, created, signal };
    let id = method === 'backup' ? await restoredCopy(ctx, snapshot, r) : method === 'clone' ? await flattenedCopy(ctx, snapshot, r) : null;
    if (id === null && method === 'backup') {
      method = 'clone';
      notes.push('the backup service refused the backup');
      id = await flattenedCopy(ctx, snapshot, r);
    }
    if (id === null) {
      const volume = await createVolumeChecked(ctx.client, { size: snapshot.size, name: r.name, snapshot_id: snapshot.id, metadata: r.metadata, ...(zone !== null ? { availability_zone: zone } : {}) }, ctx.config.projectName, signal, { hostId });
      created(volume.id);
      await cinder.waitVolume(volume.id, 'available', { timeoutMs: COPY_TIMEOUT_MS, signal });
      id = volume.id;
    }
    ids.push(id);
  }
  await cinder.volumeAction(ids[0]!, { 'os-set_bootable': { bootable: true } }, signal);
  if (Object.keys(options.imageProperties).length > 0) await cinder.volumeAction(ids[0]!, { 'os-set_image_metadata': { metadata: options.imageProperties } }, signal);
  return { ids, method: [METHODS[method], ...new Set(notes)].join('; ') };
}

/** Quota and capacity for the copies, checked before the first one is made. */
async function checkBootRoom(ctx: OpenStackContext, hostId: string, method: CopyMethod, snapshots: { size: number }[], signal: AbortSignal): Promise<void> {
  const gib = snapshots.reduce((n, s) => n + s.size, 0);
  const largestGiB = Math.max(0, ...snapshots.map((s) => s.size));
  // a flattened clone holds its intermediate volume for a while: one more volume of the largest size
  const extra = method === 'clone' ? 1 : 0;
  const need = { volumes: snapshots.length + extra, gib: gib + extra * largestGiB, largestGiB, ...(method === 'backup' ? { backups: 1, backupGiB: largestGiB } : {}) };
  const short = await findShortage(ctx.client, need, null, signal, ctx.log);
  if (short.length > 0) {
    throw new RehostError('UNPROCESSABLE', `the boot volumes do not fit the Cinder quota or capacity of project ${ctx.config.projectName} (${short.join('; ')}); raise the quota or free volumes, then boot again`, { field: 'quotas', hostId });
  }
}

/** Cinder's availability zones (a member may read them). */
async function cinderZones(client: OpenStackClient, signal: AbortSignal): Promise<Set<string>> {
  await client.cinder.ready(signal);
  const res = await client.cinder.http.request<{ availabilityZoneInfo: { zoneName: string; zoneState: { available: boolean } }[] }>('GET', '/os-availability-zone', { signal });
  return new Set(res.availabilityZoneInfo.filter((z) => z.zoneState.available).map((z) => z.zoneName));
}

/** The Cinder zone a boot volume goes to for the asked Nova zone; why not, in `notes`. */
function volumeZone(asked: string | null, zones: Set<string>, sourceZone: string, fromBackup: boolean, notes: string[]): string | null {
  if (asked === null) return null;
  if (!zones.has(asked)) {
    notes.push(`Cinder has no zone ${asked}: volumes where Cinder puts them`);
    return null;
  }
  if (!fromBackup && asked !== sourceZone) {
    notes.push(`volumes in zone ${sourceZone}: Cinder keeps a volume made from a snapshot in its source's zone`);
    return null;
  }
  return asked;
}

/**
 * Hands the volumes to the boot project: transfer offered by the volume project, accepted by the
 * boot user. A transfer not accepted is withdrawn, so the volume stays usable and tagged.
 */
export async function transferVolumes(ctx: OpenStackContext, to: OpenStackClient, ids: string[], signal: AbortSignal): Promise<void> {
  for (const id of ids) {
    const transfer = await ctx.client.cinder.createTransfer(id, `rehost-boot-${id}`, { noSnapshots: true, signal });
    try {
      await to.cinder.acceptTransfer(transfer.id, transfer.auth_key, signal);
    } catch (err) {
      await ctx.client.cinder.deleteTransfer(transfer.id).catch(() => undefined);
      throw err instanceof OpenStackError ? new RehostError(err.code, `volume transfer to the boot project was not accepted: ${err.message}`, {}, { cause: err }) : err;
    }
  }
}
