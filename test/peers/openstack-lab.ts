/**
 * What the OpenStack REST tests share on the real peer: throwaway projects and users (so runs
 * sharing the cloud never meet), a Glance image for gateways, a census of what Rehost may create,
 * and the REST steps of a migration (sync, boot) against a running `rehost serve`.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { OpenStackClient } from '../../src-main/targets/openstack/client/index.js';
import { waitFor, type Rehost } from '../harness.js';
import { OPENSTACK_LAB, type OpenStackPeer, type OpenStackUser } from './openstack.js';

export const VOLUME_FILES = join(OPENSTACK_LAB, 'state/cinder/volumes');
export const volumeFile = (id: string) => join(VOLUME_FILES, `volume-${id}`);

export type Undo = (() => Promise<unknown>)[];

export function clientOf(peer: OpenStackPeer, u: OpenStackUser): OpenStackClient {
  return new OpenStackClient({ authUrl: peer.authUrl, region: peer.region, ...u });
}

/** After a run: whatever is left in a throwaway project goes before the project does. */
export async function purge(os: OpenStackClient, project_id: string): Promise<void> {
  for (const server of await os.nova.listServers({ all_tenants: '1', project_id })) {
    await os.nova.deleteServer(server.id).catch(() => undefined);
    await os.nova.waitServerGone(server.id, { timeoutMs: 120_000 }).catch(() => undefined);
  }
  for (const f of await os.neutron.listFloatingIps({ project_id })) await os.neutron.deleteFloatingIp(f.id).catch(() => undefined);
  for (const port of await os.neutron.listPorts({ project_id })) if (port.device_owner === '') await os.neutron.deletePort(port.id).catch(() => undefined);
  for (const snap of await os.cinder.listSnapshots({ all_tenants: '1', project_id })) await os.cinder.deleteSnapshot(snap.id).catch(() => undefined);
  for (const v of await os.cinder.listVolumes({ all_tenants: 1, project_id })) {
    for (let i = 0; i < 60 && (await os.cinder.listSnapshots({ all_tenants: '1', project_id })).some((x) => x.volume_id === v.id); i++) await new Promise((res) => setTimeout(res, 500));
    for (const a of v.attachments) await os.nova.detachVolume(a.server_id, v.id).catch(() => undefined);
    await os.cinder.deleteVolume(v.id, { cascade: true }).catch(() => undefined);
  }
}

/** A throwaway project; `role` for the admin user there (admin by default). Removed by `undo`. */
export async function throwawayProject(os: OpenStackClient, name: string, undo: Undo, role: string | null = 'admin'): Promise<string> {
  const ks = os.keystone.http;
  const { project } = await ks.request<{ project: { id: string } }>('POST', '/projects', { body: { project: { name, domain_id: 'default' } } });
  undo.push(async () => {
    await purge(os, project.id);
    await ks.request('PATCH', `/projects/${project.id}`, { body: { project: { enabled: false } } });
    await ks.request('DELETE', `/projects/${project.id}`);
  });
  if (role !== null) await grant(os, project.id, (await os.keystone.info()).userId, role);
  return project.id;
}

/** Gives `userId` the role `role` in the project. */
export async function grant(os: OpenStackClient, projectId: string, userId: string, role: string): Promise<void> {
  const ks = os.keystone.http;
  const { roles } = await ks.request<{ roles: { id: string }[] }>('GET', '/roles', { query: { name: role } });
  await ks.request('PUT', `/projects/${projectId}/users/${userId}/roles/${roles[0]!.id}`);
}

/** A throwaway user with the `member` role only in `projectId`. Removed by `undo`. */
export async function throwawayUser(os: OpenStackClient, name: string, password: string, projectId: string, undo: Undo): Promise<OpenStackUser & { id: string }> {
  const ks = os.keystone.http;
  const { user } = await ks.request<{ user: { id: string } }>('POST', '/users', { body: { user: { name, password, domain_id: 'default', default_project_id: projectId } } });
  undo.push(() => ks.request('DELETE', `/users/${user.id}`));
  await grant(os, projectId, user.id, 'member');
  return { id: user.id, username: name, password, projectName: '', userDomainId: 'default', projectDomainId: 'default' };
}

/** A raw image Glance holds, for gateways (the fake hypervisor never boots it). */
export async function gatewayImage(os: OpenStackClient, name: string, undo: Undo): Promise<string> {
  const img = await os.glance.http.request<{ id: string }>('POST', '/v2/images', { body: { name, disk_format: 'raw', container_format: 'bare', visibility: 'public' } });
  undo.push(() => os.glance.http.request('DELETE', `/v2/images/${img.id}`));
  const res = await fetch(`${await os.glance.http.baseUrl()}/v2/images/${img.id}/file`, {
    method: 'PUT',
    headers: { 'x-auth-token': await os.keystone.token(), 'content-type': 'application/octet-stream' },
    body: Buffer.alloc(1024 * 1024),
  });
  assert.equal(res.status, 204);
  return img.id;
}

