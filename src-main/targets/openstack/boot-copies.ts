/**
 * A cutover's volume, independent of the snapshot chain (the seed's Ceph dependency-chain note:
 * later cleanup of sync volumes and snapshots must never break the migrated server):
 *
 * - backup → restore: a Cinder backup of the snapshot restored into a new volume, then the backup
 *   is deleted. Independent on every backend.
 * - flattened clone, for clouds without a backup service: a volume from the snapshot, a clone of
 *   that volume, then the intermediate volume is deleted and the clone is checked to name no
 *   snapshot. Backends that keep clones linked to their source refuse that delete: the cutover then
 *   fails with the reason rather than booting a volume that still hangs on the snapshot.
 *
 * Every volume and backup carries the host's tags from the moment it exists.
 */
import { RehostError } from '../../../src-shared/errors.js';
import { OpenStackError, type OpenStackClient } from './client/index.js';
import type { Backup, Snapshot } from './client/cinder.js';
import { compareMicroversions } from './client/microversion.js';
import { createVolumeChecked, explainQuota } from './capacity.js';
import type { OpenStackContext } from './context.js';
import { waitGone } from './volumes.js';

/** Backups, restores and clones of big disks take long; the job's signal still stops them. */
export const COPY_TIMEOUT_MS = 6 * 3600_000;
const CREATE_TIMEOUT_MS = 600_000;

/** What one copy needs besides the snapshot. */
export interface CopyRequest {
  hostId: string;
  name: string;
  metadata: Record<string, string>;
  /** Cinder zone for the new volume; null = Cinder's choice. */
  zone: string | null;
  created: (id: string) => void;
  signal: AbortSignal;
}

/**
 * Backup → restore into a new tagged volume → delete the backup. Null when the backup service
 * refused the backup (the caller makes a flattened clone instead); other failures throw.
 */
export async function restoredCopy(ctx: OpenStackContext, snapshot: Snapshot, r: CopyRequest): Promise<string | null> {
  const { cinder } = ctx.client;
  const { signal } = r;
  let backup: Backup;
  try {
    backup = await createTaggedBackup(ctx.client, snapshot.volume_id, snapshot.id, `${r.name}_backup`, r.metadata, signal);
  } catch (err) {
    if (OpenStackError.isOpenStack(err) && (err.httpStatus >= 500 || /backup/i.test(err.fault)) && !err.quotaExceeded) {
      ctx.log.warn({ host: r.hostId, err: err.message }, 'backup refused: a flattened clone instead');
      return null;
    }
    throw explainQuota(err, `backup of snapshot ${snapshot.id}`, ctx.config.projectName, { hostId: r.hostId });
  }
  try {
    // the create answer holds only the id: size comes from the finished backup
    const done = await cinder.waitBackup(backup.id, 'available', { timeoutMs: COPY_TIMEOUT_MS, signal });
    const source = await cinder.getVolume(snapshot.volume_id, signal);
    const body = { size: Math.max(snapshot.size, done.size), name: r.name, metadata: r.metadata, ...(source.volume_type ? { volume_type: source.volume_type } : {}), ...(r.zone !== null ? { availability_zone: r.zone } : {}) };
    const volume = await createVolumeChecked(ctx.client, body, ctx.config.projectName, signal, { hostId: r.hostId });
    r.created(volume.id);
    await cinder.waitVolume(volume.id, 'available', { timeoutMs: CREATE_TIMEOUT_MS, signal });
    await cinder.restoreBackup(backup.id, { volumeId: volume.id, signal });
    await cinder.waitVolume(volume.id, 'available', { timeoutMs: COPY_TIMEOUT_MS, signal });
    // a restore writes the backed-up volume's name and metadata (the sync volume's) over the target's
    await retagVolume(ctx.client, volume.id, r.name, r.metadata, signal);
    return volume.id;
  } finally {
    // the backup was only the vehicle; a delete that fails leaves it tagged for cleanup
    await cinder.waitBackup(backup.id, 'available', { timeoutMs: CREATE_TIMEOUT_MS }).catch(() => undefined);
    await cinder.deleteBackup(backup.id).catch((err: unknown) => ctx.log.warn({ host: r.hostId, backup: backup.id, err: String(err) }, 'backup not deleted; cleanup will retry'));
  }
}

/**
 * Volume from the snapshot → clone of that volume → the intermediate deleted; the clone must then
 * name no snapshot. Fails with the reason when the backend keeps the clone linked.
 */
export async function flattenedCopy(ctx: OpenStackContext, snapshot: Snapshot, r: CopyRequest): Promise<string> {
  const { cinder } = ctx.client;
  const { signal } = r;
  const create = (body: Parameters<typeof createVolumeChecked>[1]) => createVolumeChecked(ctx.client, body, ctx.config.projectName, signal, { hostId: r.hostId });
  const zone = r.zone !== null ? { availability_zone: r.zone } : {};
  const step = await create({ size: snapshot.size, name: `${r.name}_from_snapshot`, snapshot_id: snapshot.id, metadata: r.metadata, ...zone });
  r.created(step.id);
  await cinder.waitVolume(step.id, 'available', { timeoutMs: COPY_TIMEOUT_MS, signal });
  const clone = await create({ size: snapshot.size, name: r.name, source_volid: step.id, metadata: r.metadata, ...zone });
  r.created(clone.id);
  await cinder.waitVolume(clone.id, 'available', { timeoutMs: COPY_TIMEOUT_MS, signal });
  try {
    await cinder.deleteVolume(step.id, { signal });
    await waitGone(() => cinder.getVolume(step.id, signal), `intermediate volume ${step.id}`, signal);
  } catch (err) {
    throw new RehostError(
      'DRIVER',
      `the cutover volume cannot be made independent of the snapshot: the cloud has no usable backup service, and its storage keeps the clone ${clone.id} linked to the volume it was cloned from (deleting that one failed: ${err instanceof Error ? err.message : String(err)}); enable cinder-backup, or boot from the snapshot (volume_snapshot) and keep the sync data`,
      { hostId: r.hostId },
      { cause: err },
    );
  }
  const made = await cinder.getVolume(clone.id, signal);
  if (made.snapshot_id !== null && made.snapshot_id !== undefined) {
    throw new RehostError('DRIVER', `the cutover volume ${clone.id} still names snapshot ${made.snapshot_id} as its source; it is not independent`, { hostId: r.hostId });
  }
  return clone.id;
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
