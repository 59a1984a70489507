/**
 * vSphere data path through the REST API: a 256 MiB seeded vcsim disk full-synced to the Local
 * target byte for byte, an incremental sync after 1% changed that reads only the CBT-reported
 * areas, not the whole 4 MiB chunks they touch (counted by the driver and logged), no snapshot left behind (a stale one from a crashed
 * run is removed too), and a VM destroyed in vSphere showing `h_health_status: disconnected`
 * after a refresh.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, readFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { makeMixedDisk, sha256File } from '../fixtures/disks.js';
import { volumeSha256 } from '../local-volume.js';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { flatDescriptor, startVcsim, VcsimAdmin, type Vcsim } from '../peers/vcsim.js';

const MiB = 1024 * 1024;
const SIZE_MIB = 256;
const CHUNK = 4 * MiB;
const VM = 'DC0_H0_VM0';
const work = tempDir('vsphere-sync');
let r: Rehost;
let sim: Vcsim;
let admin: VcsimAdmin;

after(async () => {
  await admin?.close();
  await r?.stop();
  await sim?.stop();
  removeDir(work);
});

async function seed(file: string): Promise<void> {
  await sim.put('LocalDS_0', `${VM}/disk1-flat.vmdk`, readFileSync(file));
}

async function waitHost(id: string, predicate: (h: any) => boolean, what: string): Promise<any> {
  return waitFor(what, async () => {
    const host = (await r.api('GET', `/hosts?ids=${id}`)).body.data[0];
    if (host && /_failed$/.test(host.h_host_status)) throw new Error(`host failed: ${JSON.stringify(host)}`);
    return host && predicate(host) ? host : null;
  }, 180_000);
}

/** The datastore bytes the driver read for each closed snapshot, from its log lines. */
function bytesReadPerSync(): number[] {
  return r
    .output()
    .split('\n')
    .filter((l) => l.includes('"source snapshot removed"'))
    .map((l) => (JSON.parse(l) as { datastoreBytesRead: number }).datastoreBytesRead);
}

