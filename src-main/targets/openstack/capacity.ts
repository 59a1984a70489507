/**
 * Room in the cloud, checked before anything is created: the project's Cinder quota lines
 * (totals, the volume type's own lines, the per-volume limit, snapshots) and the free capacity of
 * the backend pools the volume type lands on (scheduler pools, readable by an admin only). When
 * Cinder still answers 413 (another client took the room meanwhile), the error names the quota.
 */
import { RehostError } from '../../../src-shared/errors.js';
import { OpenStackError, type OpenStackClient } from './client/index.js';
import type { BackendPool, VolumeCreate, Volume as CinderVolume } from './client/cinder.js';

/** What is about to be created in one project. */
export interface RoomNeed {
  volumes: number;
  /** GiB of all new (or grown) volumes together. */
  gib: number;
  /** The largest single volume (Cinder's per-volume limit, a pool's free space). */
  largestGiB: number;
  snapshots?: number;
  /** Cinder backups (a cutover's copy through backup and restore) and their GiB. */
  backups?: number;
  backupGiB?: number;
}

type QuotaSet = Record<string, { limit: number; in_use: number; reserved?: number } | string>;

/** The quota lines `need` does not fit in (empty when it fits). Pure. */
export function quotaShortage(quotas: QuotaSet, need: RoomNeed, volumeType: string | null): string[] {
  const short: string[] = [];
  const perVolume = quotas.per_volume_gigabytes;
  if (typeof perVolume === 'object' && perVolume.limit >= 0 && need.largestGiB > perVolume.limit) {
    short.push(`per_volume_gigabytes: a ${need.largestGiB} GiB volume is needed, at most ${perVolume.limit} GiB allowed`);
  }
  const check = (key: string, wanted: number, unit: string) => {
    const line = quotas[key];
    if (typeof line !== 'object' || line.limit < 0 || wanted === 0) return;
    const free = line.limit - line.in_use - (line.reserved ?? 0);
    if (wanted > free) short.push(`${key}: ${wanted}${unit} needed, ${Math.max(0, free)}${unit} of ${line.limit}${unit} free`);
  };
  const snapshots = need.snapshots ?? 0;
  check('volumes', need.volumes, '');
  check('gigabytes', need.gib, ' GiB');
  check('snapshots', snapshots, '');
  check('backups', need.backups ?? 0, '');
  check('backup_gigabytes', need.backupGiB ?? 0, ' GiB');
  if (volumeType !== null) {
    check(`volumes_${volumeType}`, need.volumes, '');
    check(`gigabytes_${volumeType}`, need.gib, ' GiB');
    check(`snapshots_${volumeType}`, snapshots, '');
  }
  return short;
}

/** Free GiB of a pool as the scheduler's capacity filter counts it, or null when the pool does not say. */
export function poolFreeGiB(pool: BackendPool): number | null {
  const c = pool.capabilities ?? {};
  if (c.backend_state === 'down') return 0;
  const total = Number(c.total_capacity_gb);
  const free = Number(c.free_capacity_gb);
  // "infinite" / "unknown" capacities: the backend does not limit, or does not tell
  if (!Number.isFinite(total) || !Number.isFinite(free)) return null;
  const reserved = (total * Number(c.reserved_percentage ?? 0)) / 100;
  const ratio = Number(c.max_over_subscription_ratio ?? 1);
  if (c.thin_provisioning_support === true && Number.isFinite(ratio) && ratio >= 1) {
    const provisioned = Number(c.provisioned_capacity_gb ?? c.allocated_capacity_gb ?? 0);
    return Math.max(0, Math.floor(Math.min(total * ratio - provisioned, (free - reserved) * ratio)));
  }
  return Math.max(0, Math.floor(free - reserved));
}

/**
 * Why the pools cannot take `need` (null when they can, or when they do not tell). Only pools
 * of `backendName` count when the volume type names one. Pure.
 */
