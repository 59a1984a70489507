/**
 * The volumes a machine boots from, one per snapshot in disk order, made in the volume project:
 *
 * - test boot: a new volume from each Cinder snapshot (fast; it may depend on the snapshot).
 * - cutover: a volume independent of the snapshot chain, so cleaning sync volumes and snapshots
 *   later never breaks the migrated server (the seed's Ceph dependency-chain note): a Cinder
 *   backup of the snapshot restored into a new volume, then the backup is deleted. Without a
 *   backup service the volume is a full copy from the snapshot, and the detail says so.
 *
 * Every volume and backup carries the host's tags (role `boot`) from the moment it exists, so a
 * failed step leaves nothing cleanup cannot find. A boot in another project then gets the volumes
 * by volume transfer (offered by the volume project, accepted by the boot user).
 */
import { RehostError } from '../../../src-shared/errors.js';
import { OpenStackError, type OpenStackClient } from './client/index.js';
import type { Backup } from './client/cinder.js';
import { compareMicroversions } from './client/microversion.js';
import { rehostMetadata, type OpenStackContext } from './context.js';

/**
 * Metadata key telling a test boot's resources from a cutover's. A cutover server is tagged
 * `cutover-pending` until it is ACTIVE, then `cutover`: only a finished cutover's server is the
 * migrated machine that cleanup keeps.
 */
export const META_BOOT = 'rehost_boot';
export type BootKind = 'test' | 'cutover';
export const CUTOVER_PENDING = 'cutover-pending';

/** Backups and restores of big disks take long; the job's signal still stops them. */
const COPY_TIMEOUT_MS = 6 * 3600_000;
const CREATE_TIMEOUT_MS = 600_000;

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

export interface MadeVolumes {
  /** Cinder volume ids in the order of `disks`. */
  ids: string[];
  method: string;
}

/**
 * Makes one volume per disk; `created` receives each id as soon as it exists (so a failure
 * half-way can remove what was made).
 */
export async function makeBootVolumes(ctx: OpenStackContext, hostId: string, hostName: string, kind: BootKind, disks: BootDisk[], created: (id: string) => void, signal: AbortSignal): Promise<MadeVolumes> {
  const cinder = ctx.client.cinder;
  const useBackup = kind === 'cutover' && (await backupServiceUp(ctx.client, signal)) !== false;
  const ids: string[] = [];
  let method = kind === 'test' ? 'volume from snapshot' : useBackup ? 'backup of the snapshot restored into a new volume' : '';
  for (const disk of disks) {
    const snapshot = await cinder.getSnapshot(disk.snapshotId, signal);
    const name = bootVolumeName(hostName, disk.diskIndex);
    const metadata = bootMetadata(hostId, kind, { rehost_disk: String(disk.diskIndex) });
    if (kind === 'cutover' && useBackup) {
      const id = await restoredCopy(ctx, hostId, snapshot, name, metadata, created, signal);
      if (id !== null) {
        ids.push(id);
        continue;
      }
      method = 'full copy from the snapshot: the backup service failed (on Ceph the copy stays a clone of the snapshot until flattened)';
    } else if (kind === 'cutover') {
      method = 'full copy from the snapshot: the cloud has no backup service (on Ceph the copy stays a clone of the snapshot until flattened)';
    }
    const volume = await cinder.createVolume({ size: snapshot.size, name, snapshot_id: snapshot.id, metadata }, signal);
    created(volume.id);
    await cinder.waitVolume(volume.id, 'available', { timeoutMs: COPY_TIMEOUT_MS, signal });
    ids.push(volume.id);
  }
  return { ids, method };
}

/**
 * Backup → restore into a new tagged volume → delete the backup. Null when the backup service
 * refused the backup (the caller falls back to a copy); other failures throw.
 */
