// The typed OpenStack client against a real OpenStack Zed on 127.0.0.1 (test/peers/openstack.ts:
// started here, or reused when one already runs). Skips with the reason when the peer cannot start.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { OpenStackClient, OpenStackError } from '../../src-main/targets/openstack/client/index.js';
import { skipOrFail, startOpenStack, type OpenStackPeer, type OpenStackUser } from '../peers/openstack.js';

let peer: OpenStackPeer | null = null;
let unavailable = 'the OpenStack peer was not started';
const RUN = `rehost-it-${process.pid}`;

before(async () => {
  try {
    peer = await startOpenStack();
    console.log(`# OpenStack peer ${peer.startedHere ? `started in ${peer.startSeconds.toFixed(0)} s` : 'reused (already running)'}`);
  } catch (err) {
    unavailable = `OpenStack peer cannot start: ${err instanceof Error ? err.message : String(err)}`;
  }
}, { timeout: 960_000 });

after(async () => {
  await peer?.stop();
}, { timeout: 180_000 });

function client(u: OpenStackUser, overrides: Partial<{ password: string; now: () => number }> = {}): OpenStackClient {
  const p = peer!;
  return new OpenStackClient({ authUrl: p.authUrl, region: p.region, ...u, password: overrides.password ?? u.password }, overrides.now);
}

/** Skips `t` when there is no peer; answers the peer otherwise. */
function need(t: TestContext): OpenStackPeer | null {
  if (peer === null) skipOrFail(t, unavailable);
  return peer;
}