export function poolShortage(pools: BackendPool[], backendName: string | null, need: Pick<RoomNeed, 'gib' | 'largestGiB'>): string | null {
  if (need.gib === 0) return null;
  const candidates = pools.filter((p) => backendName === null || p.capabilities?.volume_backend_name === backendName);
  if (candidates.length === 0) return backendName === null ? null : `no backend pool serves volume_backend_name ${backendName}`;
  const free = candidates.map((p) => ({ name: p.name, gib: poolFreeGiB(p) }));
  if (free.some((f) => f.gib === null)) return null;
  const best = free.reduce((a, b) => ((b.gib ?? 0) > (a.gib ?? 0) ? b : a));
  if (need.largestGiB > best.gib!) return `no backend pool has room for a ${need.largestGiB} GiB volume (most free: ${best.gib} GiB in pool ${best.name})`;
  const sum = free.reduce((n, f) => n + f.gib!, 0);
  if (need.gib > sum) return `the backend pools have ${sum} GiB free, ${need.gib} GiB needed`;
  return null;
}

/**
 * Every shortage for `need` in the project `client` acts in: quota lines, then pool capacity
 * (skipped when the user may not read pools). `volumeType` null = the project's default type.
 */
export async function findShortage(client: OpenStackClient, need: RoomNeed, volumeType: string | null, signal: AbortSignal, log?: { debug(o: object, m: string): void }): Promise<string[]> {
  if (need.volumes === 0 && need.gib === 0 && (need.snapshots ?? 0) === 0 && (need.backups ?? 0) === 0) return [];
  const { cinder } = client;
  const projectId = (await client.keystone.info(signal)).projectId;
  const type = volumeType ?? (await cinder.defaultVolumeType(signal).then((t) => t.name, () => null));
  const short = quotaShortage(await cinder.quotas(projectId, signal), need, type);
  try {
    const pools = await cinder.listPools(signal);
    const types = type === null ? [] : await cinder.listVolumeTypes(signal);
    const backend = types.find((t) => t.name === type)?.extra_specs?.volume_backend_name ?? null;
    const pool = poolShortage(pools, backend, need);
    if (pool !== null) short.push(pool);
  } catch (err) {
    // pools are an admin's view; a member relies on the quota and on Cinder's own scheduler
    if (!OpenStackError.isOpenStack(err, 403) && !OpenStackError.isOpenStack(err, 404)) throw err;
    log?.debug({ err: err.message }, 'backend pool capacity not readable: quota checked only');
  }
  return short;
}

/** The quota a Cinder 413 (or quota 403) fault names, e.g. `volumes`, `gigabytes`, `backup_gigabytes`. Pure. */
export function quotaNamed(fault: string): string | null {
  const quoted = /for quota '([\w-]+)'/.exec(fault);
  if (quoted) return quoted[1]!;
  if (/maximum allowed limit/i.test(fault)) return 'per_volume_gigabytes';
  const allowed = /allowed ([A-Za-z_ ]+?) quota/i.exec(fault);
  if (allowed) return allowed[1]!.trim().toLowerCase().replace(/\s+/g, '_');
  const count = /number of (\w+) allowed/i.exec(fault);
  return count ? count[1]!.toLowerCase() : null;
}

/** `err` as a clear "quota exceeded" error naming the quota and the project, when it is one. */
export function explainQuota(err: unknown, what: string, projectName: string, context: { hostId?: string } = {}): unknown {
  if (!OpenStackError.isOpenStack(err) || !err.quotaExceeded) return err;
  const quota = quotaNamed(err.fault);
  const named = quota === null ? 'a Cinder quota' : `the Cinder quota "${quota}"`;
  return new RehostError(
    'UNPROCESSABLE',
    `${what}: ${named} of project ${projectName} is exhausted (${err.fault || 'HTTP 413'}); raise it or free resources, then retry`,
    { field: 'quotas', ...context },
    { cause: err },
  );
}

/** Creates a volume; a 413 becomes the clear error naming the quota. */
export async function createVolumeChecked(client: OpenStackClient, volume: VolumeCreate, projectName: string, signal: AbortSignal, context: { hostId?: string } = {}): Promise<CinderVolume> {
  try {
    return await client.cinder.createVolume(volume, signal);
  } catch (err) {
    throw explainQuota(err, `creating volume ${volume.name ?? ''}`.trim(), projectName, context);
  }
}
