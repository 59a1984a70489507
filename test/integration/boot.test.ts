/**
 * Test boot and cutover on the Local target under real QEMU (TCG here), through the API only:
 * the busybox image synced twice boots from the first snapshot with the first data and from the
 * second with the second; a cutover after a further change boots the newest data from a copy that
 * cleanup keeps. Bad input: unknown snapshot, too-small flavor, boot while syncing, QEMU missing
 * (a failed job, then a successful retry). The snapshot quota never deletes the snapshot a
 * running test boot uses. A VM survives an engine crash and cleanup still stops it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { bootFixtureUnavailable, buildBusyboxImage, writeDataRegion } from '../fixtures/images/busybox.js';

const skip = bootFixtureUnavailable();
const work = tempDir('boot');
let r: Rehost | undefined;
after(async () => {
  await r?.stop();
  // A failed run must not leave machines behind: stop any QEMU whose disks live under `work`.
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    const cmd = (() => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    })();
    if (cmd.includes('rehost-') && cmd.includes(work)) process.kill(Number(pid), 'SIGKILL');
  }
  removeDir(work);
});

async function host(id: string): Promise<any> {
  return (await r!.api('GET', `/hosts?ids=${id}`)).body.data[0];
}

async function syncWait(id: string, mode: 'full' | 'incremental'): Promise<void> {
  const jobs = async () => (await r!.api('GET', `/jobs?id=${id}&job_type=Sync&page_size=1`)).body;
  const before = (await jobs()).total;
  const res = await r!.api('POST', '/hosts', { ids: [id], sync: { do_snapshot: true, sync_mode: mode, transfer_speed: 0 } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  await waitFor(`${mode} sync`, async () => {
    const h = await host(id);
    if (h.h_host_status === 'sync_failed') throw new Error(h.detail);
    const list = await jobs();
    return list.total > before && list.data[0].job_status === 'done' && h.h_host_status === 'sync_snapshot_done';
  }, 120_000);
}

async function bootWait(id: string, boot: Record<string, unknown>): Promise<{ host: any; job: any }> {
  const res = await r!.api('POST', `/hosts/${id}/action`, { boot: { flavor_id: 'local.tiny', boot_timeout_seconds: 120, ...boot } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const h = await waitFor('boot', async () => {
    const current = await host(id);
    return current.h_boot_status === 'boot_done' || current.h_boot_status === 'boot_failed' ? current : null;
  }, 300_000, 250);
  const job = (await r!.api('GET', `/jobs?id=${id}&job_type=Boot&page_size=1`)).body.data[0];
  return { host: h, job };
}

async function snapshotIds(id: string): Promise<string[]> {
  const sheet = await r!.api('GET', `/hosts/${id}?sheet=snapshot&page_size=50`);
  return sheet.body.data.sort((a: any, b: any) => a.created_at.localeCompare(b.created_at) || a.snapshot_name.localeCompare(b.snapshot_name)).map((s: any) => s.id);
}

function runningVms(instanceId: string): boolean {
  return readdirSync('/proc').some((p) => /^\d+$/.test(p) && (() => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`rehost-${instanceId}`);
    } catch {
      return false;
    }
  })());
}

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
  const src = (await r.api('POST', '/sources', { type: 'Image', name: 'imgs', config: { path: images } })).body.data.id;
  await waitFor('source', async () => (await r!.api('GET', `/sources/${src}`)).body.source.status === 'connected');
  const id = (await r.api('GET', `/sources/${src}/hosts`)).body.data[0].id;
  await r.api('POST', '/hosts/register', { ids: [id] });
  const tgt = (await r.api('POST', '/targets', { type: 'HyperGate', config: { cloud_type: 'Local', path: targetDir }, metadata: { driver_name: 'Local' } })).body.data.uuid;
  await waitFor('target', async () => (await r!.api('GET', '/targets')).body.targets.data.find((t: any) => t.uuid === tgt)?.target_status === 'active');
  assert.equal((await r.api('PUT', '/hosts/target_platform', { ids: [id], storage_id: tgt, pool_id: tgt, step: '2' })).status, 200);
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

  // The engine crashes; after a restart cleanup still stops the machine it started
  await r.kill();
  assert.equal(runningVms(cut.host.cloud_instance_id), true, 'the migrated machine outlives the engine');
  r = await startRehost({ dataDir });
  await r.login();
  assert.equal((await r.api('POST', '/hosts', { ids: [id], clean: { force: false } })).status, 200);
  await waitFor('cleaned', async () => (await r!.api('GET', '/hosts')).body.total === 0, 60_000);
  assert.equal(runningVms(cut.host.cloud_instance_id), false, 'cleanup stopped the migrated machine');
  assert.equal(runningVms(after1.host.cloud_instance_id), false, 'and the test machine');
  assert.deepEqual(readdirSync(targetDir).sort(), ['migrated'], 'only the cutover copy is left');
  assert.ok(existsSync(join(targetDir, 'migrated', migrated[0]!, 'disk-0.raw')));
  console.log(`# total: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
