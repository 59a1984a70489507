// OpenStack boots at the driver level (OpenStackMachines) against a real OpenStack Zed on
// 127.0.0.1 (test/peers/openstack.ts): test boot from a Cinder snapshot with flavor, network,
// fixed IP, security group, a new floating IP, a key pair, a zone, cloud-init user data and the
// os_type image properties; the conflict check; a taken fixed IP; a cutover as a flattened clone
// (no backup used) and one into the demo project by volume transfer (backup → restore); Cinder's
// 413 named and the snapshot quota checked first, in a throwaway project; cleanup back to the
// counts before. The sync itself is not run here: the source volume's bytes are written straight
// into the peer's file-backed volume (the data plane the peer fakes), then snapshotted. Without a
// peer: skips with the reason, or fails in CI.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RehostError } from '../../src-shared/errors.js';
import type { Host, Snapshot, Volume } from '../../src-main/core/model.js';
import type { Logger } from '../../src-main/core/ports.js';
import { OpenStackClient, OpenStackError } from '../../src-main/targets/openstack/client/index.js';
import type { OpenStackContext } from '../../src-main/targets/openstack/context.js';
import { OpenStackMachines } from '../../src-main/targets/openstack/machines.js';
import { BootConflictError } from '../../src-main/targets/openstack/conflicts.js';
import { createBootPort } from '../../src-main/targets/openstack/boot-network.js';
import type { BootPlan } from '../../src-main/targets/openstack/boot-resolve.js';
import { OPENSTACK_LAB, skipOrFail, startOpenStack, type OpenStackPeer, type OpenStackUser } from '../peers/openstack.js';
import { waitFor } from '../harness.js';
import { createVault } from '../../src-main/core/driver-pool.js';
import { openEncryptedFileStore } from '../../src-main/secrets/index.js';
import { createVolumeChecked } from '../../src-main/targets/openstack/capacity.js';
import { OpenStackSnapshots } from '../../src-main/targets/openstack/snapshots.js';

const RUN = `rh-boot-${process.pid}`;
/** Host ids of this run (other runs may share the cloud: their resources carry other ids). */
const HOSTS = ['boot', 'other', 'ip', 'err', 'clone'].map((h) => `h-${h}-${process.pid}`);
const [HOST, OTHER, IP_HOST, ERR_HOST, CLONE_HOST] = HOSTS as [string, string, string, string, string];
const GiB = 1024 ** 3;
const MARK = `REHOST-BOOT-TEST ${RUN}`;
const volumeFile = (id: string) => join(OPENSTACK_LAB, 'state', 'cinder', 'volumes', `volume-${id}`);

