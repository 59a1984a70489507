/**
 * The whole API flow on the embedded default: an Image source and a Local target, through
 * register → assign → full sync with snapshot → incremental sync → next step → cleanup, using
 * only HTTP against a real `rehost serve` process.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { makeMixedDisk, modifyBlocks, sha256File } from '../fixtures/disks.js';
import { volumeSha256 } from '../local-volume.js';

const work = tempDir('flow');
let r: Rehost;
after(async () => {
  await r?.stop();
  removeDir(work);
});

async function waitHost(id: string, predicate: (h: any) => boolean, what: string) {
  return waitFor(what, async () => {
    const res = await r.api('GET', `/hosts?ids=${id}`);
    const host = res.body.data[0];
    if (host && /_failed$/.test(host.h_host_status) && !predicate(host)) throw new Error(`host failed: ${JSON.stringify(host.detail)}`);
    return host && predicate(host) ? host : null;
  }, 120_000);
}

test('image source → local target: register, assign, full and incremental sync with snapshots, cleanup', async () => {
  const images = join(work, 'images');
  const targetDir = join(work, 'target');
  mkdirSync(images);
  const disk = join(images, 'web-01.raw');
  makeMixedDisk(disk, 48, 3);
  r = await startRehost();
  await r.login();

  // Source
  const created = await r.api('POST', '/sources', { type: 'Image', name: 'usb', config: { path: images } });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const sourceId = created.body.data.id;
  await waitFor('source connected', async () => (await r.api('GET', `/sources/${sourceId}`)).body.source.status === 'connected');
  const offered = await r.api('GET', `/sources/${sourceId}/hosts`);
  assert.equal(offered.body.total, 1);
  const hostId = offered.body.data[0].id;
  assert.equal(offered.body.data[0].host_name, 'web-01');

  // Register (step 1)
  const reg = await r.api('POST', '/hosts/register', { ids: [hostId] });
  assert.deepEqual(reg.body, { code: 200, data: [hostId], message: 'Success register hosts' });
  assert.equal((await r.api('POST', '/hosts/register', { ids: [hostId] })).status, 409, 'registering twice is refused');
  const step1 = await r.api('GET', '/hosts?status=register');
  assert.equal(step1.body.total, 1);
  assert.equal(step1.body.data[0].h_host_status, 'host_register_done');
  assert.equal(step1.body.data[0].is_sync, false, 'no platform yet');

  // Sync before a platform is assigned: refused, nothing changes
  const early = await r.api('POST', '/hosts', { ids: [hostId], sync: { do_snapshot: true, sync_mode: 'full' } });
  assert.equal(early.status, 409);
  assert.match(early.body.message, /target platform/);

  // Target
  const types = await r.api('GET', '/targets/types');
  assert.ok(types.body.target_types.some((t: any) => t.query_name === 'Local'));
  const tgt = await r.api('POST', '/targets', { type: 'HyperGate', config: { cloud_type: 'Local', path: targetDir }, metadata: { driver_name: 'Local' } });
  assert.equal(tgt.status, 200, JSON.stringify(tgt.body));
  const targetId = tgt.body.data.uuid;
  await waitFor('target active', async () => (await r.api('GET', '/targets')).body.targets.data.find((t: any) => t.uuid === targetId)?.target_status === 'active');
  const list = await r.api('GET', '/targets?cloud_type=Local');
  const storage = list.body.targets.storages.find((s: any) => s.storage_id === targetId);
  assert.ok(storage, JSON.stringify(list.body));
  const detail = await r.api('GET', `/targets/${targetId}`);
  assert.equal(detail.status, 200);
  assert.equal(detail.body.Storage.data[0].type, 'HyperGate');
  const flavors = await r.api('GET', `/targets/${targetId}/resources?kind=flavors`);
  assert.equal(flavors.status, 200);
  assert.ok(flavors.body.data.length > 0);
  assert.equal((await r.api('GET', `/targets/${targetId}/resources?kind=floating_ips`)).status, 400, 'a kind the target does not offer');

  // Assign (step 2)
  const assign = await r.api('PUT', '/hosts/target_platform', { ids: [hostId], storage_id: targetId, pool_id: storage.pools[0].pool_uuid, step: '2' });
  assert.equal(assign.status, 200, JSON.stringify(assign.body));
  const step2 = await r.api('GET', '/hosts?status=sync');
  assert.equal(step2.body.data[0].is_sync, true);
  assert.equal((await r.api('POST', '/hosts', { ids: [hostId], next_step: { step: '4' } })).status, 409, 'next step needs a sync');
  assert.equal((await r.api('POST', '/hosts', { ids: [hostId], sync: { do_snapshot: true, sync_mode: 'incremental' } })).status, 409, 'incremental needs a full sync first');

  // Full sync with snapshot
  const sync = await r.api('POST', '/hosts', { ids: [hostId], sync: { do_snapshot: true, sync_mode: 'full', transfer_speed: 0 } });
  assert.deepEqual(sync.body, { code: 200, message: 'Start synchronization of host resources' });
  const synced = await waitHost(hostId, (h) => h.h_host_status === 'sync_snapshot_done', 'full sync');
  assert.equal(synced.has_success_snapshot, true);
  assert.equal(synced.is_next_step, true);
  assert.equal(synced.detail_data.percent, 100);
  assert.equal(synced.snapshots.length, 1);
  assert.match(synced.snapshots[0].snapshot_name, /^HyperMotion-\d{8}T\d{6}$/);
  const volumeFile = join(targetDir, hostId, 'disk-0.raw');
  assert.equal(volumeSha256(volumeFile), sha256File(disk), 'target disk equals source disk after full sync');
  const firstHash = sha256File(disk);

  // The host reaches sync_snapshot_done in the job's last step; the job itself is done just after.
  assert.equal(synced.license_id, 'evaluation');
  assert.equal(synced.license_valid, true);
  const licenses = await r.api('GET', '/licenses');
  assert.equal(licenses.body.licenses.data[0].used, 1, 'the first sync took one license credit');
  const job = await waitFor('sync job done', async () => {
    const jobs = await r.api('GET', `/jobs?id=${hostId}&job_type=Sync`);
    assert.equal(jobs.body.total, 1);
    return jobs.body.data[0].job_status === 'done' ? jobs.body.data[0] : null;
  });
  assert.ok(job.steps.some((s: any) => s.name === 'Copy disk 0' && s.status === 'done' && /verified/.test(s.detail)), JSON.stringify(job.steps));

  // Incremental after 10% of the blocks changed
  modifyBlocks(disk, 48, 10);
  const inc = await r.api('POST', '/hosts', { ids: [hostId], sync: { do_snapshot: true, sync_mode: 'incremental' } });
  assert.equal(inc.status, 200, JSON.stringify(inc.body));
  await waitHost(hostId, (h) => h.h_host_status === 'sync_snapshot_done' && h.snapshots.length === 2 && h.snapshots.every((s: any) => s.status === 'create_done'), 'incremental sync');
  assert.equal(volumeSha256(volumeFile), sha256File(disk), 'target equals source after the incremental sync');
  const snapSheet = await r.api('GET', `/hosts/${hostId}?sheet=snapshot`);
  assert.equal(snapSheet.body.total, 2);
  assert.equal(snapSheet.body.sync_strategy.snapshot_interval_unit, '2');
  const snapshotsDir = join(targetDir, hostId, 'snapshots');
  const firstSnapshot = readdirSync(snapshotsDir).sort()[0]!;
  assert.equal(volumeSha256(join(snapshotsDir, firstSnapshot, 'disk-0.raw')), firstHash, 'the first snapshot still holds the first sync');

  // Detail sheets
  const base = await r.api('GET', `/hosts/${hostId}?sheet=base`);
  assert.equal(base.body.host_detail.primary_information.title, 'Primary Information');
  const storageSheet = await r.api('GET', `/hosts/${hostId}?sheet=storage`);
  assert.equal(storageSheet.body.disk.data[0].disk_type, 'System Disk');
  assert.equal(storageSheet.body.volume.data.length, 1);

  // Next step (step 4)
  assert.equal((await r.api('POST', '/hosts', { ids: [hostId], next_step: { step: '4' } })).status, 200);
  assert.equal((await r.api('GET', '/hosts?status=boot')).body.total, 1);

  // Cleanup removes everything for the host on the target and unregisters it
  const clean = await r.api('POST', '/hosts', { ids: [hostId], clean: { force: false } });
  assert.deepEqual(clean.body, { code: 200, message: 'Start delete of host resources' });
  await waitFor('host gone', async () => (await r.api('GET', '/hosts')).body.total === 0);
  assert.equal(existsSync(join(targetDir, hostId)), false, 'nothing left on the target');
  const cleanJob = await waitFor('clean job done', async () => {
    const j = (await r.api('GET', `/jobs?id=${hostId}&job_type=Clean`)).body.data[0];
    return j.job_status === 'working' ? null : j;
  });
  assert.equal(cleanJob.job_status, 'done');

  // The host can be registered again, and the target can then be removed
  assert.equal((await r.api('POST', '/hosts/register', { ids: [hostId] })).status, 200);
  assert.equal((await r.api('DELETE', `/targets/${targetId}`)).status, 200);
});
