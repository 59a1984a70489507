/**
 * The vSphere part of `npm run bench` (issue 5), against the vCenter simulator:
 *   full sync of a seeded VM disk (1 GiB mixed content by default, BENCH_VSPHERE_MIB to change)
 *   through the REST API to the Local target vs `curl` of the same flat file from the datastore
 *   endpoint;
 *   incremental after 1 % of the disk changed in scattered 64 KiB pieces: bytes the driver read
 *   from the datastore (its `datastoreBytesRead` log line) ÷ bytes changed (target ≤ 1.1).
 * Prints a table and writes JSON to bench-results/. Skips, saying why, when vcsim cannot be built.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { makeMixedDisk, sha256File } from '../fixtures/disks.js';
import { ROOT, removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { volumeSha256 } from '../local-volume.js';
import { addLocalTarget, startSync, syncEnded, syncStep } from '../integration/agent-flow.js';
import { flatDescriptor, startVcsim, vcsimBinary, VcsimAdmin, type Vcsim } from '../peers/vcsim.js';

const MiB = 2 ** 20;
const PIECE = 64 * 1024;
const VM = 'DC0_H0_VM0';
const DS = 'LocalDS_0';
const FLAT = `${VM}/disk1-flat.vmdk`;

export interface VsphereBenchOptions {
  sizeMiB: number;
  /** Folder for the disk files; removed at the end unless `keep`. */
  work?: string;
  keep?: boolean;
}

async function timed<T>(fn: () => Promise<T> | T): Promise<{ seconds: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - t) / 1000, value };
}

/** Overwrites `percent` % of the disk in distinct 64 KiB pieces at pseudo-random places; returns the bytes changed. */
export function changeScattered(path: string, sizeMiB: number, percent: number, seed = 11): number {
  let x = seed;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const blocks = (sizeMiB * MiB) / PIECE;
  const count = Math.max(1, Math.round((blocks * percent) / 100));
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(next() % blocks);
  const fd = openSync(path, 'r+');
  try {
    for (const b of chosen) {
      const buf = Buffer.alloc(PIECE);
      for (let o = 0; o < PIECE; o += 4) buf.writeUInt32LE(next(), o);
      writeSync(fd, buf, 0, PIECE, b * PIECE);
    }
  } finally {
    closeSync(fd);
  }
  return count * PIECE;
}

/** The datastore bytes the driver read for each closed snapshot, from its log lines. */
function bytesReadPerSync(r: Rehost): number[] {
  return r
    .output()
    .split('\n')
    .filter((l) => l.includes('"source snapshot removed"'))
    .map((l) => (JSON.parse(l) as { datastoreBytesRead: number }).datastoreBytesRead);
}

/** Adds the simulator as a VMware source, registers VM and assigns it to a new Local target; returns the host id. */
async function prepareHost(r: Rehost, sim: Vcsim, targetDir: string): Promise<string> {
  const src = await r.api('POST', '/sources', { type: 'VMware', name: 'vc', config: { host: sim.host, port: sim.port, username: sim.username, password: sim.password } });
  if (src.status !== 200) throw new Error(JSON.stringify(src.body));
  const sourceId = src.body.data.id as string;
  await waitFor('source connected', async () => (await r.api('GET', `/sources/${sourceId}`)).body.source.status === 'connected');
  const hostId = ((await r.api('GET', `/sources/${sourceId}/hosts`)).body.data as any[]).find((h) => h.host_name === VM)?.id as string;
  if (!hostId) throw new Error(`${VM} is not offered`);
  const reg = await r.api('POST', '/hosts/register', { ids: [hostId] });
  if (reg.status !== 200) throw new Error(JSON.stringify(reg.body));
  const target = await addLocalTarget(r, targetDir);
  const assign = await r.api('PUT', '/hosts/target_platform', { ids: [hostId], storage_id: target.targetId, pool_id: target.poolId, step: '2' });
  if (assign.status !== 200) throw new Error(JSON.stringify(assign.body));
  return hostId;
}

/** Runs one sync through the API and waits until its snapshot is closed (the driver logged its bytes). */
async function sync(r: Rehost, hostId: string, mode: 'full' | 'incremental', count: number): Promise<{ seconds: number; detail: string }> {
  const run = await timed(async () => {
    await startSync(r, hostId, mode);
    const h = await syncEnded(r, hostId, 3_600_000);
    if (h.h_host_status !== 'sync_snapshot_done') throw new Error(`${mode} sync failed: ${h.description}`);
    await waitFor('snapshot closed', async () => bytesReadPerSync(r).length >= count);
  });
  return { seconds: run.seconds, detail: (await syncStep(r, hostId, 'Copy disk 0')).step?.detail as string };
}

