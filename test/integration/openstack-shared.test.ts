/**
 * The shared gateway (seed 000 §2.3.1 "共享同步代理，启动时指定租户") end to end through the REST API
 * of a real `rehost serve`, against a real OpenStack Zed on 127.0.0.1, with a NON-ADMIN service
 * user (role member in its own service project only): sync through the gateway, snapshots, a test
 * boot into the `demo` project as the `demo` user with an existing floating IP, then a cutover
 * (backup → restore → volume transfer) there with a fixed IP and a new floating IP. The boot
 * volumes' bytes equal the source. A second host's test boot, left running in `demo`, shows that
 * host cleanup reaches the user's project without admin rights (the boot scope is kept in the
 * secrets store, never in the database). Cleanup leaves both projects as they were except the
 * migrated server. The gateway's SSH is a local sshd (the peer's Nova runs fake servers).
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OpenStackClient } from '../../src-main/targets/openstack/client/index.js';
import { openEncryptedFileStore } from '../../src-main/secrets/index.js';
import { vaultRef } from '../../src-main/core/driver-pool.js';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { makeMixedDisk, modifyBlocks } from '../fixtures/disks.js';
import { skipOrFail, startOpenStack, type OpenStackPeer } from '../peers/openstack.js';
import { census, clientOf, gatewayImage, restSteps, sha256Head, tenantNetwork, throwawayProject, throwawayUser, volumeFile, type Undo } from '../peers/openstack-lab.js';
import { SSHD, startSshd, type Sshd } from '../peers/sshd.js';

const RUN = `rehost-shr-${process.pid}`;
const MiB = 1024 * 1024;
const DISK_MIB = 64;
const work = tempDir('openstack-shared');
let peer: OpenStackPeer | null = null;
let unavailable = existsSync(SSHD) ? 'the OpenStack peer was not started' : 'openssh-server is not installed';
let sshd: Sshd | undefined;
let r: Rehost | undefined;
const clients: OpenStackClient[] = [];
const undo: Undo = [];

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
  for (const c of clients) await c.close();
  await peer?.stop();
  removeDir(work);
}, { timeout: 600_000 });

function need(t: TestContext): OpenStackPeer | null {
  if (peer === null) skipOrFail(t, unavailable);
  return peer;
}

/** In the shared `demo` project: leave out what other runs make (their host tags, their names). */
function mine(hostIds: string[]): (x: object) => boolean {
  return (x) => {
    const { metadata, description, name } = x as { metadata?: Record<string, string> | null; description?: string | null; name?: string | null };
    if (metadata?.rehost_host !== undefined && !hostIds.includes(metadata.rehost_host)) return false;
    if (typeof description === 'string' && description.startsWith('rehost:') && !hostIds.includes(description.slice(7))) return false;
    return !(typeof name === 'string' && /^(rehost-|rh-boot-|HyperGate_|sync_vol_)/.test(name) && !name.startsWith(RUN));
  };
}

