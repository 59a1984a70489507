/**
 * Transport direct into OpenStack, on real parts: an Agent source (sshd on 127.0.0.1, a loop
 * device) synced to a real OpenStack Zed on 127.0.0.1 (test/peers/openstack.ts) through a gateway
 * Rehost creates, whose SSH is a real sshd on 127.0.0.1 (as in openstack-target.test.ts). The
 * source agent writes the chunks to the agent in the sink role on the gateway over TLS 1.3 with
 * per-job certificates pinned on both sides; the engine only coordinates. Full sync, 1 % change,
 * incremental, the Cinder volume's bytes equal the source; cleanup removes what the run made.
 * Runs in a throwaway project (others use the shared peer too). Skips with the reason when the
 * peer or the loop devices cannot be used.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { OpenStackClient } from '../../src-main/targets/openstack/client/index.js';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { makeMixedDisk, modifyBlocks } from '../fixtures/disks.js';
import { OPENSTACK_LAB, startOpenStack, type OpenStackPeer } from '../peers/openstack.js';
import { gatewayImage, throwawayProject, type Undo } from '../peers/openstack-lab.js';
import { SSHD, startSshd, type Sshd } from '../peers/sshd.js';
import { attachLoop, canUseLoop, detachLoop } from '../peers/sshhost/loop.js';
import { addAgentSource, buildAgent, settledSource, startSync, syncEnded, syncStep } from './agent-flow.js';

const RUN = `rehost-osd-${process.pid}`;
const DISK_MIB = 40;
const VOLUMES = join(OPENSTACK_LAB, 'state/cinder/volumes');
const work = tempDir('openstack-direct');
let peer: OpenStackPeer | null = null;
let unavailable = !existsSync(SSHD) ? 'openssh-server is not installed' : !canUseLoop() ? 'needs root and loop devices' : 'the OpenStack peer was not started';
let sshd: Sshd | undefined;
let r: Rehost | undefined;
let admin: OpenStackClient | undefined;
let loop: string | undefined;
const undo: Undo = [];

before(async () => {
  if (!existsSync(SSHD) || !canUseLoop()) return;
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
  if (loop) detachLoop(loop);
  removeDir(work);
}, { timeout: 300_000 });

function need(t: TestContext): OpenStackPeer | null {
  if (peer === null) t.skip(unavailable);
  return peer;
}

function sameBytes(a: string, b: string): boolean {
  try {
    execFileSync('cmp', ['-n', String(DISK_MIB * 1024 * 1024), a, b]);
    return true;
  } catch {
    return false;
  }
}

test('OpenStack target with transport direct: the source agent writes to the gateway\'s sink agent over pinned TLS 1.3, full and incremental, the Cinder volume equals the source', { timeout: 900_000 }, async (t) => {
  const p = need(t);
  if (p === null) return;
  admin = new OpenStackClient({ authUrl: p.authUrl, region: p.region, ...p.admin });
  const project = `${RUN}-main`;
  const projectId = await throwawayProject(admin, project, undo);
  const publicNet = (await admin.neutron.listNetworks({ name: 'public' }))[0]!.id;
  const imageId = await gatewayImage(admin, `${RUN}-gw`, undo);
  makeMixedDisk(join(work, 'disk.raw'), DISK_MIB, 41);
  loop = attachLoop(join(work, 'disk.raw'));
  sshd = await startSshd(join(work, 'sshd'));
  r = await startRehost({ env: { REHOST_AGENT_BUNDLE: await buildAgent(join(work, 'agent')) } });
  await r.login();

  const created = await r.api('POST', '/targets', {
    type: 'HyperGate',
    name: `${RUN}-target`,
    config: {
      cloud_type: 'OpenStack',
      os_auth_url: p.authUrl,
      os_username: p.admin.username,
      os_password: p.admin.password,
      os_project_name: project,
      os_region_name: p.region,
      volume_type: 'standard',
      gateway_image_id: imageId,
      gateway_flavor_id: '1',
      gateway_network_id: publicNet,
      gateway_address: '127.0.0.1',
      gateway_ssh_port: sshd.port,
      gateway_username: 'root',
      gateway_private_key: sshd.privateKey,
    },
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const tgt = created.body.data.uuid as string;
  const active = await waitFor('target settled', async () => {
    const x = (await r!.api('GET', '/targets')).body.targets.data.find((y: any) => y.uuid === tgt);
    return x && x.target_status !== 'creating' ? x : null;
  }, 300_000, 250);
  assert.equal(active.target_status, 'active', JSON.stringify(active));

  const src = await addAgentSource(r, `${RUN}-src`, { address: '127.0.0.1', port: sshd.port, username: 'root', private_key: sshd.privateKey, disks: [loop], transport: 'direct' });
  assert.equal((await settledSource(r, src.id)).source.status, 'connected');
  const hostId = (await r.api('GET', `/sources/${src.id}/hosts`)).body.data[0].id as string;
  assert.equal((await r.api('POST', '/hosts/register', { ids: [hostId] })).status, 200);
  assert.equal((await r.api('PUT', '/hosts/target_platform', { ids: [hostId], storage_id: tgt, pool_id: tgt, step: '2' })).status, 200);

  await startSync(r, hostId, 'full');
  let h = await syncEnded(r, hostId, 300_000);
  assert.equal(h.h_host_status, 'sync_snapshot_done', JSON.stringify(h));
  const vol = (await admin.cinder.listVolumes({ all_tenants: 1, project_id: projectId })).find((v) => v.metadata.rehost_host === hostId)!;
  const volumeFile = join(VOLUMES, `volume-${vol.id}`);
  assert.ok(sameBytes(loop, volumeFile), 'the Cinder volume equals the source after the full sync');
  const full = (await syncStep(r, hostId, 'Copy disk 0')).step.detail as string;
  assert.match(full, /forwarded [\d.]+MB on the link source agent on 127\.0\.0\.1 → the sink agent on the gateway at 127\.0\.0\.1:\d+ \(TLS 1\.3 TLS_AES_128_GCM_SHA256, per-job certificates pinned on both sides\), none through the engine/, full);

  const changed = modifyBlocks(loop, DISK_MIB, 1, 23);
  await startSync(r, hostId, 'incremental');
  h = await syncEnded(r, hostId, 300_000);
  assert.equal(h.h_host_status, 'sync_snapshot_done', JSON.stringify(h));
  assert.ok(sameBytes(loop, volumeFile), 'the Cinder volume equals the source after the incremental sync');
  const inc = (await syncStep(r, hostId, 'Copy disk 0')).step.detail as string;
  assert.match(inc, new RegExp(`^incremental: .* ${changed.length} chunks sent, .*forwarded`), inc);

  assert.equal((await r.api('POST', '/hosts', { ids: [hostId], clean: { force: false } })).status, 200);
  await waitFor('host cleaned', async () => (await r!.api('GET', '/hosts')).body.total === 0, 300_000, 500);
  assert.equal((await r.api('DELETE', `/targets/${tgt}`)).status, 200);
  assert.equal((await admin.cinder.listVolumes({ all_tenants: 1, project_id: projectId })).length, 0, 'cleanup removed the sync volume');
});
