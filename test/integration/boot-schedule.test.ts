/**
 * The sync schedule and the snapshot quota through the API, without booting: with
 * `snapshot_auto_trigger` on and a start time in the past, the engine's scheduler starts an
 * incremental sync by itself; with `snapshot_quota` 1, only the newest snapshot is kept. The
 * quota runs only once a snapshot is create_done (a snapshot held in create_doing by a wrapper
 * around qemu-img, then failed), and at once when the API lowers it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { makeMixedDisk } from '../fixtures/disks.js';
import { addTarget, assignTarget, hostRow, registerImageHost, snapshotsOldestFirst, syncAndWait } from '../host-flow.js';
import { qemuImgHold } from '../qemu-img-hold.js';

const work = tempDir('schedule');
let r: Rehost | undefined;
after(async () => {
  await r?.stop();
  removeDir(work);
});

test('scheduled incremental sync and snapshot quota', { timeout: 120_000 }, async () => {
  const images = join(work, 'images');
  const targetDir = join(work, 'target');
  mkdirSync(images);
  makeMixedDisk(join(images, 'db-01.raw'), 16, 5);
  r = await startRehost();
  await r.login();
  const src = (await r.api('POST', '/sources', { type: 'Image', name: 'imgs', config: { path: images } })).body.data.id;
  await waitFor('source', async () => (await r!.api('GET', `/sources/${src}`)).body.source.status === 'connected');
  const id = (await r.api('GET', `/sources/${src}/hosts`)).body.data[0].id;
  await r.api('POST', '/hosts/register', { ids: [id] });
  const tgt = (await r.api('POST', '/targets', { type: 'HyperGate', config: { cloud_type: 'Local', path: targetDir }, metadata: { driver_name: 'Local' } })).body.data.uuid;
  await waitFor('target', async () => (await r!.api('GET', '/targets')).body.targets.data.find((t: any) => t.uuid === tgt)?.target_status === 'active');
  await r.api('PUT', '/hosts/target_platform', { ids: [id], storage_id: tgt, pool_id: tgt, step: '2' });
  assert.equal((await r.api('POST', '/hosts', { ids: [id], sync: { do_snapshot: true, sync_mode: 'full' } })).status, 200);
  await waitFor('full sync', async () => (await r!.api('GET', `/hosts?ids=${id}`)).body.data[0].h_host_status === 'sync_snapshot_done', 60_000);
  const first = (await r.api('GET', `/hosts/${id}?sheet=snapshot`)).body.data[0].id;

  const put = await r.api('PUT', `/hosts/${id}/sync_strategy`, {
    snapshot_auto_trigger: true,
    snapshot_interval: 1,
    snapshot_interval_unit: '1',
    snapshot_quota: 1,
    snapshot_start_time: new Date(Date.now() + 1500).toISOString(),
  });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.equal(put.body.sync_strategy.snapshot_auto_trigger, true);
  const jobs = await waitFor('a scheduled sync', async () => {
    const list = (await r!.api('GET', `/jobs?id=${id}&job_type=Sync`)).body;
    return list.total === 2 && list.data[0].job_status === 'done' ? list.data : null;
  }, 40_000, 250);
  assert.match(jobs[0].description, /^Incremental sync/, 'the scheduled sync is incremental');
  const kept = await waitFor('quota', async () => {
    const sheet = (await r!.api('GET', `/hosts/${id}?sheet=snapshot`)).body;
    return sheet.total === 1 ? sheet.data : null;
  });
  assert.notEqual(kept[0].id, first, 'the older snapshot was deleted');
  assert.equal(readdirSync(join(targetDir, id, 'snapshots')).length, 1, 'its files too');
  const stop = await r.api('POST', '/hosts', { ids: [id], stop_sync: {} });
  assert.equal(stop.status, 200);
  assert.equal((await r.api('GET', `/hosts/${id}?sheet=snapshot`)).body.sync_strategy.snapshot_auto_trigger, false);
});

test('snapshot quota: applied once a snapshot is create_done, never on create_doing or create_failed, at once when lowered (qemu-img create held by a wrapper to keep a snapshot create_doing)', { timeout: 300_000 }, async () => {
  const images = join(work, 'images-quota');
  const targetDir = join(work, 'target-quota');
  mkdirSync(images);
  makeMixedDisk(join(images, 'app-01.raw'), 16, 9);
  const held = qemuImgHold(join(work, 'hold'));
  await r?.stop();
  r = await startRehost({ env: { PATH: held.path } });
  await r.login();
  const id = await registerImageHost(r, images, 'quota-imgs');
  await assignTarget(r, id, await addTarget(r, { cloud_type: 'Local', path: targetDir }));
  for (const mode of ['full', 'incremental', 'incremental'] as const) await syncAndWait(r, id, mode);
  assert.equal((await r.api('POST', '/hosts', { ids: [id], next_step: { step: '4' } })).status, 200);
  const done = async () => (await snapshotsOldestFirst(r!, id)).filter((s) => s.status === 'create_done').map((s) => s.snapshot_name);
  const onDisk = () => readdirSync(join(targetDir, id, 'snapshots')).sort();
  const [s1, s2, s3] = await done();

  // A snapshot held in create_doing: the sheet says it is not available, a boot of it is refused
  // naming it, and lowering the quota waits for it (no layer merge while it is being made).
  held.hold();
  assert.equal((await r.api('POST', '/hosts', { ids: [id], sync: { do_snapshot: true, sync_mode: 'incremental' } })).status, 200);
  const doing = await waitFor('a create_doing snapshot', async () => (await snapshotsOldestFirst(r!, id)).find((s) => s.status === 'create_doing'), 60_000);
  assert.equal(doing.is_available, false);
  assert.equal(doing.display_is_available, 'false');
  const refused = await r.api('POST', `/hosts/${id}/action`, { boot: { backup_type: 'volume_snapshot', snapshot_id: doing.id, flavor_id: 'local.small' } });
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  assert.equal(refused.body.field, 'boot.snapshot_id');
  assert.equal(refused.body.message, `snapshot ${doing.snapshot_name} is still being created (create_doing); boot it once it is create_done`);
  const lowered = await r.api('PUT', `/hosts/${id}/sync_strategy`, { snapshot_quota: 1 });
  assert.equal(lowered.status, 200, JSON.stringify(lowered.body));
  assert.equal(lowered.body.sync_strategy.snapshot_quota, 1);
  await new Promise((res) => setTimeout(res, 2000));
  assert.deepEqual(await done(), [s1, s2, s3], 'nothing pruned while a snapshot is create_doing');

  // The held snapshot fails: create_failed with the reason, and still nothing pruned.
  held.fail();
  const failedHost = await waitFor('sync failed', async () => {
    const h = await hostRow(r!, id);
    return h.h_host_status === 'sync_failed' ? h : null;
  }, 60_000);
  const failed = (await snapshotsOldestFirst(r!, id)).find((s) => s.id === doing.id);
  assert.equal(failed.status, 'create_failed');
  assert.equal(failed.is_available, false);
  assert.match(failed.reason, /qemu-img create refused by the test/);
  assert.match(failedHost.detail, /qemu-img create refused by the test/);
  assert.deepEqual(await done(), [s1, s2, s3], 'a create_failed snapshot does not apply the quota');
  assert.deepEqual(onDisk(), [s1, s2, s3].sort());
  // The seed boots only a sync_snapshot_done host: sync_failed is refused even with good snapshots.
  const whileFailed = await r.api('POST', `/hosts/${id}/action`, { boot: { backup_type: 'volume_snapshot', snapshot_id: (await snapshotsOldestFirst(r, id))[0].id, flavor_id: 'local.small' } });
  assert.equal(whileFailed.status, 409, JSON.stringify(whileFailed.body));
  assert.match(whileFailed.body.message, /cannot boot: it is sync_failed/);

  // The next good snapshot applies the quota: only it stays (and the failed record, which holds no data).
  held.go();
  await syncAndWait(r, id, 'incremental');
  // The quota runs right after the snapshot is done, beside the end of the sync job.
  const [s5] = await waitFor('quota applied', async () => {
    const left = await done();
    return left.length === 1 ? left : null;
  });
  assert.ok(s5 && ![s1, s2, s3].includes(s5), s5);
  assert.deepEqual(onDisk(), [s5]);

  // Lowered with nothing running: pruned at once, and the answer lists what is kept.
  assert.equal((await r.api('PUT', `/hosts/${id}/sync_strategy`, { snapshot_quota: 3 })).status, 200);
  await syncAndWait(r, id, 'incremental');
  await syncAndWait(r, id, 'incremental');
  const three = await waitFor('three snapshots', async () => {
    const kept = await done();
    return kept.length === 3 ? kept : null;
  });
  const pruned = await r.api('PUT', `/hosts/${id}/sync_strategy`, { snapshot_quota: 1 });
  assert.equal(pruned.status, 200);
  assert.deepEqual(pruned.body.data.filter((s: any) => s.status === 'create_done').map((s: any) => s.snapshot_name), [three[2]]);
  assert.deepEqual(onDisk(), [three[2]]);
  assert.equal((await hostRow(r, id)).h_host_status, 'sync_snapshot_done');
});
