/**
 * The OpenStack target through the REST API of a real `rehost serve`, against a real OpenStack
 * Zed on 127.0.0.1 (test/peers/openstack.ts) and a real sshd on 127.0.0.1 standing in for the
 * gateway instance's SSH (test/peers/sshd.ts): the peer's Nova runs fake servers with no network,
 * so `gateway_address` points Rehost at the sshd, which runs as this machine's root and so can
 * write the peer's file-backed volumes, whose path the Cinder attachment reports.
 * Covers: bad input, a wrong password, a wrong gateway host key, resources, full and incremental
 * sync with Cinder snapshots (bytes compared with the volume file), a test boot and a cutover into
 * another project through the shared gateway's volume transfer (machines.ts), quota exceeded
 * (clear error, host retryable), and cleanup that leaves the cloud as it was. Runs in throwaway
 * projects so other tests may use the shared peer meanwhile. Skips with the reason when the peer
 * cannot run.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { OpenStackClient } from '../../src-main/targets/openstack/client/index.js';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { makeMixedDisk, modifyBlocks } from '../fixtures/disks.js';
import { OPENSTACK_LAB, skipOrFail, startOpenStack, type OpenStackPeer } from '../peers/openstack.js';
import { SSHD, startSshd, type Sshd } from '../peers/sshd.js';

const RUN = `rehost-ost-${process.pid}`;
const VOLUMES = join(OPENSTACK_LAB, 'state/cinder/volumes');
const work = tempDir('openstack-target');
let peer: OpenStackPeer | null = null;
let unavailable = existsSync(SSHD) ? 'the OpenStack peer was not started' : 'openssh-server is not installed';
let sshd: Sshd | undefined;
let r: Rehost | undefined;
let admin: OpenStackClient | undefined;
const undo: (() => Promise<unknown>)[] = [];

before(async () => {
  if (!existsSync(SSHD)) return;
  try {
    peer = await startOpenStack();
  } catch (err) {
    unavailable = `OpenStack peer cannot start: ${err instanceof Error ? err.message : String(err)}`;
  }
}, { timeout: 960_000 });

after(async () => {
  for (const step of undo.reverse()) await step().catch((err: unknown) => console.log(`# undo failed: ${String(err)}`));
  await r?.stop();
  await sshd?.stop();
  await admin?.close();
  await peer?.stop();
  removeDir(work);
}, { timeout: 300_000 });

function need(t: TestContext): OpenStackPeer | null {
  if (peer === null) skipOrFail(t, unavailable);
  return peer;
}

/**
 * What Rehost may create in the run's projects (other tests may use the shared peer's other
 * projects at the same time): must be the same before and after.
 */
async function census(os: OpenStackClient, projectIds: string[]): Promise<Record<string, number>> {
  const out = { volumes: 0, attachments: 0, snapshots: 0, servers: 0, ports: 0 };
  for (const project_id of projectIds) {
    const volumes = await os.cinder.listVolumes({ all_tenants: 1, project_id });
    out.volumes += volumes.length;
    out.attachments += volumes.reduce((n, v) => n + v.attachments.length, 0);
    out.snapshots += (await os.cinder.listSnapshots({ all_tenants: '1', project_id })).length;
    out.servers += (await os.nova.listServers({ all_tenants: '1', project_id })).length;
    out.ports += (await os.neutron.listPorts({ project_id })).length;
  }
  return out;
}

async function host(id: string): Promise<any> {
  return (await r!.api('GET', `/hosts?ids=${id}`)).body.data[0];
}

