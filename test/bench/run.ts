/**
 * `npm run bench`: on the mixed disk (4 GiB by default, BENCH_MIB to change), in one run,
 *   full sync through the Agent source (SSH relay, zstd, zero skipping) vs `cat disk | ssh -c aes128-gcm … 'cat > file'`;
 *   incremental after 1 % of 4 MiB blocks changed vs `rsync --inplace --no-whole-file` over ssh;
 *   engine and agent peak RSS.
 * BENCH_LINK_MBIT=N sends everything through the delay proxy capped at N Mbit/s (a real link).
 * Prints a table and writes JSON to bench-results/. Needs root (loop device, sshd). Not a test.
 * Then the vSphere bench (vsphere.ts) against vcsim, when it can be built (BENCH_VSPHERE_MIB, 1024).
 * BENCH_ONLY=agent or BENCH_ONLY=vsphere runs only that part.
 */
import { execFileSync, execSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, removeDir, startRehost, tempDir, type Rehost } from '../harness.js';
import { modifyBlocks } from '../fixtures/disks.js';
import { freePort, startSshd, type Sshd } from '../peers/sshd.js';
import { attachLoop, detachLoop } from '../peers/sshhost/loop.js';
import { runVsphereBench } from './vsphere.js';
import { addAgentSource, addLocalTarget, buildAgent, registerAndAssign, settledSource, startSync, syncEnded, syncStep } from '../integration/agent-flow.js';

const SIZE_MIB = Number(process.env.BENCH_MIB ?? 4096);
const LINK_MBIT = Number(process.env.BENCH_LINK_MBIT ?? 0);
let proxy: ChildProcess | undefined;

