/**
 * Removes what boots of one host left in the cloud, found by Rehost's tags only: servers and
 * volumes (metadata `rehost_host` + role `boot`), backups (same metadata), ports and floating IPs
 * (description `rehost:<host id>`), and pending volume transfers of those volumes. Nothing else
 * is touched. Scope `test-boots` keeps a cutover's migrated server with its volumes, port and
 * floating IP (the customer's result); `all` removes them too.
 *
 * An admin service user sees every project (`all_tenants`), which reaches machines booted in
 * users' projects; otherwise only the given clients' projects are searched.
 */
import { RehostError } from '../../../src-shared/errors.js';
import { OpenStackError, type OpenStackClient } from './client/index.js';
import type { Backup, Volume as CinderVolume, VolumeTransfer } from './client/cinder.js';
import type { FloatingIp, Port } from './client/neutron.js';
import type { Server } from './client/nova.js';
import { isRehostOwned, neutronDescription, type OpenStackContext } from './context.js';
import { isMigratedServer } from './conflicts.js';
import { waitGone } from './volumes.js';

export type CleanupScope = 'test-boots' | 'all';

export interface RemovedCounts {
  servers: number;
  ports: number;
  floatingIps: number;
  volumes: number;
  backups: number;
  transfers: number;
}

const WAIT_MS = 300_000;
type Meta = { metadata?: Record<string, string> | null };
const metaOf = (x: object): Record<string, string> | undefined => (x as Meta).metadata ?? undefined;
const descOf = (x: object): string | undefined => (x as { description?: string }).description;

interface Found {
  client: OpenStackClient;
  servers: Server[];
  ports: Port[];
  floatingIps: FloatingIp[];
  volumes: CinderVolume[];
  backups: Backup[];
  transfers: VolumeTransfer[];
}

/** Lists what is tagged for `hostId`, as `client` sees it (every project when `everywhere`). */
async function find(client: OpenStackClient, hostId: string, everywhere: boolean, signal: AbortSignal): Promise<Found> {
  const all = everywhere ? { all_tenants: '1' } : {};
  await client.cinder.ready(signal);
  const desc = neutronDescription(hostId);
  const [servers, ports, floatingIps, volumes, backups, transfers] = await Promise.all([
    client.nova.listServers(all, signal),
    client.neutron.listPorts({ description: desc }, signal),
    client.neutron.listFloatingIps({ description: desc }, signal),
    client.cinder.listVolumes(all, signal),
    client.cinder.http.request<{ backups: Backup[] }>('GET', '/backups/detail', { query: all, signal }).then((r) => r.backups),
    client.cinder.listTransfers(all, signal).catch(() => [] as VolumeTransfer[]),
  ]);
  const ownedVolumes = volumes.filter((v) => isRehostOwned(v.metadata, hostId, 'boot'));
  const volumeIds = new Set(ownedVolumes.map((v) => v.id));
  return {
    client,
    servers: servers.filter((s) => isRehostOwned(metaOf(s), hostId, 'boot')),
    ports: ports.filter((p) => descOf(p) === desc),
    floatingIps: floatingIps.filter((f) => descOf(f) === desc),
    volumes: ownedVolumes,
    backups: backups.filter((b) => isRehostOwned(metaOf(b), hostId, 'boot') || descOf(b) === desc),
    transfers: transfers.filter((t) => volumeIds.has(t.volume_id)),
  };
}

/** Runs `fn`, treating "already gone" (404) as done; other failures are collected. */
async function gone(failures: string[], what: string, fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    if (OpenStackError.isOpenStack(err, 404)) return false;
    failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    return false;
  }
}

/**
 * Deletes the host's boot resources. `extra` are clients of boot projects the service user may
 * not see. Failures do not stop the rest; they are thrown together at the end unless `force`.
 */
