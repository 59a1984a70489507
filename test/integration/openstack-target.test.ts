/**
 * The OpenStack target through the REST API of a real `rehost serve`, against a real OpenStack
 * Zed on 127.0.0.1 (test/peers/openstack.ts) and a real sshd on 127.0.0.1 standing in for the
 * gateway instance's SSH (test/peers/sshd.ts): the peer's Nova runs fake servers with no network,
 * so `gateway_address` points Rehost at the sshd, which runs as this machine's root and so can
 * write the peer's file-backed volumes, whose path the Cinder attachment reports.
 *
 * Dedicated gateways, as the admin service user: bad input, a wrong password; the target's
 * storage, pools and volumes (§4.2.3, §4.8.1) field by field; reading the target (and restarting
 * the engine) never creates the gateway; the first sync does; full and incremental sync with
 * Cinder snapshots (bytes compared with the volume file); a test boot; an existing instance named
 * as the gateway (`gateway_server_id`), one with a wrong host key refused before any volume
 * exists; quota exceeded (clear error, host retryable); cleanup that leaves the cloud as it was.
 * Runs in throwaway projects so other tests may use the shared peer meanwhile. Without a peer or
 * sshd: skips with the reason, or fails in CI.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { OpenStackClient } from '../../src-main/targets/openstack/client/index.js';
import { removeDir, startRehost, tempDir, waitFor, type ApiAnswer, type Rehost } from '../harness.js';
import { makeMixedDisk, modifyBlocks } from '../fixtures/disks.js';
import { skipOrFail, startOpenStack, type OpenStackPeer } from '../peers/openstack.js';
import { census, clientOf, gatewayImage, restSteps, sha256Head, throwawayProject, volumeFile, type Undo } from '../peers/openstack-lab.js';
import { SSHD, startSshd, type Sshd } from '../peers/sshd.js';

const RUN = `rehost-ost-${process.pid}`;
const MiB = 1024 * 1024;
const work = tempDir('openstack-target');
let peer: OpenStackPeer | null = null;
let unavailable = existsSync(SSHD) ? 'the OpenStack peer was not started' : 'openssh-server is not installed';
let sshd: Sshd | undefined;
let r: Rehost | undefined;
let admin: OpenStackClient | undefined;
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
  await admin?.close();
  await peer?.stop();
  removeDir(work);
}, { timeout: 600_000 });

function need(t: TestContext): OpenStackPeer | null {
  if (peer === null) skipOrFail(t, unavailable);
  return peer;
}

function cmpRange(a: string, b: string, bytes: number): boolean {
  try {
    execFileSync('cmp', ['-n', String(bytes), a, b]);
    return true;
  } catch {
    return false;
  }
}

/** A sparse disk image of `mib` MiB with a few bytes at its start. */
function sparseDisk(path: string, mib: number): void {
  const fd = openSync(path, 'w');
  writeSync(fd, Buffer.alloc(4096, 7), 0, 4096, 0);
  closeSync(fd);
  execFileSync('truncate', ['-s', String(mib * MiB), path]);
}

async function gatewaysIn(os: OpenStackClient, projectId: string, name: string) {
  return (await os.nova.listServers({ all_tenants: '1', project_id: projectId, name: `^${name}$` })).filter((s) => s.metadata?.rehost_role === 'gateway');
}