/** Polls `get` until it answers 404. */
async function gone(get: () => Promise<unknown>, what: string): Promise<void> {
  for (let i = 0; i < 120; i++) {
    try {
      await get();
    } catch (err) {
      if (OpenStackError.isOpenStack(err, 404)) return;
      throw err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what} still there after 60 s`);
}

test('OpenStack: password auth, roles and catalog; microversions negotiated', async (t) => {
  const p = need(t);
  if (p === null) return;
  const os = client(p.admin);
  const info = await os.keystone.info();
  assert.equal(info.projectName, 'admin');
  assert.ok(info.roles.includes('admin'));
  for (const type of ['compute', 'volumev3', 'network', 'image'] as const) assert.match(await os.keystone.endpoint(type), /^http:\/\/127\.0\.0\.1:\d+/);
  assert.match(await os.nova.ready(), /^2\.\d+$/);
  assert.match(await os.cinder.ready(), /^3\.\d+$/);
  await os.close();
});

test('OpenStack: a wrong password is a clear error', async (t) => {
  const p = need(t);
  if (p === null) return;
  const os = client(p.demo, { password: 'not-the-password' });
  await assert.rejects(os.nova.listFlavors(), (e: unknown) => {
    assert.ok(OpenStackError.isOpenStack(e, 401), String(e));
    assert.equal(e.service, 'identity');
    assert.match(e.message, /OpenStack rejected the credentials: wrong user name, password, domain or project/);
    assert.doesNotMatch(e.message, /not-the-password/);
    return true;
  });
});

test('OpenStack: a revoked token and one near expiry are renewed transparently', async (t) => {
  const p = need(t);
  if (p === null) return;
  let skew = 0;
  const os = client(p.demo, { now: () => Date.now() + skew });
  await os.nova.listFlavors();
  const first = await os.keystone.token();
  const res = await fetch(`${p.authUrl}/auth/tokens`, { method: 'DELETE', headers: { 'x-auth-token': first, 'x-subject-token': first } });
  assert.equal(res.status, 204);
  // Nova's keystonemiddleware caches a validated token for minutes, so ask a service that has not
  // seen this one yet: Cinder validates it with Keystone, gets "revoked" and answers 401.
  assert.ok(Array.isArray(await os.cinder.listVolumes()));
  assert.equal(os.keystone.authentications, 2);
  const second = await os.keystone.token();
  assert.notEqual(second, first);
  // Keystone's tokens live an hour: move the clock to within the 5-minute renewal margin
  skew = (await os.keystone.info()).expiresAt - Date.now() - 60_000;
  assert.ok((await os.neutron.listNetworks()).length > 0);
  assert.equal(os.keystone.authentications, 3);
  await os.close();
});

test('OpenStack: resources visible to a member (flavors, networks, subnets, security groups, keypairs, zones, types, quotas, images)', async (t) => {
  const p = need(t);
  if (p === null) return;
  const os = client(p.demo);
  assert.ok((await os.nova.listFlavors()).some((f) => f.name === 'm1.tiny' && f.vcpus === 1));
  const nets = await os.neutron.listNetworks();
  const pub = nets.find((n) => n.name === 'public');
  assert.ok(pub && pub['router:external']);
  assert.ok((await os.neutron.listSubnets({ network_id: pub.id })).some((s) => s.cidr === '203.0.113.0/24'));
  assert.ok((await os.neutron.listSecurityGroups()).some((g) => g.name === 'default'));
  assert.ok(Array.isArray(await os.nova.listKeypairs()));
  assert.ok((await os.nova.listAvailabilityZones()).some((z) => z.zoneState.available));
  assert.ok((await os.cinder.listVolumeTypes()).some((vt) => vt.name === 'standard'));
  const quotas = await os.cinder.quotas();
  const volumes = quotas.volumes;
  assert.ok(typeof volumes === 'object' && typeof volumes.limit === 'number' && typeof volumes.in_use === 'number');
  assert.equal(typeof (await os.cinder.limits()).maxTotalVolumeGigabytes, 'number');
  assert.ok(Array.isArray(await os.glance.listImages()));
  await os.close();
});

test('OpenStack: 1 GiB volume and its snapshot are created and deleted; the cloud is left as it was', async (t) => {
  const p = need(t);
  if (p === null) return;
  const os = client(p.demo);
  const before = { volumes: (await os.cinder.listVolumes()).length, snapshots: (await os.cinder.listSnapshots()).length };
  const vol = await os.cinder.createVolume({ size: 1, name: `${RUN}-vol`, volume_type: 'standard' });
  try {
    const ready = await os.cinder.waitVolume(vol.id, 'available', { timeoutMs: 120_000 });
    assert.equal(ready.size, 1);
    const snap = await os.cinder.createSnapshot(vol.id, `${RUN}-snap`);
    await os.cinder.waitSnapshot(snap.id, 'available', { timeoutMs: 120_000 });
    assert.ok((await os.cinder.listSnapshots()).some((s) => s.id === snap.id && s.volume_id === vol.id));
    await assert.rejects(os.cinder.deleteVolume(vol.id), (e: unknown) => OpenStackError.isOpenStack(e, 400) || OpenStackError.isOpenStack(e, 409));
    await os.cinder.deleteSnapshot(snap.id);
    await gone(() => os.cinder.getSnapshot(snap.id), `snapshot ${snap.id}`);
  } finally {
    await os.cinder.deleteVolume(vol.id, { cascade: true }).catch(() => undefined);
    await gone(() => os.cinder.getVolume(vol.id), `volume ${vol.id}`);
  }
  assert.deepEqual({ volumes: (await os.cinder.listVolumes()).length, snapshots: (await os.cinder.listSnapshots()).length }, before);
  await os.close();
});

test('OpenStack: quota exceeded answers 413, mapped to a clear error', async (t) => {
  const p = need(t);
  if (p === null) return;
  const admin = client(p.admin);
  const demo = client(p.demo);
  const [project] = await admin.keystone.projects('demo');
  assert.ok(project, 'the demo project exists');
  const previous = (await admin.cinder.quotas(project.id)).gigabytes;
  assert.ok(typeof previous === 'object');
  const countBefore = (await demo.cinder.listVolumes()).length;
  await admin.cinder.setQuotas(project.id, { gigabytes: 1 });
  try {
    await assert.rejects(demo.cinder.createVolume({ size: 2, name: `${RUN}-too-big` }), (e: unknown) => {
      assert.ok(OpenStackError.isOpenStack(e, 413), String(e));
      assert.ok(e.quotaExceeded);
      assert.equal(e.code, 'UNPROCESSABLE');
      assert.match(e.message, /^Cinder: quota exceeded in the project for POST \/v3\/[0-9a-f]+\/volumes; raise the quota or free resources \(413\): .*[Qq]uota/);
      return true;
    });
  } finally {
    await admin.cinder.setQuotas(project.id, { gigabytes: previous.limit });
  }
  const restored = (await admin.cinder.quotas(project.id)).gigabytes;
  assert.equal(typeof restored === 'object' ? restored.limit : restored, previous.limit);
  assert.equal((await demo.cinder.listVolumes()).length, countBefore);
  await admin.close();
  await demo.close();
});

test('OpenStack: attachment gives the device path; port with a fixed IP (taken → 409); boot from volume; cleanup', async (t) => {
  const p = need(t);
  if (p === null) return;
  const os = client(p.demo);
  const count = async () => ({
    volumes: (await os.cinder.listVolumes()).length,
    ports: (await os.neutron.listPorts()).length,
    networks: (await os.neutron.listNetworks()).length,
    servers: (await os.nova.listServers()).length,
  });
  const before = await count();
  const net = await os.neutron.createNetwork(`${RUN}-net`);
  const subnetId = (await os.neutron.createSubnet({ network_id: net.id, cidr: '10.77.0.0/24', name: `${RUN}-sub` })).id;
  const ip = '10.77.0.42';
  const vol = await os.cinder.createVolume({ size: 1, name: `${RUN}-boot`, volume_type: 'standard' });
  let portId: string | null = null;
  let serverId: string | null = null;
  try {
    await os.cinder.waitVolume(vol.id, 'available', { timeoutMs: 120_000 });
    const att = await os.cinder.createAttachment(vol.id, null, { host: `${RUN}-gw`, initiator: `iqn.2026-11.rehost:${RUN}`, platform: 'x86_64', os_type: 'linux', multipath: false });
    assert.equal(att.connection_info?.device_path, `/tmp/rehost-openstack/state/cinder/volumes/volume-${vol.id}`);
    await os.cinder.completeAttachment(att.id);
    assert.equal((await os.cinder.getVolume(vol.id)).status, 'in-use');
    await os.cinder.deleteAttachment(att.id);
    await os.cinder.waitVolume(vol.id, 'available', { timeoutMs: 60_000 });
    await os.cinder.volumeAction(vol.id, { 'os-set_bootable': { bootable: true } });
    const port = await os.neutron.createPort({ network_id: net.id, name: `${RUN}-port`, fixed_ips: [{ subnet_id: subnetId, ip_address: ip }] });
    portId = port.id;
    assert.deepEqual((await os.neutron.portsWithIp(subnetId, ip)).map((x) => x.id), [port.id]);
    await assert.rejects(os.neutron.createPort({ network_id: net.id, fixed_ips: [{ subnet_id: subnetId, ip_address: ip }] }), (e: unknown) => {
      assert.ok(OpenStackError.isOpenStack(e, 409), String(e));
      assert.match(e.message, new RegExp(`^Neutron: conflict .*${ip.replace(/\./g, '\\.')}`));
      return true;
    });
    const flavor = (await os.nova.listFlavors()).find((f) => f.name === 'm1.tiny')!;
    const created = await os.nova.createServer({
      name: `${RUN}-vm`,
      flavorRef: flavor.id,
      networks: [{ port: port.id }],
      block_device_mapping_v2: [{ boot_index: 0, uuid: vol.id, source_type: 'volume', destination_type: 'volume', delete_on_termination: false }],
    });
    serverId = created.id;
    const server = await os.nova.waitServer(created.id, 'ACTIVE', { timeoutMs: 120_000 });
    assert.deepEqual(server['os-extended-volumes:volumes_attached']?.map((v) => v.id), [vol.id]);
    assert.ok(Object.values(server.addresses).flat().some((a) => a.addr === ip));
  } finally {
    if (serverId !== null) {
      await os.nova.deleteServer(serverId).catch(() => undefined);
      await os.nova.waitServerGone(serverId, { timeoutMs: 120_000 });
      await os.cinder.waitVolume(vol.id, 'available', { timeoutMs: 120_000 });
    }
    if (portId !== null) await os.neutron.deletePort(portId).catch(() => undefined);
    // a failed step may leave an attachment holding the volume `reserved` or `in-use`
    for (const a of await os.cinder.listAttachments({ volume_id: vol.id }).catch(() => [])) await os.cinder.deleteAttachment(a.id).catch(() => undefined);
    await os.cinder.deleteVolume(vol.id, { cascade: true }).catch(() => undefined);
    await gone(() => os.cinder.getVolume(vol.id), `volume ${vol.id}`);
    await os.neutron.deleteNetwork(net.id);
  }
  assert.deepEqual(await count(), before);
  await os.close();
});
