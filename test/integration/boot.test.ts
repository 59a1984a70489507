/**
 * Test boot and cutover on the Local target under real QEMU (TCG here), through the API only:
 * the busybox image synced twice boots from the first snapshot with the first data and from the
 * second with the second; a cutover after a further change boots the newest data from a copy that
 * cleanup keeps. Bad input: unknown snapshot, too-small flavor, boot while syncing, QEMU missing
 * (a failed job, then a successful retry). The snapshot quota never deletes the snapshot a
 * running test boot uses. VMs survive an engine crash; cleanup still stops the test machine and
 * removes everything it made for the host, while the migrated server keeps running from its copy.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { addTarget, assignTarget, bootAndWait, hostRow, killProcessesWith, processesWith, registerImageHost, snapshotsOldestFirst, syncAndWait } from '../host-flow.js';
import { bootFixtureUnavailable, buildBusyboxImage, writeDataRegion } from '../fixtures/images/busybox.js';

const skip = bootFixtureUnavailable();
const work = tempDir('boot');
let r: Rehost | undefined;
after(async () => {
  await r?.stop();
  killProcessesWith('rehost-', work);
  removeDir(work);
});

const host = (id: string) => hostRow(r!, id);
const syncWait = (id: string, mode: 'full' | 'incremental') => syncAndWait(r!, id, mode);
const bootWait = (id: string, boot: Record<string, unknown>) => bootAndWait(r!, id, { boot_timeout_seconds: 120, ...boot });
const snapshotIds = async (id: string): Promise<string[]> => (await snapshotsOldestFirst(r!, id)).map((s) => s.id);
const runningVms = (instanceId: string): boolean => processesWith(`rehost-${instanceId}`).length > 0;

test('busybox image: test boots from old and new snapshots, cutover, cleanup', { skip: skip ?? false, timeout: 600_000 }, async () => {
  const t0 = Date.now();
  const image = buildBusyboxImage(1100);
  const images = join(work, 'images');
  const targetDir = join(work, 'target');
  mkdirSync(images);
  const disk = join(images, 'tiny-01.raw');
  execFileSync('cp', ['--sparse=always', image, disk]);
  const gen1 = writeDataRegion(disk);
  const dataDir = tempDir('boot-data');
  r = await startRehost({ dataDir });
  await r.login();
  const id = await registerImageHost(r, images);
  await assignTarget(r, id, await addTarget(r, { cloud_type: 'Local', path: targetDir }));
  const targetBefore = readdirSync(targetDir);
  await syncWait(id, 'full');
  const gen2 = writeDataRegion(disk);
  await syncWait(id, 'incremental');
  assert.equal((await r.api('POST', '/hosts', { ids: [id], next_step: { step: '4' } })).status, 200);
  const [s1, s2] = await snapshotIds(id);
  console.log(`# setup and two syncs: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // Snapshots are layers, not copies: the second holds only what the incremental sync changed.
  const sizes = Object.fromEntries((await r.api('GET', `/hosts/${id}?sheet=snapshot&page_size=50`)).body.data.map((s: any) => [s.id, s.size]));
  assert.ok(sizes[s2!] * 4 < sizes[s1!], `second snapshot ${sizes[s2!]} bytes vs first ${sizes[s1!]}`);
  assert.ok(existsSync(join(targetDir, id, 'snapshots')) && readdirSync(join(targetDir, id, 'snapshots')).every((n) => existsSync(join(targetDir, id, 'snapshots', n, 'disk-0.qcow2'))), 'qcow2 layers (this file system has no reflinks)');

  // Bad input, answered at once
  const unknown = await r.api('POST', `/hosts/${id}/action`, { boot: { backup_type: 'volume_snapshot', snapshot_id: '00000000-0000-4000-8000-000000000000' } });
  assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
  const small = await r.api('POST', `/hosts/${id}/action`, { boot: { backup_type: 'volume_snapshot', snapshot_id: s1, flavor_id: 'local.tiny' } });
  assert.equal(small.status, 400, JSON.stringify(small.body));
  assert.match(small.body.message, /too small/);
  const flavor = 'local.small';
  assert.equal((await r.api('POST', '/hosts', { ids: [id], sync: { do_snapshot: false, sync_mode: 'incremental' } })).status, 200);
  const busy = await r.api('POST', `/hosts/${id}/action`, { boot: { backup_type: 'volume_snapshot', snapshot_id: s1, flavor_id: flavor } });
  assert.equal(busy.status, 409, 'boot while sync_doing');
  await waitFor('sync done', async () => (await host(id)).h_host_status === 'sync_snapshot_done', 120_000);
  assert.equal((await r.api('GET', `/hosts/${id}/console`)).status, 404, 'no machine yet');

  // QEMU missing: a failed job with the reason; the host can be retried
  await r.stop();
  r = await startRehost({ dataDir, env: { REHOST_QEMU: '/nonexistent/qemu-system-x86_64' } });
  await r.login();
  const missing = await bootWait(id, { backup_type: 'volume_snapshot', snapshot_id: s1, flavor_id: flavor });
  assert.equal(missing.host.h_boot_status, 'boot_failed');
  assert.equal(missing.job.job_status, 'failed');
  assert.match(JSON.stringify(missing.job), /QEMU is missing/);
  await r.stop();
  r = await startRehost({ dataDir });
  await r.login();

  // Test boot from the first snapshot: the first data
  let t = Date.now();
  const b1 = await bootWait(id, { backup_type: 'volume_snapshot', snapshot_id: s1, flavor_id: flavor });
  assert.equal(b1.host.h_boot_status, 'boot_done', JSON.stringify(b1.job));
  assert.match(b1.job.steps[0].detail, new RegExp(`MIGRATION-BOOT-OK .*payload=verified data=${gen1}`));
  const consoleRes = await r.api('GET', `/hosts/${id}/console`);
  assert.equal(consoleRes.status, 200);
  assert.match(consoleRes.headers.get('content-type') ?? '', /^text\/plain/);
  assert.match(consoleRes.body, new RegExp(`data=${gen1}`));
  assert.equal(b1.host.cloud_instance_id.length, 36);
  console.log(`# test boot 1: ${((Date.now() - t) / 1000).toFixed(1)} s`);

  // Test boot from the second snapshot: the second data; the first machine is stopped
  t = Date.now();
  const b2 = await bootWait(id, { backup_type: 'volume_snapshot', snapshot_id: s2, flavor_id: flavor });
  assert.equal(b2.host.h_boot_status, 'boot_done', JSON.stringify(b2.job));
  assert.match(b2.job.steps[0].detail, new RegExp(`data=${gen2}`));
  assert.equal(runningVms(b1.host.cloud_instance_id), false, 'the previous test machine was stopped');
  console.log(`# test boot 2: ${((Date.now() - t) / 1000).toFixed(1)} s`);

  // Quota 1: a new snapshot removes the older ones, except the one the running test boot uses
  assert.equal((await r.api('PUT', `/hosts/${id}/sync_strategy`, { snapshot_quota: 1 })).status, 200);
  await syncWait(id, 'incremental');
  const kept = await waitFor('quota applied', async () => {
    const ids = await snapshotIds(id);
    return ids.length === 2 ? ids : null;
  });
  assert.equal(kept[0], s2!, 'the snapshot in use is kept');
  assert.ok(!kept.includes(s1!));

  // Cutover after a further change: the newest data, from a copy outside the host folder
  t = Date.now();
  const gen3 = writeDataRegion(disk);
  const cut = await bootWait(id, { backup_type: 'volume_backup', snapshot_id: s2, flavor_id: flavor });
  assert.equal(cut.host.h_boot_status, 'boot_done', JSON.stringify(cut.job));
  assert.deepEqual(cut.job.steps.map((s: any) => [s.name, s.status]), [['Final sync', 'done'], ['Boot instance', 'done']]);
  assert.match(cut.job.steps[1].detail, new RegExp(`data=${gen3}`));
  const migrated = readdirSync(join(targetDir, 'migrated'));
  assert.equal(migrated.length, 1);
  assert.ok(existsSync(join(targetDir, 'migrated', migrated[0]!, 'start.sh')));
  console.log(`# cutover: ${((Date.now() - t) / 1000).toFixed(1)} s`);

  // A test boot after the cutover leaves the migrated machine running
  const latest = (await snapshotIds(id)).at(-1)!;
  const after1 = await bootWait(id, { backup_type: 'volume_snapshot', snapshot_id: latest, flavor_id: flavor });
  assert.equal(after1.host.h_boot_status, 'boot_done', JSON.stringify(after1.job));
  assert.equal(runningVms(cut.host.cloud_instance_id), true, 'the cutover machine still runs');

  // The engine crashes; after a restart cleanup still stops the test machine it started (found
  // through its record), removes everything it made for the host, and leaves the migrated server be.
  await r.kill();
  assert.equal(runningVms(cut.host.cloud_instance_id), true, 'the migrated machine outlives the engine');
  r = await startRehost({ dataDir });
  await r.login();
  assert.equal((await r.api('POST', '/hosts', { ids: [id], clean: { force: false } })).status, 200);
  await waitFor('cleaned', async () => (await r!.api('GET', '/hosts')).body.total === 0, 60_000);
  assert.equal(runningVms(after1.host.cloud_instance_id), false, 'cleanup stopped the test machine');
  assert.deepEqual(readdirSync(targetDir).sort(), [...targetBefore, 'migrated'].sort(), 'only the migrated copy is left');
  assert.deepEqual(readdirSync(join(targetDir, 'migrated')), migrated);
  assert.deepEqual(readdirSync(join(targetDir, 'migrated', migrated[0]!)).sort(), ['console.log', 'disk-0.raw', 'qemu.log', 'start.sh']);
  await new Promise((res) => setTimeout(res, 2000));
  const [pid] = processesWith(`rehost-${cut.host.cloud_instance_id}`);
  assert.ok(pid, 'the migrated server keeps running after cleanup');
  const disks = readdirSync(`/proc/${pid}/fd`).map((fd) => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } }).filter((l) => l.includes(targetDir));
  assert.ok(disks.includes(join(targetDir, 'migrated', migrated[0]!, 'disk-0.raw')), disks.join(', '));
  assert.deepEqual(disks.filter((l) => l.endsWith('(deleted)')), [], 'it holds no file cleanup removed');
  console.log(`# total: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