/** `curl` of the flat file from the datastore endpoint, to `out`; seconds taken. */
async function curlFlat(sim: Vcsim, out: string): Promise<number> {
  const run = await timed(() => execFileSync('curl', ['-ksSf', '-o', out, sim.fileUrl(DS, FLAT)], { stdio: 'inherit' }));
  return run.seconds;
}

async function measure(sim: Vcsim, work: string, sizeMiB: number): Promise<Record<string, unknown>> {
  const admin = await VcsimAdmin.open(sim);
  const dataDir = tempDir('bench-vsphere-data');
  let r: Rehost | undefined;
  try {
    await admin.resizeFirstDisk(VM, sizeMiB * MiB);
    const flat = join(work, 'disk1-flat.vmdk');
    makeMixedDisk(flat, sizeMiB, 5);
    await sim.put(DS, FLAT, readFileSync(flat));
    await sim.put(DS, `${VM}/disk1.vmdk`, Buffer.from(flatDescriptor(sizeMiB * MiB, 'disk1-flat.vmdk')));
    r = await startRehost({ dataDir });
    await r.login();
    const targetDir = join(work, 'target');
    const hostId = await prepareHost(r, sim, targetDir);
    const volume = join(targetDir, hostId, 'disk-0.raw');

    const full = await sync(r, hostId, 'full', 1);
    if (volumeSha256(volume) !== sha256File(flat)) throw new Error('the target differs from the VM disk after the full sync');
    const curlCopy = join(work, 'curl-copy.vmdk');
    const curlSeconds = await curlFlat(sim, curlCopy);
    if (statSync(curlCopy).size !== sizeMiB * MiB) throw new Error(`curl fetched ${statSync(curlCopy).size} bytes`);
    rmSync(curlCopy, { force: true });

    const changed = changeScattered(flat, sizeMiB, 1);
    await sim.put(DS, FLAT, readFileSync(flat));
    const inc = await sync(r, hostId, 'incremental', 2);
    if (volumeSha256(volume) !== sha256File(flat)) throw new Error('the target differs from the VM disk after the incremental sync');
    const [fullRead, incRead] = bytesReadPerSync(r) as [number, number];
    return {
      disk_mib: sizeMiB,
      full: { rehost_s: full.seconds, curl_s: curlSeconds, rehost_over_curl_time: full.seconds / curlSeconds, datastore_bytes_read: fullRead, detail: full.detail },
      incremental: { rehost_s: inc.seconds, changed_bytes: changed, datastore_bytes_read: incRead, read_over_changed: incRead / changed, detail: inc.detail },
    };
  } catch (err) {
    if (r) console.error(`engine output (last lines):\n${r.output().split('\n').slice(-30).join('\n')}`);
    throw err;
  } finally {
    await r?.stop();
    await admin.close();
    removeDir(dataDir);
  }
}

/** Runs the vSphere benchmark; prints the table and writes bench-results/vsphere-*.json. */
export async function runVsphereBench(options: VsphereBenchOptions): Promise<void> {
  try {
    vcsimBinary();
  } catch (err) {
    console.log(`vSphere bench skipped: the simulator cannot be built (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
    return;
  }
  const work = options.work ?? tempDir('bench-vsphere');
  mkdirSync(work, { recursive: true });
  const sim = await startVcsim();
  try {
    const measured = await measure(sim, work, options.sizeMiB);
    const full = measured.full as { rehost_s: number; curl_s: number; rehost_over_curl_time: number; datastore_bytes_read: number };
    const inc = measured.incremental as { rehost_s: number; changed_bytes: number; datastore_bytes_read: number; read_over_changed: number };
    const result = { at: new Date().toISOString(), commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim(), ...measured };
    const mbps = (bytes: number, s: number) => `${(bytes / MiB / s).toFixed(0)} MiB/s`;
    console.table({
      'vSphere full sync (s)': { rehost: full.rehost_s.toFixed(1), baseline: `curl ${full.curl_s.toFixed(1)}`, ratio: `${full.rehost_over_curl_time.toFixed(2)}× curl's time (${mbps(options.sizeMiB * MiB, full.rehost_s)} vs ${mbps(options.sizeMiB * MiB, full.curl_s)})` },
      'vSphere full bytes read': { rehost: full.datastore_bytes_read, baseline: options.sizeMiB * MiB, ratio: `${(full.datastore_bytes_read / (options.sizeMiB * MiB)).toFixed(2)}× the disk size (partly covered chunks are read whole in a full sync)` },
      'vSphere incremental read': { rehost: inc.datastore_bytes_read, baseline: inc.changed_bytes, ratio: `${inc.read_over_changed.toFixed(3)}× changed (target ≤ 1.1), ${inc.rehost_s.toFixed(1)} s` },
    });
    mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
    const out = join(ROOT, 'bench-results', `vsphere-${result.at.replace(/[:.]/g, '-')}.json`);
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`written ${out}`);
  } finally {
    await sim.stop();
    if (!options.keep) removeDir(work);
  }
}
