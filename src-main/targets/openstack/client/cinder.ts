/**
 * Cinder v3 (catalog type `volumev3`): volumes, attachments (the 3.27+ attachments API),
 * snapshots, backups, volume types, absolute limits and quotas. Field names stay as the API
 * spells them (STYLE rule 12: wire names verbatim).
 */
import type { Keystone } from './keystone.js';
import { OpenStackError } from './errors.js';
import { ServiceHttp } from './http.js';
import { compareMicroversions, negotiate } from './microversion.js';
import { pollUntil, type PollOptions } from './poll.js';

export interface Volume {
  id: string;
  name: string | null;
  status: string;
  size: number;
  volume_type: string | null;
  availability_zone: string;
  bootable: string;
  snapshot_id: string | null;
  source_volid: string | null;
  attachments: { id: string; attachment_id: string; server_id: string; device: string; host_name?: string | null }[];
  metadata: Record<string, string>;
  created_at: string;
  /** `host@backend#pool` where the volume lives (shown to admins only). */
  'os-vol-host-attr:host'?: string | null;
  /** Image properties of the volume (`os-set_image_metadata`); Nova reads them for a boot volume. */
  volume_image_metadata?: Record<string, string>;
}

export interface VolumeCreate {
  size: number;
  name?: string;
  description?: string;
  volume_type?: string;
  availability_zone?: string;
  snapshot_id?: string;
  source_volid?: string;
  imageRef?: string;
  backup_id?: string;
  metadata?: Record<string, string>;
}

export interface Snapshot {
  id: string;
  name: string | null;
  status: string;
  size: number;
  volume_id: string;
  created_at: string;
  metadata?: Record<string, string>;
}

/** A scheduler pool (`/scheduler-stats/get_pools?detail=true`); capacities may be "infinite"/"unknown". */
export interface BackendPool {
  name: string;
  capabilities?: {
    pool_name?: string;
    volume_backend_name?: string;
    storage_protocol?: string;
    total_capacity_gb?: number | string;
    free_capacity_gb?: number | string;
    allocated_capacity_gb?: number | string;
    [key: string]: unknown;
  };
}

export interface Backup {
  id: string;
  name: string | null;
  status: string;
  size: number;
  volume_id: string;
  is_incremental: boolean;
  fail_reason?: string | null;
}

export interface Attachment {
  id: string;
  status: string;
  volume_id: string;
  instance: string | null;
  attach_mode: string;
  /** Connection info once a connector was given (for file-backed volumes: the path). */
  connection_info: Record<string, unknown> | null;
}

export interface VolumeType {
  id: string;
  name: string;
  is_public: boolean;
  extra_specs?: Record<string, string>;
}

/** A quota line with usage (`?usage=true`): `limit` -1 is unlimited. */
export interface QuotaUsage {
  limit: number;
  in_use: number;
  reserved: number;
  allocated?: number;
}

export type VolumeQuotas = Record<string, QuotaUsage | string>;

export interface AbsoluteLimits {
  maxTotalVolumes: number;
  maxTotalVolumeGigabytes: number;
  maxTotalSnapshots: number;
  maxTotalBackups: number;
  totalVolumesUsed: number;
  totalGigabytesUsed: number;
  totalSnapshotsUsed: number;
  totalBackupsUsed: number;
  [key: string]: number;
}

/** A volume transfer (hand-over of a volume to another project); `auth_key` only in the create answer. */
export interface VolumeTransfer {
  id: string;
  name: string | null;
  volume_id: string;
  created_at?: string;
  auth_key?: string;
  /** 3.57+: the projects on both sides, and whether it was accepted. */
  source_project_id?: string;
  destination_project_id?: string | null;
  accepted?: boolean;
}

/** Microversion from which `/volume-transfers` (with `no_snapshots`) replaces `/os-volume-transfer`. */
export const TRANSFERS_MICROVERSION = '3.55';

/** Statuses after which a volume, snapshot or backup will not move on by itself. */
const FAILED = /^error/;

export class Cinder {
  readonly http: ServiceHttp;
  private negotiated: Promise<string> | null = null;
  /** False once Cinder refused the `metadata` filter (its resource-filter policy for members). */
  private metadataFilter = true;