let peer: OpenStackPeer | null = null;
let unavailable = 'the OpenStack peer was not started';
let admin: OpenStackClient;
let demo: OpenStackClient;
let workDir = '';
const logs: string[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
/** Shared state of the sequential tests below. */
const lab = {} as {
  ctx: OpenStackContext;
  machines: OpenStackMachines;
  host: Host;
  volumes: Volume[];
  snapshot: Snapshot;
  sourceId: string;
  snapshotId: string;
  publicId: string;
  adminNet: { networkId: string; subnetId: string; securityGroupId: string };
  demoNet: { networkId: string; subnetId: string };
  before: Counts;
  testInstance: string;
  keypair: { name: string; publicKey: string };
  clone: { host: Host; instanceId: string; volumeId: string };
};

function logger(): Logger {
  const write = (level: string) => (obj: object | string, msg?: string) => void logs.push(`${level} ${typeof obj === 'string' ? obj : JSON.stringify(obj)} ${msg ?? ''}`);
  const log: Logger = { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'), child: () => log };
  return log;
}

const client = (u: OpenStackUser) => new OpenStackClient({ authUrl: peer!.authUrl, region: peer!.region, ...u });

/** Skips `t` when there is no peer or the lab setup failed. */
function need(t: TestContext): boolean {
  if (peer === null) skipOrFail(t, unavailable);
  return peer !== null;
}

interface Counts {
  admin: Record<string, number>;
  demo: Record<string, number>;
}

/**
 * Resources per project, leaving out what other Rehost test runs sharing this cloud make meanwhile
 * (tagged for another host, named by another run, or a port of such a server).
 */
async function count(): Promise<Counts> {
  const mine = new Set(HOSTS);
  const foreign = (x: object): boolean => {
    const { metadata, description, name } = x as { metadata?: Record<string, string> | null; description?: string | null; name?: string | null };
    if (metadata?.rehost_host !== undefined && !mine.has(metadata.rehost_host)) return true;
    if (typeof description === 'string' && description.startsWith('rehost:') && !mine.has(description.slice(7))) return true;
    return typeof name === 'string' && /^(rehost-|HyperGate_|sync_vol_|rh-boot-)/.test(name) && !name.startsWith(RUN);
  };
  const of = async (c: OpenStackClient) => {
    const project = (await c.keystone.info()).projectId;
    const mineVolumes = new Set((await c.cinder.listVolumes()).filter((v) => !foreign(v)).map((v) => v.id));
    const servers = await c.nova.listServers();
    const others = new Set(servers.filter(foreign).map((s) => s.id));
    // router and DHCP ports (network:*) belong to the lab networks, which other runs make too
    const ports = (await c.neutron.listPorts({ project_id: project })).filter((p) => !foreign(p) && !others.has(p.device_id) && !p.device_owner.startsWith('network:'));
    return {
      servers: servers.length - others.size,
      ports: ports.length,
      floatingIps: (await c.neutron.listFloatingIps({ project_id: project })).filter((f) => !foreign(f) && !(f.port_id !== null && !ports.some((p) => p.id === f.port_id))).length,
      volumes: (await c.cinder.listVolumes()).filter((v) => !foreign(v)).length,
      snapshots: (await c.cinder.listSnapshots()).filter((x) => !foreign(x)).length,
      backups: (await c.cinder.listBackups()).filter((b) => !foreign(b)).length,
      // a transfer is named after its volume: only those of this run's volumes count
      transfers: (await c.cinder.listTransfers()).filter((x) => mineVolumes.has(x.volume_id)).length,
    };
  };
  return { admin: await of(admin), demo: await of(demo) };
}

/** A network with a subnet and a router to `public` (a floating IP needs the router). */
async function tenantNetwork(c: OpenStackClient, cidr: string, publicId: string): Promise<{ networkId: string; subnetId: string }> {
  const net = await c.neutron.createNetwork(`${RUN}-net`);
  cleanups.push(() => c.neutron.deleteNetwork(net.id));
  const subnet = await c.neutron.createSubnet({ network_id: net.id, cidr, name: `${RUN}-sub` });
  const router = (await c.neutron.http.request<{ router: { id: string } }>('POST', '/v2.0/routers', { body: { router: { name: `${RUN}-router`, external_gateway_info: { network_id: publicId } } } })).router;
  cleanups.push(() => c.neutron.http.request('DELETE', `/v2.0/routers/${router.id}`));
  await c.neutron.http.request('PUT', `/v2.0/routers/${router.id}/add_router_interface`, { body: { subnet_id: subnet.id } });
  cleanups.push(() => c.neutron.http.request('PUT', `/v2.0/routers/${router.id}/remove_router_interface`, { body: { subnet_id: subnet.id } }));
  return { networkId: net.id, subnetId: subnet.id };
}

function makeHost(id: string, name: string): Host {
  const now = Date.now();
  return {
    id, sourceId: 'src', sourceRef: 'ref', name, hostType: 'Agent', systemType: 'Linux', osVersion: 'Debian 12', firmware: 'bios', cpus: 1, memoryMiB: 512, ip: null, mac: null,
    disks: [{ index: 0, name: 'vda', sizeBytes: GiB, isBoot: true }], nics: [], checks: [], status: 'sync_snapshot_done', bootStatus: 'not_boot', healthStatus: 'health_ok' as Host['healthStatus'],
    step: '4', targetId: 't1', poolId: null, transferSpeed: null, syncStrategy: { doSnapshot: true, autoTrigger: false, interval: 1, intervalUnit: 'day' as Host['syncStrategy']['intervalUnit'], quota: 3, startTime: null },
    cloudInstanceId: null, lastProjectName: null, failedJobId: null, licenseId: null, description: null, progress: null, lastSyncAt: null, syncCount: 1, markers: {}, createdAt: now, updatedAt: now,
  };
}

before(async () => {
  try {
    peer = await startOpenStack();
  } catch (err) {
    unavailable = `OpenStack peer cannot start: ${err instanceof Error ? err.message : String(err)}`;
    return;
  }
  admin = client(peer.admin);
  demo = client(peer.demo);
  workDir = await mkdtemp(join(tmpdir(), 'rehost-os-boot-'));
  const adminProject = (await admin.keystone.info()).projectId;
  lab.ctx = {
    client: admin,
    config: {
      authUrl: peer.authUrl, username: 'admin', projectName: 'admin', userDomainId: 'default', projectDomainId: 'default', region: peer.region, volumeAvailabilityZone: null, volumeType: 'standard',
      endpointInterface: 'public', cutoverCopy: 'auto',
      gateway: { mode: 'dedicated', serverId: null, imageId: null, flavorId: null, networkId: null, address: null, sshPort: 22, username: 'root', hostKey: null, sudo: false },
    },
    secret: { os_password: peer.admin.password },
    log: logger(),
    workDir,
    vault: createVault(await openEncryptedFileStore({ dataDir: workDir }), 'target:boot-test:vault'),
    volumeProjectId: () => Promise.resolve(adminProject),
  };
  lab.machines = new OpenStackMachines(lab.ctx);
  lab.before = await count();
  lab.publicId = (await admin.neutron.listNetworks({ name: 'public' }))[0]!.id;
  lab.adminNet = {
    ...(await tenantNetwork(admin, '10.78.0.0/24', lab.publicId)),
    securityGroupId: (await admin.neutron.listSecurityGroups({ name: 'default', project_id: adminProject }))[0]!.id,
  };
  lab.demoNet = await tenantNetwork(demo, '10.79.0.0/24', lab.publicId);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', RUN, '-f', join(workDir, 'key')]);
  const publicKey = (await readFile(join(workDir, 'key.pub'), 'utf8')).trim();
  lab.keypair = { name: `${RUN}-key`, publicKey };
  await admin.nova.createKeypair(lab.keypair.name, publicKey);
  cleanups.push(() => admin.nova.deleteKeypair(lab.keypair.name));
  // the "synced" sync volume: real bytes in the peer's file-backed volume, then a Cinder snapshot
  const source = await admin.cinder.createVolume({ size: 1, name: `${RUN}-sync`, volume_type: 'standard', metadata: { rehost_host: HOST, rehost_role: 'sync' } });
  lab.sourceId = source.id;
  await admin.cinder.waitVolume(source.id, 'available', { timeoutMs: 120_000 });
  const fh = await open(volumeFile(source.id), 'r+');
  await fh.write(Buffer.from(MARK), 0, MARK.length, 0);
  await fh.write(Buffer.from(MARK), 0, MARK.length, 512 * 1024 * 1024);
  await fh.close();
  const snap = await admin.cinder.createSnapshot(source.id, `${RUN}-snap`, { force: true });
  lab.snapshotId = snap.id;
  await admin.cinder.waitSnapshot(snap.id, 'available', { timeoutMs: 120_000 });
  lab.host = makeHost(HOST, RUN);
  const now = Date.now();
  lab.volumes = [{ id: 'vol-0', hostId: lab.host.id, targetId: 't1', diskIndex: 0, name: `sync_vol_${RUN}_0`, sizeBytes: GiB, status: 'available', ref: source.id, createdAt: now }];
  lab.snapshot = { id: 'snap-1', hostId: lab.host.id, targetId: 't1', name: 'snap-1', status: 'create_done', sizeBytes: GiB, reason: null, ref: snap.id, createdAt: now };
}, { timeout: 960_000 });

after(async () => {
  if (peer === null) return;
  const signal = AbortSignal.timeout(300_000);
  // whatever a failed test left: the host's boot resources, then the lab's own pieces
  await lab.machines?.cleanup(lab.host, true, signal, 'all').catch((err: unknown) => console.log(`# cleanup: ${String(err)}`));
  if (lab.clone) await lab.machines.cleanup(lab.clone.host, true, signal, 'all').catch((err: unknown) => console.log(`# cleanup: ${String(err)}`));
  await admin.cinder.deleteSnapshot(lab.snapshotId).catch(() => undefined);
  for (let i = 0; i < 60 && (await admin.cinder.getSnapshot(lab.snapshotId).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 1000));
  await admin.cinder.deleteVolume(lab.sourceId, { cascade: true }).catch(() => undefined);
  for (const undo of cleanups.reverse()) await undo().catch((err: unknown) => console.log(`# lab cleanup: ${String(err)}`));
  await admin.close();
  await demo.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
  await peer.stop();
}, { timeout: 600_000 });

function adminOptions(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    os_type: 'Linux', flavor_id: '1', network_id: lab.adminNet.networkId, subnet_id: lab.adminNet.subnetId, fixed_ip: '10.78.0.50',
    security_group_id: lab.adminNet.securityGroupId, floating_network_id: lab.publicId, admin_pass: 'Adm1n-pass-never-logged', boot_timeout_seconds: 180, ...extra,
  };
}

test('OpenStack boot: bad options are refused before anything is made, naming the field', async (t) => {
  if (!need(t)) return;
  const refuses = async (options: Record<string, unknown>, field: string, text: RegExp) => {
    await assert.rejects(lab.machines.check(lab.host, lab.volumes, options), (e: unknown) => {
      assert.ok(RehostError.is(e, 'VALIDATION'), String(e));
      assert.equal(e.context.field, field);
      assert.match(e.message, text);
      return true;
    });
  };
  await refuses(adminOptions({ flavor_id: 'no-such-flavor' }), 'boot.flavor_id', /unknown flavor no-such-flavor/);
  await refuses(adminOptions({ flavor_id: '1', flavor_ram: '2' }), 'boot.flavor_id', /m1\.tiny .* smaller than the asked at least 2048 MiB RAM/);
  await refuses(adminOptions({ network_id: 'no-such-net' }), 'boot.network_id', /unknown network/);
  await refuses(adminOptions({ fixed_ip: '10.99.0.5' }), 'boot.fixed_ip', /not in subnet .*10\.78\.0\.0\/24/);
  await refuses(adminOptions({ security_group_id: 'nope' }), 'boot.security_group_id', /unknown security group/);
  await refuses(adminOptions({ keypair_id: 'nope' }), 'boot.keypair_id', /unknown key pair/);
  await refuses(adminOptions({ availability_zone_id: 'mars' }), 'boot.availability_zone_id', /unknown availability zone mars/);
  await refuses(adminOptions({ floating_ip_id: 'x' }), 'boot.floating_network_id', /either floating_ip_id .* or floating_network_id/);
  await refuses(adminOptions({ floating_network_id: lab.adminNet.networkId }), 'boot.floating_network_id', /not external/);
  await refuses(adminOptions({ project_name: 'demo', user_name: 'demo', user_password: 'wrong-Pa55' }), 'boot.user_name', /OpenStack refused user demo in project demo/);
  const shared = new OpenStackMachines({ ...lab.ctx, config: { ...lab.ctx.config, gateway: { ...lab.ctx.config.gateway, mode: 'shared' } } });
  await assert.rejects(shared.check(lab.host, lab.volumes, adminOptions()), (e: unknown) => RehostError.is(e, 'VALIDATION') && e.context.field === 'boot.project_name');
  assert.ok(!logs.join('\n').includes('wrong-Pa55'), 'the wrong password was logged');
  // the smallest flavor with 1 GiB and 1 vCPU is m1.small (2 GiB): check passes with sizes instead of an id
  await lab.machines.check(lab.host, lab.volumes, adminOptions({ flavor_id: '', flavor_ram: '1', flavor_vcpus: '1' }));
});

test('OpenStack boot: test boot from a snapshot with flavor, network, fixed IP, security group, a new floating IP, key pair and zone', async (t) => {
  if (!need(t)) return;
  const options = adminOptions({ keypair_id: lab.keypair.name, availability_zone_id: 'nova' });
  await lab.machines.check(lab.host, lab.volumes, options);
  const result = await lab.machines.boot(lab.host, lab.volumes, { backupType: 'volume_snapshot', snapshot: lab.snapshot, options, signal: AbortSignal.timeout(300_000) });
  lab.testInstance = result.instanceId;
  const server = await admin.nova.getServer(result.instanceId);
  assert.equal(server.status, 'ACTIVE');
  assert.equal(server.name, RUN);
  assert.match(result.detail, /test boot: server .* ACTIVE in project admin/);
  assert.match(result.detail, /floating IP 203\.0\.113\.\d+/);
  assert.match(result.detail, new RegExp(`root password and key pair ${lab.keypair.name} set through cloud-init user data`));
  assert.match(result.detail, /zone nova; boot volume image properties os_type=linux, os_distro=debian/);
  assert.doesNotMatch(result.detail + logs.join('\n'), /Adm1n-pass-never-logged/);
  // what a cloud-init guest reads: the password for root and the key pair's public key
  const raw = server as unknown as Record<string, unknown>;
  assert.equal(raw.key_name, lab.keypair.name);
  assert.equal(raw['OS-EXT-AZ:availability_zone'], 'nova');
  const userData = Buffer.from(String(raw['OS-EXT-SRV-ATTR:user_data']), 'base64').toString('utf8');
  assert.match(userData, /^#cloud-config\n/);
  assert.ok(userData.includes('password: "Adm1n-pass-never-logged"') && userData.includes('"root:Adm1n-pass-never-logged"'), userData);
  assert.ok(userData.includes(`- ${JSON.stringify(lab.keypair.publicKey)}`) && userData.includes('disable_root: false'), userData);
  const [port] = await admin.neutron.listPorts({ device_id: result.instanceId });
  assert.ok(port, 'the server has a port');
  assert.deepEqual(port.fixed_ips.map((f) => f.ip_address), ['10.78.0.50']);
  assert.deepEqual(port.security_groups, [lab.adminNet.securityGroupId]);
  const fips = await admin.neutron.listFloatingIps({ port_id: port.id });
  assert.equal(fips.length, 1);
  const attached = server['os-extended-volumes:volumes_attached']!.map((v) => v.id);
  assert.equal(attached.length, 1);
  const bootVolume = await admin.cinder.getVolume(attached[0]!);
  assert.equal(bootVolume.snapshot_id, lab.snapshotId, 'a test boot volume comes from the chosen snapshot');
  assert.deepEqual({ host: bootVolume.metadata.rehost_host, role: bootVolume.metadata.rehost_role, kind: bootVolume.metadata.rehost_boot }, { host: lab.host.id, role: 'boot', kind: 'test' });
  assert.equal(bootVolume.availability_zone, 'nova');
  assert.deepEqual({ os_type: bootVolume.volume_image_metadata?.os_type, os_distro: bootVolume.volume_image_metadata?.os_distro }, { os_type: 'linux', os_distro: 'debian' }, 'Nova reads these as the image properties of a boot volume');
  const bytes = await readFile(volumeFile(bootVolume.id));
  assert.equal(bytes.subarray(512 * 1024 * 1024, 512 * 1024 * 1024 + MARK.length).toString(), MARK, 'the boot volume holds the snapshot\'s bytes');
  assert.equal(typeof (await lab.machines.console({ ...lab.host, cloudInstanceId: result.instanceId })), 'string');
  // a second test boot replaces the first (same name, same fixed IP): no conflict with itself
  await lab.machines.check(lab.host, lab.volumes, options);
});

test('OpenStack boot: server name, volume name and fixed IP in use are reported together', async (t) => {
  if (!need(t)) return;
  const other = makeHost(OTHER, RUN);
  await assert.rejects(lab.machines.check(other, lab.volumes, adminOptions()), (e: unknown) => {
    assert.ok(e instanceof BootConflictError, String(e));
    assert.equal(e.status, 409);
    assert.equal(e.context.field, 'boot');
    assert.deepEqual(e.conflicts, { serverName: RUN, volumeNames: [`${RUN}_disk0`], ips: [{ networkId: lab.adminNet.networkId, ips: ['10.78.0.50'] }] });
    assert.match(e.message, /a server named .* already exists; volume name already in use: .*_disk0; fixed IP 10\.78\.0\.50 already in use/);
    return true;
  });
});

test('OpenStack boot: a taken fixed IP fails with a clear error and leaves nothing behind', async (t) => {
  if (!need(t)) return;
  const before = await count();
  const other = makeHost(IP_HOST, `${RUN}-ip`);
  await assert.rejects(lab.machines.boot(other, lab.volumes, { backupType: 'volume_snapshot', snapshot: lab.snapshot, options: adminOptions(), signal: AbortSignal.timeout(300_000) }), (e: unknown) => {
    assert.ok(RehostError.is(e, 'CONFLICT'), String(e));
    assert.equal(e.context.field, 'boot.fixed_ip');
    assert.match(e.message, /fixed IP 10\.78\.0\.50 already in use/);
    return true;
  });
  assert.deepEqual(await count(), before);
  // the same IP taken between the check and the port (Neutron's 409) is named the same way
  const plan = { network: await admin.neutron.getNetwork(lab.adminNet.networkId), subnet: await admin.neutron.getSubnet(lab.adminNet.subnetId), fixedIp: '10.78.0.50', securityGroupIds: [] } as unknown as BootPlan;
  await assert.rejects(createBootPort(admin, other.id, other.name, plan, AbortSignal.timeout(60_000)), (e: unknown) => {
    assert.ok(RehostError.is(e, 'CONFLICT') && e.context.field === 'boot.fixed_ip', String(e));
    assert.match(e.message, /^boot\.fixed_ip: 10\.78\.0\.50 is already in use on network /);
    return true;
  });
  assert.deepEqual(await count(), before);
});

test('OpenStack boot: a server that goes to ERROR fails with its fault message and leaves nothing behind', async (t) => {
  if (!need(t)) return;
  // more memory than the fake hypervisor has (within the admin quota): the scheduler finds no host
  await admin.nova.ready();
  const flavorId = `${RUN}-huge`;
  await admin.nova.http.request('POST', '/flavors', { body: { flavor: { id: flavorId, name: flavorId, ram: 1_900_000, vcpus: 1, disk: 0 } } });
  cleanups.push(() => admin.nova.http.request('DELETE', `/flavors/${flavorId}`));
  const before = await count();
  const other = makeHost(ERR_HOST, `${RUN}-err`);
  const options = adminOptions({ flavor_id: flavorId, fixed_ip: '10.78.0.51' });
  await assert.rejects(lab.machines.boot(other, lab.volumes, { backupType: 'volume_snapshot', snapshot: lab.snapshot, options, signal: AbortSignal.timeout(300_000) }), (e: unknown) => {
    assert.ok(RehostError.is(e, 'DRIVER'), String(e));
    assert.match(e.message, /server .*-err did not become ACTIVE: .*ERROR: .*[Nn]o valid host/);
    return true;
  });
  assert.deepEqual(await count(), before);
});

test('OpenStack boot: cutover as a flattened clone (a cloud without a usable backup service): independent volume, no backup used', async (t) => {
  if (!need(t)) return;
  // `cutover_copy: clone` takes the path a cloud without cinder-backup takes (the shared peer's
  // backup service cannot be switched off without disturbing other runs)
  const machines = new OpenStackMachines({ ...lab.ctx, config: { ...lab.ctx.config, cutoverCopy: 'clone' } });
  const host = makeHost(CLONE_HOST, `${RUN}-clone`);
  const options = adminOptions({ fixed_ip: '10.78.0.52', floating_network_id: '', admin_pass: '' });
  const backupsBefore = (await admin.cinder.listBackups()).length;
  const result = await machines.boot(host, lab.volumes, { backupType: 'volume_backup', snapshot: lab.snapshot, options, signal: AbortSignal.timeout(600_000) });
  assert.match(result.detail, /cutover: server .*-clone .* ACTIVE in project admin/);
  assert.match(result.detail, /volumes: flattened clone \(volume from the snapshot, cloned, the intermediate deleted\)/);
  const server = await admin.nova.getServer(result.instanceId);
  const volumeId = server['os-extended-volumes:volumes_attached']![0]!.id;
  const volume = await admin.cinder.getVolume(volumeId);
  assert.equal(volume.snapshot_id, null, 'the cutover volume names no snapshot');
  assert.ok(volume.source_volid, 'it is a clone of a volume');
  await assert.rejects(admin.cinder.getVolume(volume.source_volid!), (e: unknown) => OpenStackError.isOpenStack(e, 404), 'the intermediate volume from the snapshot is gone');
  assert.equal(volume.name, `${RUN}-clone_disk0`);
  assert.equal(volume.metadata.rehost_boot, 'cutover');
  assert.equal((await admin.cinder.listBackups()).length, backupsBefore, 'no backup was made');
  const bytes = await readFile(volumeFile(volumeId));
  assert.equal(bytes.subarray(512 * 1024 * 1024, 512 * 1024 * 1024 + MARK.length).toString(), MARK, 'the clone holds the snapshot\'s bytes');
  lab.clone = { host, instanceId: result.instanceId, volumeId };
});

test('OpenStack boot: cutover into the demo project by volume transfer; independent of the snapshot; cleanup', async (t) => {
  if (!need(t)) return;
  const options = {
    os_type: 'Linux', project_name: 'demo', project_domain_id: 'default', user_name: 'demo', user_domain_id: 'default', user_password: peer!.demo.password,
    flavor_name: 'm1.tiny', network_id: lab.demoNet.networkId, fixed_ip: '10.79.0.60', security_group_name: 'default', floating_network_id: lab.publicId, boot_timeout_seconds: 180,
  };
  await lab.machines.check(lab.host, lab.volumes, options);
  const result = await lab.machines.boot(lab.host, lab.volumes, { backupType: 'volume_backup', snapshot: lab.snapshot, options, signal: AbortSignal.timeout(600_000) });
  assert.match(result.detail, /cutover: server .* ACTIVE in project demo/);
  assert.match(result.detail, /backup of the snapshot restored into a new volume, handed over by volume transfer/);
  // the cutover replaced the test boot
  await assert.rejects(admin.nova.getServer(lab.testInstance), (e: unknown) => OpenStackError.isOpenStack(e, 404));
  const server = await demo.nova.getServer(result.instanceId);
  assert.equal(server.status, 'ACTIVE');
  assert.equal((server as unknown as { metadata: Record<string, string> }).metadata.rehost_boot, 'cutover', 'an ACTIVE cutover is marked as the migrated machine');
  const volumeId = server['os-extended-volumes:volumes_attached']![0]!.id;
  const volume = await demo.cinder.getVolume(volumeId);
  assert.equal(volume.snapshot_id, null, 'the cutover volume does not come from the snapshot');
  assert.equal(volume.name, `${RUN}_disk0`);
  assert.equal(volume.metadata.rehost_boot, 'cutover');
  assert.ok(Object.values(server.addresses).flat().some((a) => a.addr === '10.79.0.60'));
  assert.equal((await admin.cinder.listBackups()).filter((b) => b.name?.startsWith(RUN)).length, 0, 'the backup was only the vehicle');
  // the sync data goes away; the migrated server and its volume stay
  assert.equal((await lab.machines.cleanup(lab.host, false, AbortSignal.timeout(300_000))).servers, 0);
  await admin.cinder.deleteSnapshot(lab.snapshotId);
  // Cinder deletes in the background; on a loaded machine it can take minutes
  await waitFor('snapshot deleted', async () => !(await admin.cinder.getSnapshot(lab.snapshotId).then(() => true, () => false)), 300_000, 1000);
  await admin.cinder.deleteVolume(lab.sourceId);
  await waitFor('source volume deleted', async () => !(await admin.cinder.getVolume(lab.sourceId).then(() => true, () => false)), 300_000, 1000);
  assert.equal((await demo.cinder.getVolume(volumeId)).status, 'in-use');
  assert.equal((await demo.nova.getServer(result.instanceId)).status, 'ACTIVE');
  const bytes = await readFile(volumeFile(volumeId));
  assert.equal(bytes.subarray(0, MARK.length).toString(), MARK, 'the migrated volume holds the data');
  if (lab.clone !== undefined) {
    // the flattened clone outlives the snapshot and its sync volume too
    assert.equal((await admin.cinder.getVolume(lab.clone.volumeId)).status, 'in-use');
    assert.equal((await readFile(volumeFile(lab.clone.volumeId))).subarray(0, MARK.length).toString(), MARK);
    const gone = await lab.machines.cleanup(lab.clone.host, false, AbortSignal.timeout(300_000), 'all');
    assert.deepEqual({ servers: gone.servers, volumes: gone.volumes }, { servers: 1, volumes: 1 });
  }
  assert.doesNotMatch(logs.join('\n'), new RegExp(`user_password|${peer!.demo.password}`));
  // cleanup of everything (scope all) leaves both projects as they were
  const removed = await lab.machines.cleanup(lab.host, false, AbortSignal.timeout(300_000), 'all');
  assert.deepEqual({ servers: removed.servers, volumes: removed.volumes, floatingIps: removed.floatingIps }, { servers: 1, volumes: 1, floatingIps: 1 });
  assert.deepEqual(await count(), lab.before, 'servers, ports, floating IPs, volumes, snapshots, backups and transfers as before');
  assert.deepEqual(await admin.neutron.listPorts({ description: `rehost:${lab.host.id}` }), []);
});

test('OpenStack boot: Cinder\'s 413 names the quota; the snapshot quota is checked before a snapshot is made', async (t) => {
  if (!need(t)) return;
  // a throwaway project (the shared ones' quotas must not change under other runs)
  const ks = admin.keystone.http;
  const { project } = await ks.request<{ project: { id: string } }>('POST', '/projects', { body: { project: { name: `${RUN}-quota`, domain_id: 'default' } } });
  const { roles } = await ks.request<{ roles: { id: string }[] }>('GET', '/roles', { query: { name: 'admin' } });
  await ks.request('PUT', `/projects/${project.id}/users/${(await admin.keystone.info()).userId}/roles/${roles[0]!.id}`);
  const scoped = client({ ...peer!.admin, projectName: `${RUN}-quota` });
  const before = await admin.cinder.quotas(project.id);
  const limit = (k: string) => (before[k] as { limit: number }).limit;
  let volumeId: string | null = null;
  try {
    await admin.cinder.setQuotas(project.id, { volumes: 0 });
    await assert.rejects(createVolumeChecked(scoped, { size: 1, name: `${RUN}-q1` }, `${RUN}-quota`, AbortSignal.timeout(60_000)), (e: unknown) => {
      assert.ok(RehostError.is(e, 'UNPROCESSABLE') && e.context.field === 'quotas', String(e));
      assert.match(e.message, new RegExp(`^creating volume ${RUN}-q1: the Cinder quota "volumes" of project ${RUN}-quota is exhausted`));
      return true;
    });
    await admin.cinder.setQuotas(project.id, { volumes: 5, gigabytes: 1 });
    await assert.rejects(createVolumeChecked(scoped, { size: 2, name: `${RUN}-q2` }, `${RUN}-quota`, AbortSignal.timeout(60_000)), /the Cinder quota "gigabytes" of project .*-quota is exhausted/);
    // the snapshot quota: refused before any snapshot exists
    await admin.cinder.setQuotas(project.id, { gigabytes: 10, snapshots: 0 });
    const volume = await createVolumeChecked(scoped, { size: 1, name: `${RUN}-q3`, volume_type: 'standard' }, `${RUN}-quota`, AbortSignal.timeout(60_000));
    volumeId = volume.id;
    await scoped.cinder.waitVolume(volume.id, 'available', { timeoutMs: 120_000 });
    const ctx = { ...lab.ctx, client: scoped, config: { ...lab.ctx.config, projectName: `${RUN}-quota` }, volumeProjectId: () => Promise.resolve(project.id) };
    const host = makeHost(`h-quota-${process.pid}`, `${RUN}-q`);
    const vol = { ...lab.volumes[0]!, hostId: host.id, ref: volume.id };
    await assert.rejects(new OpenStackSnapshots(ctx).create(host, [vol], 'HyperMotion-quota', AbortSignal.timeout(120_000)), (e: unknown) => {
      assert.ok(RehostError.is(e, 'UNPROCESSABLE') && e.context.field === 'quotas', String(e));
      assert.match(e.message, /the Cinder snapshot quota of project .*-quota is too small for host .*-q's snapshot \(snapshots: 1 needed, 0 of 0 free\)/);
      return true;
    });
    assert.equal((await scoped.cinder.listSnapshots()).length, 0, 'no snapshot was made');
  } finally {
    await admin.cinder.setQuotas(project.id, { volumes: limit('volumes'), gigabytes: limit('gigabytes'), snapshots: limit('snapshots') });
    if (volumeId !== null) {
      await admin.cinder.deleteVolume(volumeId).catch(() => undefined);
      await waitFor('quota volume deleted', async () => !(await admin.cinder.getVolume(volumeId!).then(() => true, () => false)), 300_000, 1000).catch(() => undefined);
    }
    await scoped.close();
    await ks.request('PATCH', `/projects/${project.id}`, { body: { project: { enabled: false } } });
    await ks.request('DELETE', `/projects/${project.id}`);
  }
});