async function sync(id: string, mode: 'full' | 'incremental'): Promise<any> {
  const res = await r!.api('POST', '/hosts', { ids: [id], sync: { do_snapshot: true, sync_mode: mode, transfer_speed: 0 } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return waitFor(`${mode} sync`, async () => {
    const h = await host(id);
    if (h.h_host_status === 'sync_failed') return h;
    return h.h_host_status === 'sync_snapshot_done' ? h : null;
  }, 180_000, 250);
}

async function targetState(id: string): Promise<any> {
  return waitFor('target settled', async () => {
    const t = (await r!.api('GET', '/targets')).body.targets.data.find((x: any) => x.uuid === id);
    return t && t.target_status !== 'creating' ? t : null;
  }, 180_000, 250);
}

/** A raw image Glance holds, for the gateway Rehost creates (the fake hypervisor never boots it). */
async function gatewayImage(os: OpenStackClient): Promise<string> {
  const img = await os.glance.http.request<{ id: string }>('POST', '/v2/images', { body: { name: `${RUN}-gw`, disk_format: 'raw', container_format: 'bare', visibility: 'public' } });
  undo.push(() => os.glance.http.request('DELETE', `/v2/images/${img.id}`));
  const res = await fetch(`${await os.glance.http.baseUrl()}/v2/images/${img.id}/file`, {
    method: 'PUT',
    headers: { 'x-auth-token': await os.keystone.token(), 'content-type': 'application/octet-stream' },
    body: Buffer.alloc(1024 * 1024),
  });
  assert.equal(res.status, 204);
  return img.id;
}

/** After a failed run: whatever is left in a throwaway project goes before the project does. */
async function purge(os: OpenStackClient, project_id: string): Promise<void> {
  for (const server of await os.nova.listServers({ all_tenants: '1', project_id })) {
    await os.nova.deleteServer(server.id).catch(() => undefined);
    await os.nova.waitServerGone(server.id, { timeoutMs: 120_000 }).catch(() => undefined);
  }
  for (const port of await os.neutron.listPorts({ project_id })) if (port.device_owner === '') await os.neutron.deletePort(port.id).catch(() => undefined);
  for (const snap of await os.cinder.listSnapshots({ all_tenants: '1', project_id })) await os.cinder.deleteSnapshot(snap.id).catch(() => undefined);
  for (const v of await os.cinder.listVolumes({ all_tenants: 1, project_id })) {
    for (let i = 0; i < 60 && (await os.cinder.listSnapshots({ all_tenants: '1', project_id })).some((x) => x.volume_id === v.id); i++) await new Promise((res) => setTimeout(res, 500));
    for (const a of v.attachments) await os.nova.detachVolume(a.server_id, v.id).catch(() => undefined);
    await os.cinder.deleteVolume(v.id, { cascade: true }).catch(() => undefined);
  }
}

/** A throwaway project where admin has the admin role; removed after the test. */
async function throwawayProject(os: OpenStackClient, name: string): Promise<string> {
  const ks = os.keystone.http;
  const { project } = await ks.request<{ project: { id: string } }>('POST', '/projects', { body: { project: { name, domain_id: 'default' } } });
  undo.push(async () => {
    await purge(os, project.id);
    await ks.request('PATCH', `/projects/${project.id}`, { body: { project: { enabled: false } } });
    await ks.request('DELETE', `/projects/${project.id}`);
  });
  const info = await os.keystone.info();
  const { roles } = await ks.request<{ roles: { id: string; name: string }[] }>('GET', '/roles', { query: { name: 'admin' } });
  await ks.request('PUT', `/projects/${project.id}/users/${info.userId}/roles/${roles[0]!.id}`);
  return project.id;
}

/** sha256 of the first `bytes` of a file. */
function sha256Head(path: string, bytes: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    readSync(fd, buf, 0, bytes, 0);
    return createHash('sha256').update(buf).digest('hex');
  } finally {
    closeSync(fd);
  }
}

async function boot(id: string, body: Record<string, unknown>): Promise<any> {
  const before = (await r!.api('GET', `/jobs?id=${id}&job_type=Boot`)).body.total;
  const res = await r!.api('POST', `/hosts/${id}/action`, { boot: { boot_timeout_seconds: 300, ...body } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return waitFor('boot', async () => {
    const jobs = (await r!.api('GET', `/jobs?id=${id}&job_type=Boot&page_size=1`)).body;
    return jobs.total > before && jobs.data[0].job_status !== 'working' ? jobs.data[0] : null;
  }, 300_000, 500);
}

/** The migrated server a cutover leaves (cleanup keeps it by design): removed here with its port and volumes. */
async function removeMigrated(os: OpenStackClient, serverId: string, hostId: string): Promise<void> {
  const server = await os.nova.getServer(serverId);
  await os.nova.deleteServer(serverId);
  await os.nova.waitServerGone(serverId, { timeoutMs: 120_000 });
  for (const port of await os.neutron.listPorts({ description: `rehost:${hostId}` })) await os.neutron.deletePort(port.id);
  for (const v of server['os-extended-volumes:volumes_attached'] ?? []) {
    await os.cinder.waitVolume(v.id, 'available', { timeoutMs: 120_000 });
    await os.cinder.deleteVolume(v.id);
    for (let i = 0; i < 120 && (await os.cinder.getVolume(v.id).then(() => true, () => false)); i++) await new Promise((res) => setTimeout(res, 500));
  }
}

function cmpRange(a: string, b: string, bytes: number): boolean {
  try {
    execFileSync('cmp', ['-n', String(bytes), a, b]);
    return true;
  } catch {
    return false;
  }
}

test('OpenStack target: bad input, wrong password and host key, resources, full and incremental sync through the gateway with snapshots, test boot and cutover in another project, quota, cleanup', { timeout: 900_000 }, async (t) => {
  const p = need(t);
  if (p === null) return;
  admin = new OpenStackClient({ authUrl: p.authUrl, region: p.region, ...p.admin });
  const mainProject = `${RUN}-main`;
  const quotaProject = `${RUN}-quota`;
  const appsProject = `${RUN}-apps`;
  const projectIds = [await throwawayProject(admin, mainProject), await throwawayProject(admin, quotaProject), await throwawayProject(admin, appsProject)];
  const before = await census(admin, projectIds);
  const publicNet = (await admin.neutron.listNetworks({ name: 'public' }))[0]!.id;
  const imageId = await gatewayImage(admin);
  sshd = await startSshd(join(work, 'sshd'));
  const images = join(work, 'images');
  mkdirSync(images);
  const disk = join(images, 'os-01.raw');
  makeMixedDisk(disk, 96, 5);
  // bigger than the throwaway project's 1 GiB quota; sparse, so it costs nothing here
  const big = join(images, 'big-01.raw');
  const fd = openSync(big, 'w');
  writeSync(fd, Buffer.alloc(4096, 7), 0, 4096, 0);
  closeSync(fd);
  execFileSync('truncate', ['-s', String(1536 * 1024 * 1024), big]);

  r = await startRehost();
  await r.login();
  const base = {
    cloud_type: 'OpenStack',
    os_auth_url: p.authUrl,
    os_username: p.admin.username,
    os_project_name: mainProject,
    os_user_domain_id: 'default',
    os_project_domain_id: 'default',
    os_region_name: p.region,
    volume_availability_zone: 'nova',
    volume_type: 'standard',
  };
  const gateway = {
    gateway_mode: 'shared',
    gateway_image_id: imageId,
    gateway_flavor_id: '1',
    gateway_network_id: publicNet,
    gateway_address: '127.0.0.1',
    gateway_ssh_port: sshd.port,
    gateway_username: 'root',
    gateway_private_key: sshd.privateKey,
  };

  // bad input: a 400 naming the field; a wrong password: the target fails with a clear reason
  const bad = await r.api('POST', '/targets', { type: 'HyperGate', config: { ...base, os_password: p.admin.password, gateway_mode: 'somewhere' } });
  assert.equal(bad.status, 400, JSON.stringify(bad.body));
  assert.equal(bad.body.field, 'config.gateway_mode');
  const wrong = await r.api('POST', '/targets', { type: 'HyperGate', name: `${RUN}-wrong`, config: { ...base, os_password: 'not-the-password' } });
  assert.equal(wrong.status, 200, JSON.stringify(wrong.body));
  const failed = await targetState(wrong.body.data.uuid);
  assert.equal(failed.target_status, 'create_failed');
  assert.match(failed.status_reason, /OpenStack rejected the credentials/);
  assert.doesNotMatch(JSON.stringify(failed), /not-the-password/);
  assert.equal((await r.api('GET', `/targets/${wrong.body.data.uuid}/resources?kind=flavors`)).status, 409);
  assert.equal((await r.api('DELETE', `/targets/${wrong.body.data.uuid}`)).status, 200);

  // the target: Rehost creates the gateway instance, reaches it over SSH and pins its host key
  const created = await r.api('POST', '/targets', { type: 'HyperGate', name: `${RUN}-main`, config: { ...base, os_password: p.admin.password, ...gateway } });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const tgt = created.body.data.uuid;
  const active = await targetState(tgt);
  assert.equal(active.target_status, 'active', JSON.stringify(active));
  const gw = (await admin.nova.listServers({ all_tenants: '1', project_id: projectIds[0], name: `^HyperGate_${mainProject}$` })).filter((s) => s.metadata?.rehost_role === 'gateway');
  assert.equal(gw.length, 1, 'one gateway instance, tagged');
  const pin = join(r.dataDir, 'work', 'targets', tgt, `gateway-${gw[0]!.id}.hostkey`);
  assert.equal(readFileSync(pin, 'utf8').trim(), sshd.hostKey, 'the gateway host key is pinned on first use');
  // a gateway presenting another host key than the pinned one is refused
  const otherKey = `SHA256:${'Q'.repeat(43)}`;
  const badKey = await r.api('POST', '/targets', { type: 'HyperGate', name: `${RUN}-badkey`, config: { ...base, os_password: p.admin.password, ...gateway, gateway_host_key: otherKey } });
  const refusedKey = await targetState(badKey.body.data.uuid);
  assert.equal(refusedKey.target_status, 'create_failed');
  assert.match(refusedKey.status_reason, new RegExp(`gateway: the SSH host key of 127\\.0\\.0\\.1:${sshd.port} changed: pinned ${otherKey.replace(/\+/g, '\\+')}`));
  assert.equal((await r.api('DELETE', `/targets/${badKey.body.data.uuid}`)).status, 200);
  const resource = async (kind: string) => {
    const res = await r!.api('GET', `/targets/${tgt}/resources?kind=${kind}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.data as any[];
  };
  assert.ok((await resource('flavors')).some((f) => f.name === 'm1.tiny' && f.vcpus === 1));
  assert.ok((await resource('networks')).some((n) => n.name === 'public' && n['router:external'] === true));
  assert.ok((await resource('volume_types')).some((v) => v.name === 'standard'));
  const quotas = await resource('quotas');
  const gigabytes = quotas.find((q) => q.id === 'volume.gigabytes');
  assert.ok(gigabytes && gigabytes.limit >= 1 && gigabytes.in_use === 0 && gigabytes.free === gigabytes.limit, JSON.stringify(quotas));
  assert.equal((await r.api('GET', `/targets/${tgt}/resources?kind=nonsense`)).status, 400);
  assert.ok((await resource('subnets')).some((x) => x.cidr === '203.0.113.0/24'));
  assert.deepEqual((await resource('security_groups')).map((g) => g.name), ['default'], 'the project\'s own groups only');
  assert.ok((await resource('availability_zones')).some((z) => z.id === 'nova' && z.available === true));
  assert.ok((await resource('projects')).some((x) => x.name === mainProject));
  for (const kind of ['keypairs', 'floating_ips']) assert.ok(Array.isArray(await resource(kind)));

  // source and hosts
  const src = (await r.api('POST', '/sources', { type: 'Image', name: `${RUN}-imgs`, config: { path: images } })).body.data.id;
  await waitFor('source', async () => (await r!.api('GET', `/sources/${src}`)).body.source.status === 'connected');
  const offered = (await r.api('GET', `/sources/${src}/hosts`)).body.data as any[];
  const id = offered.find((h) => h.host_name === 'os-01').id;
  const bigId = offered.find((h) => h.host_name === 'big-01').id;
  assert.equal((await r.api('POST', '/hosts/register', { ids: [id, bigId] })).status, 200);
  assert.equal((await r.api('PUT', '/hosts/target_platform', { ids: [id], storage_id: tgt, pool_id: tgt, step: '2' })).status, 200);

  // full sync → the volume file holds the source's bytes, a Cinder snapshot per sync
  const full = await sync(id, 'full');
  assert.equal(full.h_host_status, 'sync_snapshot_done', JSON.stringify(full.detail));
  const vols = (await admin.cinder.listVolumes({ all_tenants: 1, project_id: projectIds[0] })).filter((v) => v.metadata.rehost_host === id);
  assert.equal(vols.length, 1);
  const vol = vols[0]!;
  assert.equal(vol.name, 'sync_vol_os-01_0');
  assert.equal(vol.size, 1);
  assert.deepEqual(vol.attachments.map((a) => a.server_id), [gw[0]!.id], 'attached to the gateway');
  const volumeFile = join(VOLUMES, `volume-${vol.id}`);
  assert.ok(cmpRange(disk, volumeFile, 96 * 1024 * 1024), 'the Cinder volume equals the source after the full sync');
  const syncJob = (await r.api('GET', `/jobs?id=${id}&job_type=Sync&page_size=1`)).body.data[0];
  assert.ok(syncJob.steps.some((s: any) => s.name === 'Copy disk 0' && /verified/.test(s.detail ?? '')), JSON.stringify(syncJob.steps));

  const gen1 = sha256Head(disk, 96 * 1024 * 1024);
  modifyBlocks(disk, 96, 10);
  const inc = await sync(id, 'incremental');
  assert.equal(inc.h_host_status, 'sync_snapshot_done', JSON.stringify(inc.detail));
  assert.ok(cmpRange(disk, volumeFile, 96 * 1024 * 1024), 'the Cinder volume equals the source after the incremental sync');
  const incJob = (await r.api('GET', `/jobs?id=${id}&job_type=Sync&page_size=1`)).body.data[0];
  const copied = incJob.steps.find((s: any) => s.name === 'Copy disk 0')?.detail ?? '';
  const sent = Number(/(\d+) chunks sent/.exec(copied)?.[1] ?? NaN);
  assert.ok(sent >= 1 && sent <= 4, `only the changed chunks cross to the gateway: ${copied}`);
  const log = readFileSync(join(r.dataDir, 'logs', 'rehost.log'), 'utf8');
  assert.match(log, new RegExp(`"volume":"${vol.id}","device":"${volumeFile}","by":"attachment".*sync volume found in the gateway`), 'the sink found the volume by the attachment path');
  assert.match(log, /"role":"sink"|agent started/, 'the agent ran on the gateway');
  const snaps = (await r.api('GET', `/hosts/${id}?sheet=snapshot`)).body;
  assert.equal(snaps.total, 2, JSON.stringify(snaps));
  const cinderSnaps = (await admin.cinder.listSnapshots({ all_tenants: '1', project_id: projectIds[0] })).filter((s) => s.metadata?.rehost_host === id);
  assert.equal(cinderSnaps.length, 2);
  assert.ok(cinderSnaps.every((s) => s.status === 'available' && /^HyperMotion-/.test(s.name ?? '') && s.volume_id === vol.id));

  // a test boot from the first snapshot (the machines side, machines.ts), then a cutover from what
  // the source holds now; with the shared gateway both go to the user's project by volume transfer
  assert.equal((await r.api('POST', '/hosts', { ids: [id], next_step: { step: '4' } })).status, 200);
  const into = { project_name: appsProject, project_domain_id: 'default', user_name: p.admin.username, user_domain_id: 'default', user_password: p.admin.password, flavor_id: '1', network_id: publicNet };
  const first = [...snaps.data].sort((a: any, b: any) => a.created_at.localeCompare(b.created_at) || a.snapshot_name.localeCompare(b.snapshot_name))[0];
  const testBoot = await boot(id, { backup_type: 'volume_snapshot', snapshot_id: first.id, ...into });
  assert.equal(testBoot.job_status, 'done', JSON.stringify(testBoot));
  const testServer = await admin.nova.getServer((await host(id)).cloud_instance_id);
  assert.equal(testServer.status, 'ACTIVE');
  assert.equal((await admin.nova.listServers({ all_tenants: '1', project_id: projectIds[2] })).filter((x) => x.id === testServer.id).length, 1, 'booted in the user\'s project');
  const testVolume = testServer['os-extended-volumes:volumes_attached']![0]!.id;
  assert.equal(sha256Head(join(VOLUMES, `volume-${testVolume}`), 96 * 1024 * 1024), gen1, 'the test boot sees the first sync\'s data');
  modifyBlocks(disk, 96, 5, 11);
  const gen3 = sha256Head(disk, 96 * 1024 * 1024);
  const cutover = await boot(id, { backup_type: 'volume_backup', snapshot_id: first.id, ...into });
  assert.equal(cutover.job_status, 'done', JSON.stringify(cutover));
  const migrated = await admin.nova.getServer((await host(id)).cloud_instance_id);
  const migratedVolume = migrated['os-extended-volumes:volumes_attached']![0]!.id;
  assert.equal(sha256Head(join(VOLUMES, `volume-${migratedVolume}`), 96 * 1024 * 1024), gen3, 'the cutover boots what the source holds after the final sync');
  undo.push(() => removeMigrated(admin!, migrated.id, id));

  // quota: a project with 1 GiB of volume quota, a host with a 1.5 GiB disk
  const projectId = projectIds[1]!;
  await admin.cinder.setQuotas(projectId, { gigabytes: 1 });
  const small = await r.api('POST', '/targets', { type: 'HyperGate', name: `${RUN}-quota`, config: { ...base, os_project_name: quotaProject, os_password: p.admin.password, ...gateway } });
  const smallId = small.body.data.uuid;
  assert.equal((await targetState(smallId)).target_status, 'active');
  assert.equal((await r.api('PUT', '/hosts/target_platform', { ids: [bigId], storage_id: smallId, pool_id: smallId, step: '2' })).status, 200);
  const refused = await sync(bigId, 'full');
  assert.equal(refused.h_host_status, 'sync_failed');
  const quotaJob = (await r.api('GET', `/jobs?id=${bigId}&job_type=Sync&page_size=1`)).body.data[0];
  assert.match(quotaJob.failure_reason, /Cinder quota of project .*-quota is too small .*gigabytes: 2 GiB needed, 1 GiB of 1 GiB free/);
  assert.equal((await admin.cinder.listVolumes({ all_tenants: 1, project_id: projectId })).length, 0, 'nothing was created');
  await admin.cinder.setQuotas(projectId, { gigabytes: 10 });
  const retried = await sync(bigId, 'full');
  assert.equal(retried.h_host_status, 'sync_snapshot_done', `the host is retryable: ${JSON.stringify(retried.detail)}`);

  // cleanup: everything Rehost made goes (the gateways too: nothing is attached to them any more)
  for (const h of [id, bigId]) assert.equal((await r.api('POST', '/hosts', { ids: [h], clean: { force: false } })).status, 200);
  await waitFor('hosts cleaned', async () => (await r!.api('GET', '/hosts')).body.total === 0, 300_000, 500);
  for (const h of [id, bigId]) {
    const job: any = (await r.api('GET', `/jobs?id=${h}&job_type=Clean&page_size=1`)).body.data[0];
    assert.equal(job.job_status, 'done', JSON.stringify(job));
  }
  assert.equal((await r.api('DELETE', `/targets/${smallId}`)).status, 200);
  assert.equal((await r.api('DELETE', `/targets/${tgt}`)).status, 200);
  assert.equal((await admin.nova.getServer(migrated.id)).status, 'ACTIVE', 'cleanup keeps the migrated server');
  await assert.rejects(admin.nova.getServer(testServer.id), /not found/, 'cleanup deleted the test boot');
  await removeMigrated(admin, migrated.id, id);
  undo.pop();
  assert.deepEqual(await census(admin, projectIds), before, 'the cloud is left as it was');
  for (const kind of ['volumes', 'snapshots'] as const) {
    const left = kind === 'volumes' ? await admin.cinder.listVolumes({ all_tenants: 1 }) : await admin.cinder.listSnapshots({ all_tenants: '1' });
    assert.ok(!left.some((x) => [id, bigId].includes(x.metadata?.rehost_host ?? '')), `no ${kind} of this run's hosts anywhere`);
  }
});