async function startLinkProxy(sshdPort: number): Promise<number> {
  const port = await freePort();
  proxy = spawn(process.execPath, [join(ROOT, 'test/peers/sshhost/delay-proxy.mjs'), `127.0.0.1:${port}`, `127.0.0.1:${sshdPort}`, '0', String(LINK_MBIT)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => proxy!.stdout!.once('data', () => resolve()));
  return port;
}
const work = process.env.BENCH_DIR ?? tempDir('bench');

function rssOf(pid: number, field = 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function agentWritten(pid: number): number {
  const m = /wchar:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function dropCaches(): void {
  try {
    execSync('sync && echo 3 > /proc/sys/vm/drop_caches', { stdio: 'ignore' });
  } catch {
    // Not permitted: both sides then read from the page cache alike.
  }
}

async function timed<T>(fn: () => Promise<T> | T): Promise<{ seconds: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - t) / 1000, value };
}

async function main(): Promise<void> {
  mkdirSync(work, { recursive: true });
  const diskFile = join(work, `disk-${SIZE_MIB}.raw`);
  if (!existsSync(diskFile) || statSync(diskFile).size !== SIZE_MIB * 2 ** 20) execFileSync(process.execPath, [join(ROOT, 'test/bench/gen-testdata.mjs'), diskFile, String(SIZE_MIB), '1'], { stdio: 'inherit' });
  const loop = attachLoop(diskFile);
  let sshd: Sshd | undefined;
  let r: Rehost | undefined;
  const dataDir = tempDir('bench-data');
  try {
    sshd = await startSshd(join(work, 'sshd'));
    // BENCH_LINK_MBIT: both Rehost and the baselines go through the delay proxy capped at that
    // rate, like a real link (on loopback the baselines are bound by the source disk instead).
    const port = LINK_MBIT > 0 ? await startLinkProxy(sshd.port) : sshd.port;
    const ssh = `ssh -c aes128-gcm@openssh.com -p ${port} -i ${join(work, 'sshd/client_key')} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`;
    r = await startRehost({ env: { REHOST_AGENT_BUNDLE: await buildAgent(join(work, 'agent')) }, dataDir });
    await r.login();
    const src = await addAgentSource(r, 'bench', { address: '127.0.0.1', port, username: 'root', private_key: sshd.privateKey, disks: [loop] });
    const detail = await settledSource(r, src.id);
    const agentPid = detail.tree.agent.pid as number;
    const hostId = await registerAndAssign(r, src.id, await addLocalTarget(r, join(work, 'target')));
    let engineRss = 0;
    let agentRss = 0;
    const sampler = setInterval(() => {
      engineRss = Math.max(engineRss, rssOf(r!.proc.pid!));
      agentRss = Math.max(agentRss, rssOf(agentPid));
    }, 200);

    dropCaches();
    const full = await timed(async () => {
      await startSync(r!, hostId, 'full');
      return syncEnded(r!, hostId, 3_600_000);
    });
    if (full.value.h_host_status !== 'sync_snapshot_done') throw new Error(`full sync failed: ${full.value.description}`);
    const fullDetail = (await syncStep(r, hostId, 'Copy disk 0')).step?.detail as string;
    dropCaches();
    const baseCopy = join(work, 'baseline.raw');
    const cat = await timed(() => execSync(`cat ${loop} | ${ssh} root@127.0.0.1 'cat > ${baseCopy}'`, { stdio: 'inherit' }));

    // 1 % of the 4 MiB blocks get new data; "changed bytes" counts those blocks whole.
    const changedBlocks = modifyBlocks(loop, SIZE_MIB, 1, 9).length;
    execSync(`blockdev --flushbufs ${loop}`);
    const changedBytes = changedBlocks * 4 * 2 ** 20;
    dropCaches();
    const before = agentWritten(agentPid);
    const inc = await timed(async () => {
      await startSync(r!, hostId, 'incremental');
      return syncEnded(r!, hostId, 3_600_000);
    });
    const incWire = agentWritten(agentPid) - before;
    if (inc.value.h_host_status !== 'sync_snapshot_done') throw new Error(`incremental sync failed: ${inc.value.description}`);
    dropCaches();
    const rsync = await timed(() => execSync(`rsync --inplace --no-whole-file --ignore-times --stats -e '${ssh}' ${diskFile} root@127.0.0.1:${baseCopy}`, { encoding: 'utf8' }));
    clearInterval(sampler);
    const rsyncSent = Number(/Total bytes sent: ([\d,]+)/.exec(rsync.value)?.[1]?.replace(/,/g, '') ?? 0);

    const result = {
      at: new Date().toISOString(),
      commit: execSync('git rev-parse --short HEAD', { cwd: ROOT, encoding: 'utf8' }).trim(),
      disk_mib: SIZE_MIB,
      link_mbit: LINK_MBIT || null,
      agent: detail.tree.agent,
      full: { rehost_s: full.seconds, cat_ssh_s: cat.seconds, ratio_speedup: cat.seconds / full.seconds, detail: fullDetail },
      incremental: { detail: (await syncStep(r, hostId, 'Copy disk 0')).step?.detail, rehost_s: inc.seconds, rsync_s: rsync.seconds, ratio_time: inc.seconds / rsync.seconds, changed_bytes: changedBytes, rehost_wire_bytes: incWire, wire_over_changed: incWire / changedBytes, rsync_sent_bytes: rsyncSent },
      rss: { engine_max_bytes: engineRss, agent_max_bytes: agentRss },
    };
    console.table({
      'full sync (s)': { rehost: result.full.rehost_s.toFixed(1), baseline: result.full.cat_ssh_s.toFixed(1), ratio: `${result.full.ratio_speedup.toFixed(2)}× faster (target ≥ 1.5)` },
      'incremental (s)': { rehost: result.incremental.rehost_s.toFixed(1), baseline: result.incremental.rsync_s.toFixed(1), ratio: `${result.incremental.ratio_time.toFixed(2)}× rsync time (target ≤ 0.5)` },
      'incremental wire bytes': { rehost: incWire, baseline: rsyncSent, ratio: `${result.incremental.wire_over_changed.toFixed(2)}× changed (target ≤ 1.2)` },
      'peak RSS (MB)': { rehost: (engineRss / 2 ** 20).toFixed(0), baseline: '-', ratio: `agent ${(agentRss / 2 ** 20).toFixed(0)} MB (target ≤ 200 each)` },
    });
    mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
    const out = join(ROOT, 'bench-results', `agent-${result.at.replace(/[:.]/g, '-')}.json`);
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`written ${out}`);
  } catch (err) {
    if (r) console.error(`engine output (last lines):\n${r.output().split('\n').slice(-30).join('\n')}\nengine exit: ${r.proc.exitCode ?? r.proc.signalCode ?? 'running'}`);
    throw err;
  } finally {
    await r?.stop();
    proxy?.kill();
    await sshd?.stop();
    detachLoop(loop);
    removeDir(dataDir);
    if (!process.env.BENCH_DIR) removeDir(work);
  }
}

const only = process.env.BENCH_ONLY;
if (only !== 'vsphere') await main();
if (only !== 'agent') await runVsphereBench({ sizeMiB: Number(process.env.BENCH_VSPHERE_MIB ?? 1024) });