/** A network with a subnet and a router to `public` (a floating IP needs the router), made by `c` in its project. */
export async function tenantNetwork(c: OpenStackClient, name: string, cidr: string, publicId: string, undo: Undo): Promise<{ networkId: string; subnetId: string }> {
  const net = await c.neutron.createNetwork(name);
  undo.push(() => c.neutron.deleteNetwork(net.id));
  const subnet = await c.neutron.createSubnet({ network_id: net.id, cidr, name: `${name}-sub` });
  const router = (await c.neutron.http.request<{ router: { id: string } }>('POST', '/v2.0/routers', { body: { router: { name: `${name}-router`, external_gateway_info: { network_id: publicId } } } })).router;
  undo.push(() => c.neutron.http.request('DELETE', `/v2.0/routers/${router.id}`));
  await c.neutron.http.request('PUT', `/v2.0/routers/${router.id}/add_router_interface`, { body: { subnet_id: subnet.id } });
  undo.push(() => c.neutron.http.request('PUT', `/v2.0/routers/${router.id}/remove_router_interface`, { body: { subnet_id: subnet.id } }));
  return { networkId: net.id, subnetId: subnet.id };
}

export type Census = Record<string, number>;

/**
 * What Rehost may create, per project, seen by an admin: volumes, attachments, snapshots,
 * backups, pending transfers, servers, ports (not the networks' own router and DHCP ports) and
 * floating IPs. `keep` filters out what other runs sharing a project make (throwaway projects
 * need no filter).
 */
export async function census(os: OpenStackClient, projectIds: string[], keep: (x: object) => boolean = () => true): Promise<Census> {
  const out: Census = { volumes: 0, attachments: 0, snapshots: 0, backups: 0, transfers: 0, servers: 0, ports: 0, floatingIps: 0 };
  for (const project_id of projectIds) {
    const volumes = (await os.cinder.listVolumes({ all_tenants: 1, project_id })).filter(keep);
    out.volumes! += volumes.length;
    out.attachments! += volumes.reduce((n, v) => n + v.attachments.length, 0);
    out.snapshots! += (await os.cinder.listSnapshots({ all_tenants: '1', project_id })).filter(keep).length;
    const backups = await os.cinder.http.request<{ backups: object[] }>('GET', '/backups/detail', { query: { all_tenants: 1, project_id } });
    out.backups! += backups.backups.filter(keep).length;
    const ids = new Set(volumes.map((v) => v.id));
    out.transfers! += (await os.cinder.listTransfers({ all_tenants: 1 })).filter((x) => ids.has(x.volume_id) || (x as { source_project_id?: string }).source_project_id === project_id).length;
    const servers = (await os.nova.listServers({ all_tenants: '1', project_id })).filter(keep);
    out.servers! += servers.length;
    const foreignServers = new Set((await os.nova.listServers({ all_tenants: '1', project_id })).filter((s) => !keep(s)).map((s) => s.id));
    const ports = (await os.neutron.listPorts({ project_id })).filter((p) => !p.device_owner.startsWith('network:') && !foreignServers.has(p.device_id) && keep(p));
    out.ports! += ports.length;
    out.floatingIps! += (await os.neutron.listFloatingIps({ project_id })).filter(keep).length;
  }
  return out;
}

/** sha256 of the first `bytes` of a file. */
export function sha256Head(path: string, bytes: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    readSync(fd, buf, 0, bytes, 0);
    return createHash('sha256').update(buf).digest('hex');
  } finally {
    closeSync(fd);
  }
}

/** The REST steps of a migration, against one `rehost serve`. */
export function restSteps(r: Rehost) {
  const host = async (id: string): Promise<any> => (await r.api('GET', `/hosts?ids=${id}`)).body.data[0];
  return {
    host,
    async targetState(id: string): Promise<any> {
      return waitFor('target settled', async () => {
        const t = (await r.api('GET', '/targets')).body.targets.data.find((x: any) => x.uuid === id);
        return t && t.target_status !== 'creating' ? t : null;
      }, 180_000, 250);
    },
    async sync(id: string, mode: 'full' | 'incremental'): Promise<any> {
      const res = await r.api('POST', '/hosts', { ids: [id], sync: { do_snapshot: true, sync_mode: mode, transfer_speed: 0 } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return waitFor(`${mode} sync`, async () => {
        const h = await host(id);
        return h.h_host_status === 'sync_failed' || h.h_host_status === 'sync_snapshot_done' ? h : null;
      }, 300_000, 250);
    },
    async lastJob(id: string, type: string): Promise<any> {
      return (await r.api('GET', `/jobs?id=${id}&job_type=${type}&page_size=1`)).body.data[0];
    },
    async boot(id: string, body: Record<string, unknown>): Promise<any> {
      const before = (await r.api('GET', `/jobs?id=${id}&job_type=Boot`)).body.total;
      const res = await r.api('POST', `/hosts/${id}/action`, { boot: { boot_timeout_seconds: 300, ...body } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return waitFor('boot', async () => {
        const jobs = (await r.api('GET', `/jobs?id=${id}&job_type=Boot&page_size=1`)).body;
        return jobs.total > before && jobs.data[0].job_status !== 'working' ? jobs.data[0] : null;
      }, 600_000, 500);
    },
    async clean(ids: string[]): Promise<void> {
      for (const h of ids) assert.equal((await r.api('POST', '/hosts', { ids: [h], clean: { force: false } })).status, 200);
      await waitFor('hosts cleaned', async () => {
        const jobs = await Promise.all(ids.map(async (h) => (await r.api('GET', `/jobs?id=${h}&job_type=Clean&page_size=1`)).body.data[0]));
        return jobs.every((j: any) => j && j.job_status !== 'working') ? jobs : null;
      }, 600_000, 500);
    },
  };
}
