/**
 * What the OpenStack target lists (`GET /targets/:id/resources?kind=…`) and its inventory
 * (storage, pools, capacity). Field names stay the API's (STYLE rule 12), plus `id`/`name` on
 * every row so the UI can show any list the same way.
 */
import { RehostError } from '../../../src-shared/errors.js';
import { RESOURCE_KINDS, type ResourceKind } from '../../../src-shared/states.js';
import type { StoragePoolInfo, TargetInventory, TargetVolumeState } from '../../core/drivers.js';
import { OpenStackError } from './client/index.js';
import { isRehostOwned, type OpenStackContext } from './context.js';
import { GiB, quotaLines } from './volumes.js';

/** OpenStack answers every resource kind of the API. */
export const RESOURCES = RESOURCE_KINDS;

type Row = Record<string, unknown>;

/**
 * An admin token sees every project's networks, groups and floating IPs: keep the project's own
 * and the ones shared with it (shared or external networks), as a member would see them.
 */
async function visibleNetworks(ctx: OpenStackContext, signal: AbortSignal) {
  const projectId = await ctx.volumeProjectId();
  return (await ctx.client.neutron.listNetworks({}, signal)).filter((n) => n.project_id === projectId || n.shared || n['router:external']);
}

export async function listResources(ctx: OpenStackContext, kind: ResourceKind, signal: AbortSignal): Promise<Row[]> {
  const { nova, neutron, cinder } = ctx.client;
  const own = <T extends { project_id: string }>(rows: T[], projectId: string) => rows.filter((r) => r.project_id === projectId);
  switch (kind) {
    case 'flavors':
      return (await nova.listFlavors(signal)).map((f) => ({ id: f.id, name: f.name, vcpus: f.vcpus, ram: f.ram, disk: f.disk, is_public: f['os-flavor-access:is_public'] ?? true }));
    case 'networks':
      return (await visibleNetworks(ctx, signal)).map((n) => ({ id: n.id, name: n.name, status: n.status, shared: n.shared, 'router:external': n['router:external'], subnets: n.subnets, project_id: n.project_id }));
    case 'subnets': {
      const networks = new Set((await visibleNetworks(ctx, signal)).map((n) => n.id));
      return (await neutron.listSubnets({}, signal)).filter((s) => networks.has(s.network_id)).map((s) => ({ ...s }));
    }
    case 'security_groups':
      return own(await neutron.listSecurityGroups({}, signal), await ctx.volumeProjectId()).map((g) => ({ id: g.id, name: g.name, description: g.description, project_id: g.project_id }));
    case 'keypairs':
      return (await nova.listKeypairs(signal)).map((k) => ({ id: k.name, name: k.name, type: k.type ?? 'ssh', fingerprint: k.fingerprint }));
    case 'floating_ips':
      return own(await neutron.listFloatingIps({}, signal), await ctx.volumeProjectId()).map((f) => ({
        id: f.id,
        name: f.floating_ip_address,
        floating_ip_address: f.floating_ip_address,
        floating_network_id: f.floating_network_id,
        status: f.status,
        port_id: f.port_id,
        fixed_ip_address: f.fixed_ip_address,
        available: f.port_id === null,
      }));
    case 'availability_zones':
      return (await nova.listAvailabilityZones(signal)).map((z) => ({ id: z.zoneName, name: z.zoneName, available: z.zoneState.available }));
    case 'volume_types':
      return (await cinder.listVolumeTypes(signal)).map((t) => ({ id: t.id, name: t.name, is_public: t.is_public, volume_backend_name: t.extra_specs?.volume_backend_name ?? null }));
    case 'projects':
      return projects(ctx, signal);
    case 'quotas':
      return quotas(ctx, signal);
    default:
      throw new RehostError('VALIDATION', `kind: OpenStack targets list ${RESOURCES.join(', ')}`, { field: 'kind' });
  }
}

/** Projects the user may pick for a custom-project boot: all of them for an admin, else the user's own. */
async function projects(ctx: OpenStackContext, signal: AbortSignal): Promise<Row[]> {
  const { keystone } = ctx.client;
  const info = await keystone.info(signal);
  let list: { id: string; name: string; domain_id: string; enabled: boolean }[];
  try {
    list = await keystone.projects(undefined, signal);
  } catch (err) {
    if (!OpenStackError.isOpenStack(err, 403)) throw err;
    list = (await keystone.http.request<{ projects: typeof list }>('GET', `/users/${encodeURIComponent(info.userId)}/projects`, { signal })).projects;
  }
  return list.map((p) => ({ id: p.id, name: p.name, domain_id: p.domain_id, enabled: p.enabled }));
}