test('OpenStack shared gateway through REST, as a non-admin service user: sync, test boot and cutover in demo with fixed and floating IPs, cleanup reaches demo', { timeout: 1_800_000 }, async (t) => {
  const p = need(t);
  if (p === null) return;
  const admin = clientOf(p, p.admin);
  const demo = clientOf(p, p.demo);
  clients.push(admin, demo);
  const svcProject = `${RUN}-svc`;
  const svcProjectId = await throwawayProject(admin, svcProject, undo);
  const svcPassword = `Svc-${randomBytes(9).toString('base64url')}`;
  const svcUser = await throwawayUser(admin, `${RUN}-svc`, svcPassword, svcProjectId, undo);
  const svc = clientOf(p, { ...svcUser, projectName: svcProject });
  clients.push(svc);
  assert.equal((await svc.keystone.info()).roles.includes('admin'), false, 'the service user is no admin');
  const demoProjectId = (await demo.keystone.info()).projectId;
  const publicNet = (await admin.neutron.listNetworks({ name: 'public' }))[0]!.id;
  const imageId = await gatewayImage(admin, `${RUN}-gw`, undo);
  const gwNet = await svc.neutron.createNetwork(`${RUN}-gw-net`);
  undo.push(() => svc.neutron.deleteNetwork(gwNet.id));
  await svc.neutron.createSubnet({ network_id: gwNet.id, cidr: '10.82.0.0/24', name: `${RUN}-gw-sub` });
  const demoNet = await tenantNetwork(demo, `${RUN}-net`, '10.81.0.0/24', publicNet, undo);
  // the user's own floating IP, named for the test boot (not Rehost's: cleanup must leave it)
  const userFip = (await demo.neutron.http.request<{ floatingip: { id: string; floating_ip_address: string } }>('POST', '/v2.0/floatingips', { body: { floatingip: { floating_network_id: publicNet, description: `${RUN} user's own` } } })).floatingip;
  undo.push(() => demo.neutron.deleteFloatingIp(userFip.id));

  sshd = await startSshd(join(work, 'sshd'));
  const images = join(work, 'images');
  mkdirSync(images);
  const disk = join(images, 'sh-01.raw');
  makeMixedDisk(disk, DISK_MIB, 21);
  makeMixedDisk(join(images, 'sh-02.raw'), 16, 22);
  r = await startRehost();
  await r.login();
  const rest = restSteps(r);
  const src = (await r.api('POST', '/sources', { type: 'Image', name: `${RUN}-imgs`, config: { path: images } })).body.data.id;
  await waitFor('source', async () => (await r!.api('GET', `/sources/${src}`)).body.source.status === 'connected');
  const offered = (await r.api('GET', `/sources/${src}/hosts`)).body.data as any[];
  const [id, id2] = ['sh-01', 'sh-02'].map((n) => offered.find((h) => h.host_name === n).id as string) as [string, string];
  const keep = mine([id, id2]);
  const before = { svc: await census(admin, [svcProjectId]), demo: await census(admin, [demoProjectId], keep) };

  const created = await r.api('POST', '/targets', {
    type: 'HyperGate',
    name: `${RUN}-shared`,
    config: {
      cloud_type: 'OpenStack', os_auth_url: p.authUrl, os_username: svcUser.username, os_password: svcPassword, os_project_name: svcProject, os_user_domain_id: 'default', os_project_domain_id: 'default',
      os_region_name: p.region, volume_availability_zone: 'nova', gateway_mode: 'shared', gateway_image_id: imageId, gateway_flavor_id: '1', gateway_network_id: gwNet.id,
      gateway_address: '127.0.0.1', gateway_ssh_port: sshd.port, gateway_username: 'root', gateway_private_key: sshd.privateKey,
    },
    metadata: { driver_name: 'OpenStack' },
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const tgt = created.body.data.uuid;
  const state = await rest.targetState(tgt);
  assert.equal(state.target_status, 'active', JSON.stringify(state));
  const detail = (await r.api('GET', `/targets/${tgt}`)).body;
  const typeNames = (await svc.cinder.listVolumeTypes()).map((x) => x.name).sort();
  assert.deepEqual(detail.storage_pools.data.map((x: any) => x.name).sort(), typeNames, 'a member cannot read backend pools: the volume types stand in');
  assert.ok(detail.storage_pools.data.every((x: any) => x.total_size === 'Unknown' && x.used_size === 'Unknown'));

  assert.equal((await r.api('POST', '/hosts/register', { ids: [id, id2] })).status, 200);
  assert.equal((await r.api('PUT', '/hosts/target_platform', { ids: [id, id2], storage_id: tgt, pool_id: tgt, step: '2' })).status, 200);
  for (const h of [id, id2]) {
    const synced = await rest.sync(h, 'full');
    assert.equal(synced.h_host_status, 'sync_snapshot_done', JSON.stringify(synced.detail));
    assert.equal((await r.api('POST', '/hosts', { ids: [h], next_step: { step: '4' } })).status, 200);
  }
  const gateways = (await svc.nova.listServers()).filter((s) => s.metadata?.rehost_role === 'gateway');
  assert.equal(gateways.length, 1, 'one shared gateway in the service project');
  const syncVolumes = (await svc.cinder.listVolumes()).filter((v) => v.metadata.rehost_role === 'sync');
  assert.deepEqual(syncVolumes.map((v) => v.attachments.map((a) => a.server_id)), [[gateways[0]!.id], [gateways[0]!.id]], 'both hosts\' volumes on the one gateway');
  const syncVolume = syncVolumes.find((v) => v.metadata.rehost_host === id)!;
  assert.equal(syncVolume.name, 'sync_vol_sh-01_sh-01.raw');
  const gen1 = sha256Head(disk, DISK_MIB * MiB);
  assert.equal(sha256Head(volumeFile(syncVolume.id), DISK_MIB * MiB), gen1, 'the sync volume equals the source');

  const asDemo = { project_name: 'demo', project_domain_id: 'default', user_name: 'demo', user_domain_id: 'default', user_password: p.demo.password, os_type: 'Linux', flavor_id: '1', network_id: demoNet.networkId };
  const firstSnapshot = async (h: string) => (await r!.api('GET', `/hosts/${h}?sheet=snapshot`)).body.data[0].id as string;
  const portOf = async (serverId: string) => (await demo.neutron.listPorts({ device_id: serverId }))[0]!;

  // test boot into demo with the user's existing floating IP
  const testJob = await rest.boot(id, { ...asDemo, backup_type: 'volume_snapshot', snapshot_id: await firstSnapshot(id), fixed_ip: '10.81.0.20', floating_ip_id: userFip.id });
  assert.equal(testJob.job_status, 'done', JSON.stringify(testJob));
  const testServer = await demo.nova.getServer((await rest.host(id)).cloud_instance_id);
  assert.equal(testServer.status, 'ACTIVE');
  assert.ok((await admin.nova.listServers({ all_tenants: '1', project_id: demoProjectId })).some((s) => s.id === testServer.id), 'the test boot runs in demo');
  assert.equal((await svc.nova.listServers()).some((s) => s.id === testServer.id), false, 'the service user cannot see it');
  const testPort = await portOf(testServer.id);
  assert.deepEqual(testPort.fixed_ips.map((f) => f.ip_address), ['10.81.0.20']);
  assert.equal((await demo.neutron.getFloatingIp(userFip.id)).port_id, testPort.id, 'the existing floating IP is associated');
  const testVolume = testServer['os-extended-volumes:volumes_attached']![0]!.id;
  assert.equal(sha256Head(volumeFile(testVolume), DISK_MIB * MiB), gen1, 'the test boot volume equals the source');

  // the boot user's credentials: in the secrets store, not in the database
  const vault = await (await openEncryptedFileStore({ dataDir: r.dataDir })).get(vaultRef('target', tgt));
  assert.ok(vault && JSON.parse(vault[`boot-scopes:${id}`]!).some((s: any) => s.projectName === 'demo' && s.user?.userName === 'demo'), 'the boot scope is in the secrets store');
  const db = readFileSync(join(r.dataDir, 'rehost.db')).toString('latin1');
  assert.ok(!db.includes('user_password') && !db.includes(svcPassword) && !/"secret"/.test(db), 'no password in the database');

  // cutover into demo: the final sync first, a fixed IP and a new floating IP from the external network
  modifyBlocks(disk, DISK_MIB, 10, 23);
  const gen2 = sha256Head(disk, DISK_MIB * MiB);
  const cutJob = await rest.boot(id, { ...asDemo, backup_type: 'volume_backup', snapshot_id: await firstSnapshot(id), fixed_ip: '10.81.0.21', floating_network_id: publicNet });
  assert.equal(cutJob.job_status, 'done', JSON.stringify(cutJob));
  assert.match(cutJob.steps.find((s: any) => s.name === 'Boot instance').detail, /cutover: .* in project demo.*volumes: backup of the snapshot restored into a new volume, handed over by volume transfer/);
  const migrated = await demo.nova.getServer((await rest.host(id)).cloud_instance_id);
  assert.equal(migrated.status, 'ACTIVE');
  assert.equal(migrated.metadata?.rehost_boot, 'cutover');
  await assert.rejects(demo.nova.getServer(testServer.id), /not found/, 'the cutover replaced the test boot');
  assert.equal((await demo.neutron.getFloatingIp(userFip.id)).port_id, null, 'the user\'s floating IP is free again, not deleted');
  const migratedPort = await portOf(migrated.id);
  assert.deepEqual(migratedPort.fixed_ips.map((f) => f.ip_address), ['10.81.0.21'], 'the port holds the fixed IP');
  const newFips = await demo.neutron.listFloatingIps({ port_id: migratedPort.id });
  assert.equal(newFips.length, 1, 'a new floating IP is associated');
  assert.equal(newFips[0]!.floating_network_id, publicNet);
  const migratedVolume = migrated['os-extended-volumes:volumes_attached']![0]!.id;
  assert.equal((await demo.cinder.getVolume(migratedVolume)).snapshot_id, null);
  assert.equal(sha256Head(volumeFile(migratedVolume), DISK_MIB * MiB), gen2, 'the migrated boot volume equals the source after the final sync');

  // the second host's test boot stays running in demo until its cleanup
  const test2 = await rest.boot(id2, { ...asDemo, backup_type: 'volume_snapshot', snapshot_id: await firstSnapshot(id2), fixed_ip: '10.81.0.22' });
  assert.equal(test2.job_status, 'done', JSON.stringify(test2));
  const test2Server = (await rest.host(id2)).cloud_instance_id as string;

  // cleanup, one host after the other: the non-admin service user reaches demo through the kept scopes
  await rest.clean([id]);
  await rest.clean([id2]);
  for (const h of [id, id2]) assert.equal((await rest.lastJob(h, 'Clean')).job_status, 'done', h);
  await assert.rejects(demo.nova.getServer(test2Server), /not found/, 'the second host\'s test boot in demo is gone');
  assert.equal((await demo.nova.getServer(migrated.id)).status, 'ACTIVE', 'the migrated server stays');
  assert.equal((await demo.neutron.listFloatingIps({ port_id: migratedPort.id })).length, 1, 'with its floating IP');
  assert.ok(await demo.neutron.getFloatingIp(userFip.id), 'the user\'s own floating IP stays');
  const left = await (await openEncryptedFileStore({ dataDir: r.dataDir })).get(vaultRef('target', tgt));
  assert.equal(left?.[`boot-scopes:${id}`], undefined, 'the boot scopes are forgotten with the hosts');
  assert.deepEqual(await census(admin, [svcProjectId]), before.svc, 'the service project is as it was: no gateway, volume, snapshot, backup or transfer left');
  const demoAfter = await census(admin, [demoProjectId], keep);
  assert.deepEqual(demoAfter, { ...before.demo, servers: before.demo.servers! + 1, ports: before.demo.ports! + 1, floatingIps: before.demo.floatingIps! + 1, volumes: before.demo.volumes! + 1, attachments: before.demo.attachments! + 1 }, 'demo holds only the migrated server more (its port, floating IP and volume)');

  // the migrated server is the customer's: removed here so the cloud is as before
  await demo.nova.deleteServer(migrated.id);
  await demo.nova.waitServerGone(migrated.id, { timeoutMs: 180_000 });
  for (const f of newFips) await demo.neutron.deleteFloatingIp(f.id);
  await demo.neutron.deletePort(migratedPort.id).catch(() => undefined);
  await demo.cinder.waitVolume(migratedVolume, 'available', { timeoutMs: 180_000 });
  await demo.cinder.deleteVolume(migratedVolume);
  await waitFor('migrated volume deleted', async () => !(await demo.cinder.getVolume(migratedVolume).then(() => true, () => false)), 300_000, 1000);
  assert.deepEqual(await census(admin, [demoProjectId], keep), before.demo, 'demo is as it was');
  assert.equal((await r.api('DELETE', `/targets/${tgt}`)).status, 200);
});