async function sync(hostId: string, mode: 'full' | 'incremental', count: number): Promise<any> {
  const res = await r.api('POST', '/hosts', { ids: [hostId], sync: { do_snapshot: false, sync_mode: mode, transfer_speed: 0 } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  await waitHost(hostId, (h) => h.h_host_status === 'sync_snapshot_done' && bytesReadPerSync().length === count, `${mode} sync`);
  const jobs = (await r.api('GET', `/jobs?id=${hostId}&job_type=Sync`)).body.data;
  return jobs.find((j: any) => j.job_status === 'done' && j.params?.sync_mode === mode) ?? jobs[0];
}

/** Overwrites two runs of 1.28 MiB (1% of the disk together); returns the 4 MiB chunks touched. */
function changeOnePercent(file: string): Set<number> {
  const run = Math.round((SIZE_MIB * MiB) / 200);
  const touched = new Set<number>();
  const fd = openSync(file, 'r+');
  for (const at of [37 * MiB + 12345, 181 * MiB + 777]) {
    const buf = Buffer.alloc(run, 0x5a);
    writeSync(fd, buf, 0, run, at);
    for (let c = Math.floor(at / CHUNK); c <= Math.floor((at + run - 1) / CHUNK); c++) touched.add(c);
  }
  closeSync(fd);
  return touched;
}

test('vSphere VM → Local target: full and CBT incremental sync, snapshot cleanup, deleted VM', async (t) => {
  sim = await startVcsim();
  admin = await VcsimAdmin.open(sim);
  await admin.resizeFirstDisk(VM, SIZE_MIB * MiB);
  const flat = join(work, 'disk1-flat.vmdk');
  makeMixedDisk(flat, SIZE_MIB, 5);
  await seed(flat);
  await sim.put('LocalDS_0', `${VM}/disk1.vmdk`, Buffer.from(flatDescriptor(SIZE_MIB * MiB, 'disk1-flat.vmdk')));

  r = await startRehost();
  await r.login();
  const src = await r.api('POST', '/sources', { type: 'VMware', name: 'vc', config: { host: sim.host, port: sim.port, username: sim.username, password: sim.password } });
  assert.equal(src.status, 200, JSON.stringify(src.body));
  const sourceId = src.body.data.id;
  await waitFor('source connected', async () => (await r.api('GET', `/sources/${sourceId}`)).body.source.status === 'connected');
  const offered = (await r.api('GET', `/sources/${sourceId}/hosts`)).body.data as any[];
  const hostId = offered.find((h) => h.host_name === VM)?.id;
  assert.ok(hostId, JSON.stringify(offered));
  assert.equal((await admin.vm(VM)).instanceUuid, hostId, 'the host id is the VM instance uuid');

  assert.equal((await r.api('POST', '/hosts/register', { ids: [hostId] })).status, 200);
  const targetDir = join(work, 'target');
  const tgt = await r.api('POST', '/targets', { type: 'HyperGate', config: { cloud_type: 'Local', path: targetDir }, metadata: { driver_name: 'Local' } });
  assert.equal(tgt.status, 200, JSON.stringify(tgt.body));
  const targetId = tgt.body.data.uuid;
  await waitFor('target active', async () => (await r.api('GET', '/targets')).body.targets.data.find((t: any) => t.uuid === targetId)?.target_status === 'active');
  const storage = (await r.api('GET', '/targets?cloud_type=Local')).body.targets.storages.find((s: any) => s.storage_id === targetId);
  const assign = await r.api('PUT', '/hosts/target_platform', { ids: [hostId], storage_id: targetId, pool_id: storage.pools[0].pool_uuid, step: '2' });
  assert.equal(assign.status, 200, JSON.stringify(assign.body));

  // Full sync.
  const full = await sync(hostId, 'full', 1);
  const volume = join(targetDir, hostId, 'disk-0.raw');
  assert.equal(volumeSha256(volume), sha256File(flat), 'target disk equals the VM disk after the full sync');
  // CBT reports the allocated areas: the disk's 1 MiB zero runs (a quarter) are not listed.
  const allocated = Number(/allocated areas from CBT \((\d+) bytes\)/.exec(JSON.stringify(full.steps))?.[1]);
  assert.equal(allocated, (SIZE_MIB * MiB * 3) / 4, JSON.stringify(full.steps));
  const [fullRead] = bytesReadPerSync();
  assert.ok(fullRead! <= SIZE_MIB * MiB + 64 * 1024, `full sync read ${fullRead} bytes`);
  assert.equal(await admin.snapshotCount(VM), 0, 'no snapshot left after the full sync');

  // Incremental after 1% changed: reads only the CBT-reported areas (issue 5: read ÷ changed ≤ 1.1).
  const touched = changeOnePercent(flat);
  await seed(flat);
  await admin.snapshot(VM, 'rehost-sync-left-by-a-crash');
  assert.equal(await admin.snapshotCount(VM), 1);
  const inc = await sync(hostId, 'incremental', 2);
  assert.equal(volumeSha256(volume), sha256File(flat), 'target disk equals the VM disk after the incremental sync');
  assert.match(JSON.stringify(inc.steps), /changed areas from CBT/);
  const incRead = bytesReadPerSync()[1]!;
  const changed = (SIZE_MIB * MiB) / 100;
  assert.ok(incRead >= changed, `read ${incRead} bytes, fewer than the ${changed} changed`);
  assert.ok(incRead <= touched.size * CHUNK + 64 * 1024, `read ${incRead} bytes for ${touched.size} changed chunks`);
  assert.ok(incRead <= 1.1 * changed, `read ${incRead} bytes for ${changed} changed: ${(incRead / changed).toFixed(3)}× (target ≤ 1.1)`);
  assert.equal(await admin.snapshotCount(VM), 0, 'no snapshot left after the incremental sync (the stale one removed too)');
  t.diagnostic(`datastore bytes read: full ${fullRead}, incremental ${incRead} for ${Math.round(changed)} changed bytes in ${touched.size} chunk(s) (${(incRead / changed).toFixed(3)}×)`);

  // The VM is destroyed in vSphere: after a refresh its host is disconnected.
  await admin.destroy(VM);
  assert.equal((await r.api('POST', `/sources/${sourceId}/refresh`)).status, 200);
  const gone = await waitHost(hostId, (h) => h.h_health_status === 'disconnected', 'host disconnected');
  assert.equal(gone.h_health_status, 'disconnected');
});