/** Volume quotas (volumes, gigabytes, snapshots, backups, per type) and compute quotas, in use vs limit. */
async function quotas(ctx: OpenStackContext, signal: AbortSignal): Promise<Row[]> {
  const projectId = await ctx.volumeProjectId();
  const volume = quotaLines('volume', await ctx.client.cinder.quotas(projectId, signal));
  let compute: Row[] = [];
  try {
    const body = await ctx.client.nova.http.request<{ quota_set: Record<string, unknown> }>('GET', `/os-quota-sets/${encodeURIComponent(projectId)}/detail`, { signal });
    compute = quotaLines('compute', body.quota_set);
  } catch (err) {
    // a policy may hide compute quotas from members; the volume ones are what a sync needs
    ctx.log.debug({ err: String(err) }, 'compute quotas not readable');
  }
  return [...volume, ...compute];
}

/** Bytes of a Cinder capacity in GiB, or -1 when it is not a number ("infinite", "unknown"). */
function gib(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(value);
  return typeof value !== 'boolean' && value !== null && value !== '' && Number.isFinite(n) && n >= 0 ? n * GiB : -1;
}

/**
 * Cinder's backend pools (scheduler stats, readable by an admin), each with its capacity; for a
 * member, who may not read them, the volume types stand in (capacity unknown).
 */
async function storagePools(ctx: OpenStackContext, signal: AbortSignal): Promise<StoragePoolInfo[]> {
  const { cinder } = ctx.client;
  try {
    return (await cinder.listPools(signal)).map((p) => {
      const c = p.capabilities ?? {};
      const total = gib(c.total_capacity_gb);
      const free = gib(c.free_capacity_gb);
      const used = total >= 0 && free >= 0 ? Math.max(0, total - free) : gib(c.allocated_capacity_gb);
      const status = c.backend_state === 'down' ? 'unavailable' : 'available';
      return { id: p.name, name: p.name, protocol: String(c.storage_protocol ?? 'unknown'), totalBytes: total, usedBytes: used, status };
    });
  } catch (err) {
    if (!OpenStackError.isOpenStack(err, 403) && !OpenStackError.isOpenStack(err, 404)) throw err;
    return (await cinder.listVolumeTypes(signal)).map((t) => ({ id: t.id, name: t.name, protocol: t.extra_specs?.storage_protocol ?? 'cinder', totalBytes: -1, usedBytes: -1, status: 'available' }));
  }
}

/** Rehost's sync volumes in the project as Cinder sees them now: status, attachment, pool. */
async function syncVolumeStates(ctx: OpenStackContext, signal: AbortSignal): Promise<TargetVolumeState[]> {
  const listed = await ctx.client.cinder.listVolumesWithMetadata({ rehost_role: 'sync' }, signal);
  return listed
    .filter((v) => isRehostOwned(v.metadata, undefined, 'sync'))
    .map((v) => ({ ref: v.id, status: v.status, attached: v.attachments.length > 0, pool: v['os-vol-host-attr:host'] ?? v.volume_type ?? null }));
}

/**
 * Storage for `GET /targets` and `GET /targets/:id`: the endpoint's host, Cinder's pools, the
 * live state of Rehost's volumes, and totals from the project's limits (pool sizes when the
 * quota is unlimited). Read-only.
 */
export async function inventory(ctx: OpenStackContext, signal: AbortSignal): Promise<TargetInventory> {
  const { cinder } = ctx.client;
  const [limits, pools, volumes] = await Promise.all([cinder.limits(signal), storagePools(ctx, signal), syncVolumeStates(ctx, signal)]);
  const quota = limits.maxTotalVolumeGigabytes;
  const totalBytes = quota >= 0 ? quota * GiB : pools.reduce((n, p) => n + Math.max(0, p.totalBytes), 0);
  const host = new URL(ctx.config.authUrl).hostname;
  return {
    displayName: `OpenStack_${host}`,
    address: host,
    totalBytes,
    usedBytes: Math.max(0, limits.totalGigabytesUsed) * GiB,
    pools,
    volumes,
    freeVolumes: limits.maxTotalVolumes < 0 ? null : Math.max(0, limits.maxTotalVolumes - limits.totalVolumesUsed),
  };
}