export async function removeBootResources(ctx: OpenStackContext, hostId: string, scope: CleanupScope, force: boolean, signal: AbortSignal, extra: OpenStackClient[] = []): Promise<RemovedCounts> {
  const admin = (await ctx.client.keystone.info(signal)).roles.includes('admin');
  const views = [await find(ctx.client, hostId, admin, signal)];
  for (const client of extra) if (client !== ctx.client) views.push(await find(client, hostId, false, signal));
  const counts: RemovedCounts = { servers: 0, ports: 0, floatingIps: 0, volumes: 0, backups: 0, transfers: 0 };
  const failures: string[] = [];
  const done = new Set<string>();
  const once = (id: string) => !done.has(id) && (done.add(id), true);
  const kept = new Set<string>();
  for (const v of views) for (const s of v.servers) if (scope === 'test-boots' && isMigratedServer(s, hostId)) kept.add(s.id);
  const keptPorts = new Set(views.flatMap((v) => v.ports.filter((p) => kept.has(p.device_id)).map((p) => p.id)));

  for (const v of views) {
    for (const s of v.servers.filter((s) => !kept.has(s.id) && once(s.id))) {
      if (await gone(failures, `server ${s.id}`, () => v.client.nova.deleteServer(s.id, signal))) counts.servers++;
    }
  }
  for (const v of views) for (const s of v.servers.filter((s) => !kept.has(s.id))) await gone(failures, `server ${s.id}`, () => v.client.nova.waitServerGone(s.id, { timeoutMs: WAIT_MS, signal }));
  for (const v of views) {
    for (const f of v.floatingIps.filter((f) => !(f.port_id !== null && keptPorts.has(f.port_id)) && once(f.id))) {
      if (await gone(failures, `floating IP ${f.floating_ip_address}`, () => v.client.neutron.deleteFloatingIp(f.id, signal))) counts.floatingIps++;
    }
    for (const p of v.ports.filter((p) => !keptPorts.has(p.id) && once(p.id))) {
      if (await gone(failures, `port ${p.id}`, () => v.client.neutron.deletePort(p.id, signal))) counts.ports++;
    }
  }
  const keptVolume = (vol: CinderVolume) => vol.attachments.some((a) => kept.has(a.server_id));
  for (const v of views) {
    for (const t of v.transfers.filter((t) => once(t.id))) {
      if (await gone(failures, `volume transfer ${t.id}`, () => v.client.cinder.deleteTransfer(t.id, signal))) counts.transfers++;
    }
    for (const vol of v.volumes.filter((x) => !keptVolume(x) && once(x.id))) {
      const removed = await gone(failures, `volume ${vol.name ?? vol.id}`, async () => {
        // a just-deleted server detaches its volumes asynchronously; a transfer just withdrawn frees it
        await waitSettled(v.client, vol.id, signal);
        await v.client.cinder.deleteVolume(vol.id, { cascade: true, signal });
        // done means gone: a volume stuck in error_deleting is a failure to report, not a success
        await waitGone(() => v.client.cinder.getVolume(vol.id, signal), `volume ${vol.name ?? vol.id}`, signal, WAIT_MS);
      });
      if (removed) counts.volumes++;
    }
    for (const b of v.backups.filter((b) => once(b.id))) {
      if (await gone(failures, `backup ${b.id}`, async () => {
        await v.client.cinder.waitBackup(b.id, 'available', { timeoutMs: WAIT_MS, signal }).catch(() => undefined);
        await v.client.cinder.deleteBackup(b.id, signal);
      })) counts.backups++;
    }
  }
  if (!admin && extra.length === 0) ctx.log.info({ host: hostId }, 'the service user is not admin: boot resources in other projects were not searched');
  if (failures.length > 0) {
    const message = `cleanup of the host's boot resources left ${failures.length} item(s): ${failures.join('; ')}`;
    if (!force) throw new RehostError('DRIVER', message, { hostId });
    ctx.log.warn({ host: hostId, failures }, 'cleanup (force) went on past failures');
  }
  return counts;
}

/** Waits until the volume is in a state it can be deleted from (not attaching/detaching/in-use). */
async function waitSettled(client: OpenStackClient, id: string, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await client.cinder.getVolume(id, signal);
    if (v.status === 'available' || v.status.startsWith('error') || v.attachments.length === 0 && !/ing$|in-use|awaiting/.test(v.status)) return;
    if (Date.now() > deadline) throw new RehostError('DRIVER', `volume ${v.name ?? id} is still ${v.status}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