  constructor(private readonly keystone: Keystone) {
    this.http = new ServiceHttp('volumev3', () => keystone.endpoint('volumev3'), keystone);
  }

  /** Negotiates the microversion once (3.27 needed for attachments; written for 3.60). */
  ready(signal?: AbortSignal): Promise<string> {
    this.negotiated ??= negotiate(this.http, { headerName: 'volume', versionId: 'v3.0', preferred: '3.60', minimum: '3.27' }, signal).catch((err: unknown) => {
      this.negotiated = null;
      throw err;
    });
    return this.negotiated;
  }

  private async call<T>(method: string, path: string, options: Parameters<ServiceHttp['request']>[2] = {}): Promise<T> {
    await this.ready(options.signal);
    return this.http.request<T>(method, path, options);
  }

  // ---- volumes
  async listVolumes(query: Record<string, string | number | undefined> = {}, signal?: AbortSignal): Promise<Volume[]> {
    return (await this.call<{ volumes: Volume[] }>('GET', '/volumes/detail', { query, signal })).volumes;
  }

  /**
   * Volumes whose metadata holds every pair of `metadata`: filtered by Cinder where its policy
   * lets the user (admins; members only when the cloud allows it), else listed and filtered here.
   */
  async listVolumesWithMetadata(metadata: Record<string, string>, signal?: AbortSignal): Promise<Volume[]> {
    const holds = (v: Volume) => Object.entries(metadata).every(([k, value]) => v.metadata?.[k] === value);
    if (this.metadataFilter) {
      try {
        return (await this.listVolumes({ metadata: JSON.stringify(metadata) }, signal)).filter(holds);
      } catch (err) {
        if (!OpenStackError.isOpenStack(err, 400) || !/filter/i.test(err.fault)) throw err;
        this.metadataFilter = false;
      }
    }
    return (await this.listVolumes({}, signal)).filter(holds);
  }

  async getVolume(id: string, signal?: AbortSignal): Promise<Volume> {
    return (await this.call<{ volume: Volume }>('GET', `/volumes/${encodeURIComponent(id)}`, { signal })).volume;
  }

  async createVolume(volume: VolumeCreate, signal?: AbortSignal): Promise<Volume> {
    return (await this.call<{ volume: Volume }>('POST', '/volumes', { body: { volume }, signal })).volume;
  }