test('OpenStack target: storage and pools as the seed shows them, the gateway made only by a sync, syncs with snapshots, a test boot, a named gateway, quota, cleanup', { timeout: 1_500_000 }, async (t) => {
  const p = need(t);
  if (p === null) return;
  admin = clientOf(p, p.admin);
  const mainProject = `${RUN}-main`;
  const quotaProject = `${RUN}-quota`;
  const projectIds = [await throwawayProject(admin, mainProject, undo), await throwawayProject(admin, quotaProject, undo)];
  const publicNet = (await admin.neutron.listNetworks({ name: 'public' }))[0]!.id;
  const imageId = await gatewayImage(admin, `${RUN}-gw`, undo);
  // the instance a user names as the gateway of the quota project (made before the census: it is the user's)
  const inQuota = clientOf(p, { ...p.admin, projectName: quotaProject });
  undo.push(() => inQuota.close());
  const named = await inQuota.nova.createServer({ name: `${RUN}-named-gw`, flavorRef: '1', imageRef: imageId, networks: [{ uuid: publicNet }] });
  await inQuota.nova.waitServer(named.id, 'ACTIVE', { timeoutMs: 300_000 });
  const before = await census(admin, projectIds);
  sshd = await startSshd(join(work, 'sshd'));
  const images = join(work, 'images');
  mkdirSync(images);
  const disk = join(images, 'os-01.raw');
  makeMixedDisk(disk, 96, 5);
  // bigger than the quota project's 1 GiB; sparse, so it costs nothing here
  sparseDisk(join(images, 'big-01.raw'), 1536);
  sparseDisk(join(images, 'key-01.raw'), 16);

  r = await startRehost();
  await r.login();
  const rest = restSteps(r);
  const base = {
    cloud_type: 'OpenStack', os_auth_url: p.authUrl, os_username: p.admin.username, os_project_name: mainProject, os_user_domain_id: 'default', os_project_domain_id: 'default',
    os_region_name: p.region, volume_availability_zone: 'nova', volume_type: 'standard', os_interface: 'public',
  };
  const ssh = { gateway_address: '127.0.0.1', gateway_ssh_port: sshd.port, gateway_username: 'root', gateway_private_key: sshd.privateKey };
  const dedicated = { gateway_mode: 'dedicated', gateway_image_id: imageId, gateway_flavor_id: '1', gateway_network_id: publicNet, ...ssh };

  // bad input: a 400 naming the field; a wrong password: the target fails with a clear reason
  for (const [field, value] of [['gateway_mode', 'somewhere'], ['os_interface', 'private']] as const) {
    const bad: ApiAnswer = await r.api('POST', '/targets', { type: 'HyperGate', config: { ...base, os_password: p.admin.password, [field]: value } });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.equal(bad.body.field, `config.${field}`);
  }
  const wrong = await r.api('POST', '/targets', { type: 'HyperGate', name: `${RUN}-wrong`, config: { ...base, os_password: 'not-the-password' } });
  assert.equal(wrong.status, 200, JSON.stringify(wrong.body));
  const failed = await rest.targetState(wrong.body.data.uuid);
  assert.equal(failed.target_status, 'create_failed');
  assert.match(failed.status_reason, /OpenStack rejected the credentials/);
  assert.doesNotMatch(JSON.stringify(failed), /not-the-password/);
  assert.equal((await r.api('GET', `/targets/${wrong.body.data.uuid}/resources?kind=flavors`)).status, 409);
  assert.equal((await r.api('DELETE', `/targets/${wrong.body.data.uuid}`)).status, 200);

  // the target: active, and reading it creates nothing (the gateway waits for the first sync)
  const created = await r.api('POST', '/targets', { type: 'HyperGate', name: `${RUN}-main`, config: { ...base, os_password: p.admin.password, ...dedicated } });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const tgt = created.body.data.uuid;
  assert.equal((await rest.targetState(tgt)).target_status, 'active');
  const gwName = `HyperGate_${mainProject}`;
  const pools = await admin.cinder.listPools();
  const detail0 = (await r.api('GET', `/targets/${tgt}`)).body;
  const storage0 = detail0.Storage.data[0];
  assert.deepEqual(
    { target_ip: storage0.target_ip, target_name: storage0.target_name, type: storage0.type, status: storage0.status, os_project_name: storage0.os_project_name, os_region_name: storage0.os_region_name, os_username: storage0.os_username, volume_availability_zone: storage0.volume_availability_zone, total_size: storage0.total_size, used_size: storage0.used_size, assign_size: storage0.assign_size },
    { target_ip: '127.0.0.1', target_name: `${RUN}-main`, type: 'HyperGate', status: 'available', os_project_name: mainProject, os_region_name: 'RegionOne', os_username: 'admin', volume_availability_zone: 'nova', total_size: '1000 GB', used_size: 0, assign_size: 0 },
  );
  assert.deepEqual(detail0.storage_pools.data.map((x: any) => [x.name, x.protocol, x.status, x.total_size, x.is_registered, x.assign_size]), pools.map((x) => [x.name, 'local', 'available', 'Unknown', true, '0 GB']), 'Cinder\'s own pools (the peer\'s backend reports "infinite")');
  assert.deepEqual([detail0.volumes.data, detail0.volume_groups.data], [[], []]);
  const listed0 = (await r.api('GET', '/targets')).body.targets;
  assert.deepEqual(listed0.storages.find((s: any) => s.storage_id === tgt), {
    pools: [{ pool_display_name: pools[0]!.name, pool_uuid: tgt, storage_id: tgt }],
    storage_display_name: `${RUN}-main(Available volumes 10)`,
    storage_id: tgt,
    storage_name: `${RUN}-main`,
    volumes_allocated_num: 0,
    volumes_unused_num: 10,
  }, 'the project\'s volume quota (10) tells how many volumes are left');
  assert.equal(listed0.data.find((x: any) => x.uuid === tgt).cloud_type, 'OpenStack');
  assert.deepEqual(await gatewaysIn(admin, projectIds[0]!, gwName), [], 'adding and reading the target made no gateway');

  const resource = async (kind: string) => {
    const res = await r!.api('GET', `/targets/${tgt}/resources?kind=${kind}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.data as any[];
  };
  assert.ok((await resource('flavors')).some((f) => f.name === 'm1.tiny' && f.vcpus === 1));
  assert.ok((await resource('networks')).some((n) => n.name === 'public' && n['router:external'] === true));
  assert.ok((await resource('volume_types')).some((v) => v.name === 'standard'));
  const gigabytes = (await resource('quotas')).find((q) => q.id === 'volume.gigabytes');
  assert.ok(gigabytes && gigabytes.limit >= 1 && gigabytes.in_use === 0 && gigabytes.free === gigabytes.limit, JSON.stringify(gigabytes));
  assert.equal((await r.api('GET', `/targets/${tgt}/resources?kind=nonsense`)).status, 400);
  assert.deepEqual((await resource('security_groups')).map((g) => g.name), ['default'], 'the project\'s own groups only');
  assert.ok((await resource('availability_zones')).some((z) => z.id === 'nova' && z.available === true));

  // source and hosts
  const src = (await r.api('POST', '/sources', { type: 'Image', name: `${RUN}-imgs`, config: { path: images } })).body.data.id;
  await waitFor('source', async () => (await r!.api('GET', `/sources/${src}`)).body.source.status === 'connected');
  const offered = (await r.api('GET', `/sources/${src}/hosts`)).body.data as any[];
  const [id, bigId, keyId] = ['os-01', 'big-01', 'key-01'].map((n) => offered.find((h) => h.host_name === n).id as string) as [string, string, string];
  assert.equal((await r.api('POST', '/hosts/register', { ids: [id, bigId, keyId] })).status, 200);
  assert.equal((await r.api('PUT', '/hosts/target_platform', { ids: [id], storage_id: tgt, pool_id: tgt, step: '2' })).status, 200);

  // full sync: the gateway is created now, reached over SSH (its host key pinned), the volume attached
  const full = await rest.sync(id, 'full');
  assert.equal(full.h_host_status, 'sync_snapshot_done', JSON.stringify(full.detail));
  const gw = await gatewaysIn(admin, projectIds[0]!, gwName);
  assert.equal(gw.length, 1, 'one gateway instance, tagged, made by the sync');
  assert.equal(readFileSync(join(r.dataDir, 'work', 'targets', tgt, `gateway-${gw[0]!.id}.hostkey`), 'utf8').trim(), sshd.hostKey, 'the gateway host key is pinned on first use');
  const vols = (await admin.cinder.listVolumes({ all_tenants: 1, project_id: projectIds[0] })).filter((v) => v.metadata.rehost_host === id);
  assert.equal(vols.length, 1);
  const vol = vols[0]!;
  assert.equal(vol.name, 'sync_vol_os-01_os-01.raw', 'the seed\'s sync_vol_<host>_<disk file name>');
  assert.equal(vol.size, 1);
  assert.deepEqual(vol.attachments.map((a) => a.server_id), [gw[0]!.id], 'attached to the gateway');
  assert.ok(cmpRange(disk, volumeFile(vol.id), 96 * MiB), 'the Cinder volume equals the source after the full sync');
  assert.ok((await rest.lastJob(id, 'Sync')).steps.some((s: any) => s.name === 'Copy disk 0' && /verified/.test(s.detail ?? '')));

  // the target now shows the volume as Cinder sees it
  const detail1 = (await r.api('GET', `/targets/${tgt}`)).body;
  assert.deepEqual(detail1.volumes.data, [{ attach_status: 'attached', capacity: '1.0GB', 'connector:host': 'os-01', name: 'sync_vol_os-01_os-01.raw', 'source:pool_uuid': pools[0]!.name, status: 'in-use', uuid: vol.id }]);
  assert.deepEqual(detail1.volume_groups.data.map((g: any) => [g.name, g.Pool, g.attach_status, g.status]), [['hvg_sync_os-01', pools[0]!.name, 'attached', 'in-use']]);
  assert.equal(detail1.storage_pools.data.find((x: any) => x.name === pools[0]!.name).assign_size, '1 GB');
  const listed1 = (await r.api('GET', '/targets')).body.targets.storages.find((s: any) => s.storage_id === tgt);
  assert.deepEqual([listed1.volumes_allocated_num, listed1.volumes_unused_num], [1, 9]);

  const gen1 = sha256Head(disk, 96 * MiB);
  modifyBlocks(disk, 96, 10);
  const inc = await rest.sync(id, 'incremental');
  assert.equal(inc.h_host_status, 'sync_snapshot_done', JSON.stringify(inc.detail));
  assert.ok(cmpRange(disk, volumeFile(vol.id), 96 * MiB), 'the Cinder volume equals the source after the incremental sync');
  const copied = (await rest.lastJob(id, 'Sync')).steps.find((s: any) => s.name === 'Copy disk 0')?.detail ?? '';
  const sent = Number(/(\d+) chunks sent/.exec(copied)?.[1] ?? NaN);
  assert.ok(sent >= 1 && sent <= 4, `only the changed chunks cross to the gateway: ${copied}`);
  const log = readFileSync(join(r.dataDir, 'logs', 'rehost.log'), 'utf8');
  assert.match(log, new RegExp(`"volume":"${vol.id}","device":"${volumeFile(vol.id)}","by":"attachment".*sync volume found in the gateway`), 'the sink found the volume by the attachment path');
  const snaps = (await r.api('GET', `/hosts/${id}?sheet=snapshot`)).body;
  assert.equal(snaps.total, 2, JSON.stringify(snaps));
  const cinderSnaps = (await admin.cinder.listSnapshots({ all_tenants: '1', project_id: projectIds[0] })).filter((s) => s.metadata?.rehost_host === id);
  assert.ok(cinderSnaps.length === 2 && cinderSnaps.every((s) => s.status === 'available' && /^HyperMotion-/.test(s.name ?? '') && s.volume_id === vol.id));

  // a test boot from the first snapshot, in the dedicated project itself (no transfer)
  assert.equal((await r.api('POST', '/hosts', { ids: [id], next_step: { step: '4' } })).status, 200);
  const first = [...snaps.data].sort((a: any, b: any) => a.created_at.localeCompare(b.created_at) || a.snapshot_name.localeCompare(b.snapshot_name))[0];
  const testBoot = await rest.boot(id, { backup_type: 'volume_snapshot', snapshot_id: first.id, os_type: 'Linux', flavor_id: '1', network_id: publicNet });
  assert.equal(testBoot.job_status, 'done', JSON.stringify(testBoot));
  const testServer = await admin.nova.getServer((await rest.host(id)).cloud_instance_id);
  assert.equal(testServer.status, 'ACTIVE');
  assert.equal((await admin.nova.listServers({ all_tenants: '1', project_id: projectIds[0] })).filter((x) => x.id === testServer.id).length, 1, 'booted in the target\'s project');
  assert.equal(sha256Head(volumeFile(testServer['os-extended-volumes:volumes_attached']![0]!.id), 96 * MiB), gen1, 'the test boot sees the first sync\'s data');

  // a named gateway (gateway_server_id) with a wrong pinned host key: the sync is refused before any volume exists
  const quota = { ...base, os_project_name: quotaProject, os_password: p.admin.password, gateway_mode: 'dedicated', gateway_server_id: named.id, ...ssh };
  const badKey = await r.api('POST', '/targets', { type: 'HyperGate', name: `${RUN}-badkey`, config: { ...quota, gateway_host_key: `SHA256:${'Q'.repeat(43)}` } });
  const badKeyId = badKey.body.data.uuid;
  assert.equal((await rest.targetState(badKeyId)).target_status, 'active', 'the named instance exists and is ACTIVE');
  assert.equal((await r.api('PUT', '/hosts/target_platform', { ids: [keyId], storage_id: badKeyId, pool_id: badKeyId, step: '2' })).status, 200);
  const refusedKey = await rest.sync(keyId, 'full');
  assert.equal(refusedKey.h_host_status, 'sync_failed');
  assert.match((await rest.lastJob(keyId, 'Sync')).failure_reason, new RegExp(`gateway: the SSH host key of 127\\.0\\.0\\.1:${sshd.port} changed: pinned SHA256:Q+`));
  assert.equal((await admin.cinder.listVolumes({ all_tenants: 1, project_id: projectIds[1] })).length, 0, 'no volume was made');

  // quota: 1 GiB of volume quota, a host with a 1.5 GiB disk, the user's named instance as the gateway
  await admin.cinder.setQuotas(projectIds[1]!, { gigabytes: 1 });
  const small = await r.api('POST', '/targets', { type: 'HyperGate', name: `${RUN}-quota`, config: quota });
  const smallId = small.body.data.uuid;
  assert.equal((await rest.targetState(smallId)).target_status, 'active');
  assert.equal((await r.api('PUT', '/hosts/target_platform', { ids: [bigId], storage_id: smallId, pool_id: smallId, step: '2' })).status, 200);
  const refused = await rest.sync(bigId, 'full');
  assert.equal(refused.h_host_status, 'sync_failed');
  assert.match((await rest.lastJob(bigId, 'Sync')).failure_reason, /Cinder quota or capacity of project .*-quota is too small for host big-01's disks \(gigabytes: 2 GiB needed, 1 GiB of 1 GiB free\)/);
  assert.equal((await admin.cinder.listVolumes({ all_tenants: 1, project_id: projectIds[1] })).length, 0, 'nothing was created');
  await admin.cinder.setQuotas(projectIds[1]!, { gigabytes: 1000 });
  const retried = await rest.sync(bigId, 'full');
  assert.equal(retried.h_host_status, 'sync_snapshot_done', `the host is retryable: ${JSON.stringify(retried.detail)}`);
  const bigVol = (await admin.cinder.listVolumes({ all_tenants: 1, project_id: projectIds[1] })).find((v) => v.metadata.rehost_host === bigId)!;
  assert.deepEqual(bigVol.attachments.map((a) => a.server_id), [named.id], 'attached to the instance the user named');
  assert.deepEqual(await gatewaysIn(admin, projectIds[1]!, `HyperGate_${quotaProject}`), [], 'no gateway was made where one is named');

  // cleanup: Rehost's resources go; the gateway Rehost made goes, the named one stays
  await rest.clean([id, bigId, keyId]);
  for (const h of [id, bigId, keyId]) assert.equal((await rest.lastJob(h, 'Clean')).job_status, 'done', h);
  await assert.rejects(admin.nova.getServer(testServer.id), /not found/, 'cleanup deleted the test boot');
  assert.deepEqual(await gatewaysIn(admin, projectIds[0]!, gwName), [], 'the gateway Rehost made is gone');
  assert.equal((await admin.nova.getServer(named.id)).status, 'ACTIVE', 'the named gateway instance stays');
  // reading the target, and the engine's start, must not bring the deleted gateway back
  assert.equal((await r.api('GET', `/targets/${tgt}`)).status, 200);
  await r.stop();
  r = await startRehost({ dataDir: r.dataDir });
  await r.login();
  assert.equal((await restSteps(r).targetState(tgt)).target_status, 'active');
  assert.equal((await r.api('GET', `/targets/${tgt}`)).status, 200);
  assert.deepEqual(await gatewaysIn(admin, projectIds[0]!, gwName), [], 'no gateway re-created by reading or by the restart');
  for (const x of [badKeyId, smallId, tgt]) assert.equal((await r.api('DELETE', `/targets/${x}`)).status, 200);
  assert.deepEqual(await census(admin, projectIds), before, 'the cloud is left as it was');
});
