/**
 * Sync volumes: one Cinder volume per source disk, sized to the disk, tagged with the host and
 * disk, attached to the gateway. Found again by their tags, so a retried step reuses what an
 * earlier attempt made; quota is checked before anything is created.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { Host, Volume } from '../../core/model.js';
import { OpenStackError } from './client/index.js';
import type { Volume as CinderVolume, VolumeQuotas } from './client/cinder.js';
import { createVolumeChecked, findShortage, type RoomNeed } from './capacity.js';
import { isRehostOwned, META_DISK, rehostMetadata, syncVolumeNames, type OpenStackContext } from './context.js';
import type { DeviceHint } from './gateway.js';

export const GiB = 1024 ** 3;
const VOLUME_READY_MS = 10 * 60_000;

type PreparedVolume = Omit<Volume, 'id' | 'createdAt'>;

/** Whole GiB a disk needs (Cinder sizes volumes in GiB). */
export function gibFor(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / GiB));
}

/** The host's sync volumes in the project, by their tags (never by name alone). */
export async function findSyncVolumes(ctx: OpenStackContext, hostId: string, signal?: AbortSignal): Promise<CinderVolume[]> {
  const listed = await ctx.client.cinder.listVolumesWithMetadata({ rehost_host: hostId, rehost_role: 'sync' }, signal);
  // some clouds ignore the filter, so the tags are checked here again
  return listed.filter((v) => isRehostOwned(v.metadata, hostId, 'sync') && v.status !== 'deleting');
}

/**
 * Refuses before anything is created when the project's quota or the backend pools cannot take
 * `need` (capacity.ts), naming every shortage at once.
 */
export async function checkRoom(ctx: OpenStackContext, host: Host, need: RoomNeed, volumeType: string | null, signal: AbortSignal): Promise<void> {
  const short = await findShortage(ctx.client, need, volumeType, signal, ctx.log);
  if (short.length > 0) throw quotaError(ctx, host, short.join('; '));
}

function quotaError(ctx: OpenStackContext, host: Host, detail: string): RehostError {
  return new RehostError(
    'UNPROCESSABLE',
    `the Cinder quota or capacity of project ${ctx.config.projectName} is too small for host ${host.name}'s disks (${detail}); raise the quota or free volumes, then retry the sync`,
    { field: 'quotas', hostId: host.id },
  );
}

/** Quota lines as `GET /targets/:id/resources?kind=quotas` lists them. */
export function quotaLines(service: 'volume' | 'compute', quotas: VolumeQuotas | Record<string, unknown>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const [resource, line] of Object.entries(quotas)) {
    if (line === null || typeof line !== 'object') continue;
    const { limit, in_use: inUse, reserved = 0 } = line as { limit: number; in_use: number; reserved?: number };
    if (typeof limit !== 'number' || typeof inUse !== 'number') continue;
    out.push({ id: `${service}.${resource}`, name: resource, service, limit, in_use: inUse, reserved, free: limit < 0 ? -1 : Math.max(0, limit - inUse - reserved) });
  }
  return out;
}

/**
 * Makes sure every disk has its volume (created, or found from an earlier attempt, and grown when
 * the disk grew), attached to the gateway. Quota is checked for what is missing before anything
 * (the gateway included) is created.
 */
export async function prepareSyncVolumes(
  ctx: OpenStackContext,
  host: Host,
  gateway: () => Promise<string>,
  volumeType: string | null,
  signal: AbortSignal,
): Promise<PreparedVolume[]> {
  const { cinder } = ctx.client;
  const existing = await findSyncVolumes(ctx, host.id, signal);
  const byDisk = new Map<number, CinderVolume>();
  for (const v of existing) {
    if (v.status.startsWith('error')) {
      ctx.log.warn({ host: host.id, volume: v.id, status: v.status }, 'a sync volume in error is replaced');
      await cinder.deleteVolume(v.id, { signal }).catch(() => undefined);
      continue;
    }
    byDisk.set(Number(v.metadata[META_DISK]), v);
  }
  const missing = host.disks.filter((d) => !byDisk.has(d.index));
  const grow = host.disks.filter((d) => byDisk.has(d.index) && byDisk.get(d.index)!.size < gibFor(d.sizeBytes));
  const needGiB = missing.reduce((n, d) => n + gibFor(d.sizeBytes), 0) + grow.reduce((n, d) => n + gibFor(d.sizeBytes) - byDisk.get(d.index)!.size, 0);
  const largestGiB = Math.max(0, ...[...missing, ...grow].map((d) => gibFor(d.sizeBytes)));
  await checkRoom(ctx, host, { volumes: missing.length, gib: needGiB, largestGiB }, volumeType, signal);
  // the gateway comes after the quota check: a host that cannot fit creates nothing at all
  const gatewayId = await gateway();

  const names = syncVolumeNames(host);
  for (const disk of missing) byDisk.set(disk.index, await createSyncVolume(ctx, host, disk, names.get(disk.index)!, volumeType, signal));
  for (const disk of grow) {
    const v = byDisk.get(disk.index)!;
    await cinder.volumeAction(v.id, { 'os-extend': { new_size: gibFor(disk.sizeBytes) } }, signal);
  }
  const out: PreparedVolume[] = [];
  for (const disk of host.disks) {
    let v = byDisk.get(disk.index)!;
    v = await settle(ctx, v.id, signal);
    if (v.size < gibFor(disk.sizeBytes)) v = await waitSize(ctx, v.id, gibFor(disk.sizeBytes), signal);
    await attach(ctx, v, gatewayId, signal);
    out.push({
      hostId: host.id,
      targetId: host.targetId ?? '',
      diskIndex: disk.index,
      name: v.name ?? names.get(disk.index)!,
      sizeBytes: v.size * GiB,
      status: 'in-use',
      ref: v.id,
    });
  }
  return out;
}