  async deleteVolume(id: string, options: { cascade?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    await this.call('DELETE', `/volumes/${encodeURIComponent(id)}`, { query: { cascade: options.cascade }, signal: options.signal });
  }

  /** Adds or replaces the given metadata keys of a volume (others stay). */
  async updateVolumeMetadata(id: string, metadata: Record<string, string>, signal?: AbortSignal): Promise<Record<string, string>> {
    return (await this.call<{ metadata: Record<string, string> }>('POST', `/volumes/${encodeURIComponent(id)}/metadata`, { body: { metadata }, signal })).metadata;
  }

  /** Backend pools with capacity (admin only: others get 403). */
  async listPools(signal?: AbortSignal): Promise<BackendPool[]> {
    return (await this.call<{ pools: BackendPool[] }>('GET', '/scheduler-stats/get_pools', { query: { detail: true }, signal })).pools;
  }

  /** `POST /volumes/{id}/action` (`os-set_bootable`, `os-extend`, `os-volume_upload_image` …). */
  async volumeAction<T = unknown>(id: string, action: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    return this.call<T>('POST', `/volumes/${encodeURIComponent(id)}/action`, { body: action, signal });
  }

  /** Polls until the volume reaches `status`; an `error*` status fails at once. */
  waitVolume(id: string, status: string, options: PollOptions = {}): Promise<Volume> {
    return pollUntil(`volume ${id}`, () => this.getVolume(id, options.signal), (v) => v.status === status, (v) => (FAILED.test(v.status) ? v.status : null), options);
  }

  // ---- attachments (3.27+)
  async createAttachment(volumeId: string, instanceUuid: string | null, connector?: Record<string, unknown>, signal?: AbortSignal): Promise<Attachment> {
    const attachment = { volume_uuid: volumeId, instance_uuid: instanceUuid ?? undefined, connector, mode: 'rw' };
    return (await this.call<{ attachment: Attachment }>('POST', '/attachments', { body: { attachment }, signal })).attachment;
  }

  async getAttachment(id: string, signal?: AbortSignal): Promise<Attachment> {
    return (await this.call<{ attachment: Attachment }>('GET', `/attachments/${encodeURIComponent(id)}`, { signal })).attachment;
  }

  async listAttachments(query: Record<string, string | undefined> = {}, signal?: AbortSignal): Promise<Attachment[]> {
    return (await this.call<{ attachments: Attachment[] }>('GET', '/attachments/detail', { query, signal })).attachments;
  }

  /** Marks the attachment complete (3.44+): the volume turns `in-use`. */
  async completeAttachment(id: string, signal?: AbortSignal): Promise<void> {
    await this.call('POST', `/attachments/${encodeURIComponent(id)}/action`, { body: { 'os-complete': null }, signal });
  }

  async deleteAttachment(id: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', `/attachments/${encodeURIComponent(id)}`, { signal });
  }

  // ---- snapshots
  async createSnapshot(volumeId: string, name: string, options: { force?: boolean; description?: string; metadata?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Snapshot> {
    const snapshot = { volume_id: volumeId, name, force: options.force ?? false, description: options.description, metadata: options.metadata };
    return (await this.call<{ snapshot: Snapshot }>('POST', '/snapshots', { body: { snapshot }, signal: options.signal })).snapshot;
  }

  async getSnapshot(id: string, signal?: AbortSignal): Promise<Snapshot> {
    return (await this.call<{ snapshot: Snapshot }>('GET', `/snapshots/${encodeURIComponent(id)}`, { signal })).snapshot;
  }

  async listSnapshots(query: Record<string, string | undefined> = {}, signal?: AbortSignal): Promise<Snapshot[]> {
    return (await this.call<{ snapshots: Snapshot[] }>('GET', '/snapshots/detail', { query, signal })).snapshots;
  }

  async deleteSnapshot(id: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', `/snapshots/${encodeURIComponent(id)}`, { signal });
  }

  waitSnapshot(id: string, status: string, options: PollOptions = {}): Promise<Snapshot> {
    return pollUntil(`snapshot ${id}`, () => this.getSnapshot(id, options.signal), (s) => s.status === status, (s) => (FAILED.test(s.status) ? s.status : null), options);
  }

  // ---- backups
  async createBackup(volumeId: string, name: string, options: { incremental?: boolean; force?: boolean; snapshot_id?: string; signal?: AbortSignal } = {}): Promise<Backup> {
    const backup = { volume_id: volumeId, name, incremental: options.incremental ?? false, force: options.force ?? false, snapshot_id: options.snapshot_id };
    return (await this.call<{ backup: Backup }>('POST', '/backups', { body: { backup }, signal: options.signal })).backup;
  }

  async getBackup(id: string, signal?: AbortSignal): Promise<Backup> {
    return (await this.call<{ backup: Backup }>('GET', `/backups/${encodeURIComponent(id)}`, { signal })).backup;
  }

  async listBackups(signal?: AbortSignal): Promise<Backup[]> {
    return (await this.call<{ backups: Backup[] }>('GET', '/backups/detail', { signal })).backups;
  }

  /** Restores into a new volume (or `volumeId`); answers the target volume's id. */
  async restoreBackup(id: string, options: { volumeId?: string; name?: string; signal?: AbortSignal } = {}): Promise<string> {
    const restore = { volume_id: options.volumeId, name: options.name };
    const res = await this.call<{ restore: { volume_id: string } }>('POST', `/backups/${encodeURIComponent(id)}/restore`, { body: { restore }, signal: options.signal });
    return res.restore.volume_id;
  }

  async deleteBackup(id: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', `/backups/${encodeURIComponent(id)}`, { signal });
  }

  waitBackup(id: string, status: string, options: PollOptions = {}): Promise<Backup> {
    return pollUntil(`backup ${id}`, () => this.getBackup(id, options.signal), (b) => b.status === status, (b) => (FAILED.test(b.status) ? `${b.status}${b.fail_reason ? `: ${b.fail_reason}` : ''}` : null), options);
  }

  // ---- volume transfers (another project takes over a volume: the shared-gateway boot)
  /** `/volume-transfers` at 3.55+, else the older `/os-volume-transfer` with the same bodies. */
  private async transfersPath(signal?: AbortSignal): Promise<string> {
    return compareMicroversions(await this.ready(signal), TRANSFERS_MICROVERSION) >= 0 ? '/volume-transfers' : '/os-volume-transfer';
  }

  /**
   * Offers `volumeId` (status `available`) for transfer; the volume turns `awaiting-transfer`.
   * The answer's `auth_key` is the one secret the accepting project needs: keep it in memory only.
   * `no_snapshots` (3.55+) lets a volume with snapshots go without them.
   */
  async createTransfer(volumeId: string, name: string, options: { noSnapshots?: boolean; signal?: AbortSignal } = {}): Promise<VolumeTransfer & { auth_key: string }> {
    const path = await this.transfersPath(options.signal);
    const transfer = { volume_id: volumeId, name, no_snapshots: path === '/volume-transfers' ? (options.noSnapshots ?? false) : undefined };
    return (await this.call<{ transfer: VolumeTransfer & { auth_key: string } }>('POST', path, { body: { transfer }, signal: options.signal })).transfer;
  }

  /** Accepts a transfer (called by a user of the receiving project): the volume moves to that project. */
  async acceptTransfer(id: string, authKey: string, signal?: AbortSignal): Promise<VolumeTransfer> {
    const path = await this.transfersPath(signal);
    return (await this.call<{ transfer: VolumeTransfer }>('POST', `${path}/${encodeURIComponent(id)}/accept`, { body: { accept: { auth_key: authKey } }, signal })).transfer;
  }

  /** Withdraws a transfer not yet accepted; the volume returns to `available`. */
  async deleteTransfer(id: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', `${await this.transfersPath(signal)}/${encodeURIComponent(id)}`, { signal });
  }

  /** Pending transfers of the token's project (admin: `all_tenants: 1` for every project). */
  async listTransfers(query: Record<string, string | number | undefined> = {}, signal?: AbortSignal): Promise<VolumeTransfer[]> {
    return (await this.call<{ transfers: VolumeTransfer[] }>('GET', `${await this.transfersPath(signal)}/detail`, { query, signal })).transfers;
  }

  // ---- types, limits, quotas
  async listVolumeTypes(signal?: AbortSignal): Promise<VolumeType[]> {
    return (await this.call<{ volume_types: VolumeType[] }>('GET', '/types', { signal })).volume_types;
  }

  /** The type a volume gets when none is named (3.62+ per project, else the cloud's default). */
  async defaultVolumeType(signal?: AbortSignal): Promise<VolumeType> {
    return (await this.call<{ volume_type: VolumeType }>('GET', '/types/default', { signal })).volume_type;
  }

  async limits(signal?: AbortSignal): Promise<AbsoluteLimits> {
    return (await this.call<{ limits: { absolute: AbsoluteLimits } }>('GET', '/limits', { signal })).limits.absolute;
  }

  /** Quotas of `projectId` (default: the token's project) with usage. */
  async quotas(projectId?: string, signal?: AbortSignal): Promise<VolumeQuotas> {
    const id = projectId ?? (await this.keystone.info(signal)).projectId;
    return (await this.call<{ quota_set: VolumeQuotas }>('GET', `/os-quota-sets/${encodeURIComponent(id)}`, { query: { usage: true }, signal })).quota_set;
  }

  /** Sets quotas of `projectId` (admin only); answers the new limits. */
  async setQuotas(projectId: string, quotas: Record<string, number>, signal?: AbortSignal): Promise<Record<string, number | string>> {
    return (await this.call<{ quota_set: Record<string, number | string> }>('PUT', `/os-quota-sets/${encodeURIComponent(projectId)}`, { body: { quota_set: quotas }, signal })).quota_set;
  }
}
