/**
 * The sync schedule and the snapshot quota through the API, without QEMU: with
 * `snapshot_auto_trigger` on and a start time in the past, the engine's scheduler starts an
 * incremental sync by itself; with `snapshot_quota` 1, only the newest snapshot is kept.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { makeMixedDisk } from '../fixtures/disks.js';

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