async function createSyncVolume(ctx: OpenStackContext, host: Host, disk: Host['disks'][number], name: string, volumeType: string | null, signal: AbortSignal): Promise<CinderVolume> {
  const volume = {
    size: gibFor(disk.sizeBytes),
    name,
    description: `Rehost sync volume: host ${host.name}, disk ${disk.index} (${disk.name})`,
    ...(volumeType !== null ? { volume_type: volumeType } : {}),
    ...(ctx.config.volumeAvailabilityZone !== null ? { availability_zone: ctx.config.volumeAvailabilityZone } : {}),
    metadata: rehostMetadata(host.id, 'sync', { [META_DISK]: String(disk.index) }),
  };
  return createVolumeChecked(ctx.client, volume, ctx.config.projectName, signal, { hostId: host.id });
}

/** Waits until the volume leaves its transitional states (creating, attaching, extending …). */
async function settle(ctx: OpenStackContext, id: string, signal: AbortSignal): Promise<CinderVolume> {
  const { cinder } = ctx.client;
  const deadline = Date.now() + VOLUME_READY_MS;
  for (;;) {
    const v = await cinder.getVolume(id, signal);
    if (v.status === 'available' || v.status === 'in-use') return v;
    if (v.status.startsWith('error')) throw new RehostError('DRIVER', `Cinder volume ${v.name ?? id} went to ${v.status}`);
    if (Date.now() > deadline) throw new RehostError('DRIVER', `Cinder volume ${v.name ?? id} is still ${v.status} after ${VOLUME_READY_MS / 60_000} minutes`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function waitSize(ctx: OpenStackContext, id: string, gib: number, signal: AbortSignal): Promise<CinderVolume> {
  for (let i = 0; i < 600; i++) {
    const v = await settle(ctx, id, signal);
    if (v.size >= gib) return v;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new RehostError('DRIVER', `Cinder volume ${id} did not grow to ${gib} GiB`);
}

/** Attaches through Nova (the hypervisor then shows the disk inside the gateway); idempotent. */
async function attach(ctx: OpenStackContext, v: CinderVolume, gatewayId: string, signal: AbortSignal): Promise<void> {
  if (v.attachments.some((a) => a.server_id === gatewayId)) return;
  if (v.attachments.length > 0) {
    throw new RehostError('CONFLICT', `sync volume ${v.name ?? v.id} is attached to instance ${v.attachments[0]!.server_id}, not to the gateway ${gatewayId}; detach it there first`);
  }
  await ctx.client.nova.attachVolume(gatewayId, v.id, signal);
  await ctx.client.cinder.waitVolume(v.id, 'in-use', { timeoutMs: VOLUME_READY_MS, intervalMs: 1000, signal });
}

/** What the cloud says about the attachment to the gateway, to find the device inside it. */
export async function deviceHint(ctx: OpenStackContext, volumeId: string, gatewayId: string, signal: AbortSignal): Promise<DeviceHint> {
  const v = await ctx.client.cinder.getVolume(volumeId, signal);
  const att = v.attachments.find((a) => a.server_id === gatewayId);
  if (att === undefined) throw new RehostError('CONFLICT', `sync volume ${v.name ?? volumeId} is not attached to the gateway; run the sync again to re-attach it`);
  const info = await ctx.client.cinder
    .getAttachment(att.attachment_id, signal)
    .then((a) => a.connection_info ?? {})
    .catch(() => ({}) as Record<string, unknown>);
  const data = (typeof info.data === 'object' && info.data !== null ? info.data : info) as Record<string, unknown>;
  const str = (k: string) => (typeof data[k] === 'string' && data[k] !== '' ? (data[k] as string) : null);
  return { path: str('device_path'), wwn: str('wwn') ?? str('scsi_wwn') ?? str('target_wwn') };
}

/** Detaches a volume from every instance, then deletes it and waits until it is gone. */
export async function removeVolume(ctx: OpenStackContext, v: CinderVolume, signal: AbortSignal): Promise<void> {
  const { nova, cinder } = ctx.client;
  for (const a of v.attachments) {
    await nova.detachVolume(a.server_id, v.id, signal).catch((err: unknown) => {
      if (!OpenStackError.isOpenStack(err, 404)) throw err;
    });
  }
  if (v.attachments.length > 0) await cinder.waitVolume(v.id, 'available', { timeoutMs: VOLUME_READY_MS, intervalMs: 1000, signal });
  try {
    await cinder.deleteVolume(v.id, { signal });
  } catch (err) {
    if (OpenStackError.isOpenStack(err, 404)) return;
    throw err;
  }
  await waitGone(() => cinder.getVolume(v.id, signal), `volume ${v.name ?? v.id}`, signal);
}

/** Polls `get` until it answers 404. */
export async function waitGone(get: () => Promise<{ status: string }>, what: string, signal: AbortSignal, timeoutMs = VOLUME_READY_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal.throwIfAborted();
    try {
      const r = await get();
      if (r.status.startsWith('error')) throw new RehostError('DRIVER', `${what} went to ${r.status} while being deleted`);
    } catch (err) {
      if (OpenStackError.isOpenStack(err, 404)) return;
      throw err;
    }
    if (Date.now() > deadline) throw new RehostError('DRIVER', `${what} is still not deleted after ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