async function restoredCopy(ctx: OpenStackContext, hostId: string, snapshot: { id: string; size: number; volume_id: string }, name: string, metadata: Record<string, string>, created: (id: string) => void, signal: AbortSignal): Promise<string | null> {
  const cinder = ctx.client.cinder;
  let backup: Backup;
  try {
    backup = await createTaggedBackup(ctx.client, snapshot.volume_id, snapshot.id, `${name}_backup`, bootMetadata(hostId, 'cutover'), signal);
  } catch (err) {
    if (OpenStackError.isOpenStack(err) && (err.httpStatus >= 500 || /backup/i.test(err.fault)) && !err.quotaExceeded) {
      ctx.log.warn({ host: hostId, err: err.message }, 'backup refused: falling back to a full copy');
      return null;
    }
    throw err;
  }
  try {
    // the create answer holds only the id: size comes from the finished backup
    const done = await cinder.waitBackup(backup.id, 'available', { timeoutMs: COPY_TIMEOUT_MS, signal });
    const source = await cinder.getVolume(snapshot.volume_id, signal);
    const volume = await cinder.createVolume({ size: Math.max(snapshot.size, done.size), name, metadata, ...(source.volume_type ? { volume_type: source.volume_type } : {}) }, signal);
    created(volume.id);
    await cinder.waitVolume(volume.id, 'available', { timeoutMs: CREATE_TIMEOUT_MS, signal });
    await cinder.restoreBackup(backup.id, { volumeId: volume.id, signal });
    await cinder.waitVolume(volume.id, 'available', { timeoutMs: COPY_TIMEOUT_MS, signal });
    // a restore writes the backed-up volume's name and metadata (the sync volume's) over the target's
    await retagVolume(ctx.client, volume.id, name, metadata, signal);
    return volume.id;
  } finally {
    // the backup was only the vehicle; a delete that fails leaves it tagged for cleanup
    await cinder.waitBackup(backup.id, 'available', { timeoutMs: CREATE_TIMEOUT_MS }).catch(() => undefined);
    await cinder.deleteBackup(backup.id).catch((err: unknown) => ctx.log.warn({ host: hostId, backup: backup.id, err: String(err) }, 'backup not deleted; cleanup will retry'));
  }
}

/** A backup of `snapshotId` carrying `metadata` (backup metadata needs 3.43; older clouds get it without). */
export async function createTaggedBackup(client: OpenStackClient, volumeId: string, snapshotId: string, name: string, metadata: Record<string, string>, signal: AbortSignal): Promise<Backup> {
  const version = await client.cinder.ready(signal);
  const backup = { volume_id: volumeId, snapshot_id: snapshotId, name, force: true, incremental: false, description: `rehost:${metadata.rehost_host ?? ''}`, ...(compareMicroversions(version, '3.43') >= 0 ? { metadata } : {}) };
  return (await client.cinder.http.request<{ backup: Backup }>('POST', '/backups', { body: { backup }, signal })).backup;
}

async function retagVolume(client: OpenStackClient, id: string, name: string, metadata: Record<string, string>, signal: AbortSignal): Promise<void> {
  const path = `/volumes/${encodeURIComponent(id)}`;
  await client.cinder.http.request('PUT', path, { body: { volume: { name } }, signal });
  await client.cinder.http.request('PUT', `${path}/metadata`, { body: { metadata }, signal });
}

/**
 * Whether a cinder-backup service is up: true/false from the services list, null when the user
 * may not read it (then the backup is simply tried).
 */
export async function backupServiceUp(client: OpenStackClient, signal: AbortSignal): Promise<boolean | null> {
  try {
    await client.cinder.ready(signal);
    const res = await client.cinder.http.request<{ services: { binary: string; state: string; status: string }[] }>('GET', '/os-services', { query: { binary: 'cinder-backup' }, signal });
    return res.services.some((s) => s.state === 'up' && s.status === 'enabled');
  } catch (err) {
    if (OpenStackError.isOpenStack(err, 403) || OpenStackError.isOpenStack(err, 404)) return null;
    throw err;
  }
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
