/**
 * `npm run bench`: on the mixed disk (4 GiB by default, BENCH_MIB to change), in one run,
 *   full sync through the Agent source (zstd, zero skipping) vs `cat disk | ssh -c aes128-gcm … 'cat > file'`,
 *     over each transport of BENCH_TRANSPORTS (default `direct,direct-engine,relay`: direct with the agent
 *     listening and the engine dialing (the default), direct with the engine listening, relay over SSH;
 *     the first one also runs the incremental);
 *   incremental after 1 % of 4 MiB blocks changed vs `rsync --inplace --no-whole-file` over ssh;
 *   engine and agent peak RSS and CPU seconds.
 * BENCH_CPU_PROF=DIR writes the engine's V8 CPU profiles there (node --cpu-prof).
 * BENCH_LINK_MBIT=N sends everything through the delay proxy capped at N Mbit/s (a real link).
 * Prints a table and writes JSON to bench-results/. Needs root (loop device, sshd). Not a test.
 * Then the vSphere bench (vsphere.ts) against vcsim, when it can be built (BENCH_VSPHERE_MIB, 1024).
 * BENCH_ONLY=agent or BENCH_ONLY=vsphere runs only that part.
 */
import { execFileSync, execSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { modifyBlocks } from '../fixtures/disks.js';
import { freePort, startSshd, type Sshd } from '../peers/sshd.js';
import { attachLoop, detachLoop } from '../peers/sshhost/loop.js';
import { runVsphereBench } from './vsphere.js';
import { addAgentSource, addLocalTarget, buildAgent, host, registerAndAssign, settledSource, startSync, syncStep } from '../integration/agent-flow.js';

/**
 * Waits for the sync to end, asking once a second: the tests' 100 ms polling costs the engine
 * measurable CPU over a long sync (the UI follows progress over SSE instead).
 */
function syncEnded(r: Rehost, hostId: string, timeoutMs: number): Promise<any> {
  return waitFor('sync end', async () => {
    const h = await host(r, hostId);
    return h.h_host_status === 'sync_snapshot_done' || h.h_host_status === 'sync_failed' ? h : null;
  }, timeoutMs, 1000);
}

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
/**
 * BENCH_TARGET_FS=btrfs: the targets and the baselines' copy live on a btrfs file system (a loop
 * device made here), where the Local target keeps raw volumes (reflink snapshots) like `cat > file`;
 * by default they live in the work folder, where the Local target may use qcow2 through qemu-nbd.
 */
const TARGET_FS = process.env.BENCH_TARGET_FS ?? '';
let targets = work;

function rssOf(pid: number, field = 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
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

const TRANSPORTS = (process.env.BENCH_TRANSPORTS ?? 'direct,direct-engine,relay').split(',').map((t) => t.trim());

/** One engine with the Agent source on `loop` over `transport`, a Local target and the host registered. */
interface BenchEngine {
  r: Rehost;
  hostId: string;
  agentPid: number;
  agent: unknown;
  dataDir: string;
  rss: { engine: number; agent: number };
  stopSampling(): void;
}

async function startEngine(transport: string, port: number, privateKey: string, loop: string, bundle: string): Promise<BenchEngine> {
  const dataDir = tempDir(`bench-data-${transport}`);
  const prof = process.env.BENCH_CPU_PROF;
  const env: Record<string, string> = { REHOST_AGENT_BUNDLE: bundle, REHOST_LOG_LEVEL: 'warn' };
  if (prof) env.NODE_OPTIONS = `--import ${join(ROOT, 'test/bench/cpu-prof.mjs')}`;
  // The engine as shipped (dist/, built by `npm run bench` first), not the sources through tsx.
  const r = await startRehost({ env, dataDir, built: true });
  await r.login();
  // `direct-engine`: the direct transport with the engine listening and the agent dialing.
  const config = transport === 'direct-engine' ? { transport: 'direct', direct_listener: 'engine' } : { transport };
  const src = await addAgentSource(r, `bench-${transport}`, { address: '127.0.0.1', port, username: 'root', private_key: privateKey, disks: [loop], ...config });
  const detail = await settledSource(r, src.id);
  const agentPid = detail.tree.agent.pid as number;
  const hostId = await registerAndAssign(r, src.id, await addLocalTarget(r, join(targets, `target-${transport}`)));
  const rss = { engine: 0, agent: 0 };
  const sampler = setInterval(() => {
    rss.engine = Math.max(rss.engine, rssOf(r.proc.pid!));
    rss.agent = Math.max(rss.agent, rssOf(agentPid));
  }, 200);
  return { r, hostId, agentPid, agent: detail.tree.agent, dataDir, rss, stopSampling: () => clearInterval(sampler) };
}

async function fullSync(e: BenchEngine): Promise<{ seconds: number; detail: string; transport: string; engine_cpu_s: number; agent_cpu_s: number }> {
  dropCaches();
  const cpu0 = [cpuSeconds(e.r.proc.pid!), cpuSeconds(e.agentPid)];
  const full = await timed(async () => {
    await startSync(e.r, e.hostId, 'full');
    return syncEnded(e.r, e.hostId, 3_600_000);
  });
  if (full.value.h_host_status !== 'sync_snapshot_done') throw new Error(`full sync failed: ${full.value.description}`);
  const transport = ((await syncStep(e.r, e.hostId, 'Open source snapshot')).step?.detail as string).replace(/^.*transport: /, '');
  return {
    seconds: full.seconds,
    detail: (await syncStep(e.r, e.hostId, 'Copy disk 0')).step?.detail as string,
    transport,
    engine_cpu_s: cpuSeconds(e.r.proc.pid!) - cpu0[0]!,
    agent_cpu_s: cpuSeconds(e.agentPid) - cpu0[1]!,
  };
}

async function stopEngine(e: BenchEngine | undefined): Promise<void> {
  if (!e) return;
  e.stopSampling();
  await e.r.stop();
  removeDir(e.dataDir);
}

async function main(): Promise<void> {
  mkdirSync(work, { recursive: true });
  const diskFile = join(work, `disk-${SIZE_MIB}.raw`);
  if (!existsSync(diskFile) || statSync(diskFile).size !== SIZE_MIB * 2 ** 20) execFileSync(process.execPath, [join(ROOT, 'test/bench/gen-testdata.mjs'), diskFile, String(SIZE_MIB), '1'], { stdio: 'inherit' });
  // A reused BENCH_DIR holds the disk changed by the last run: restore it from a pristine copy.
  const pristine = `${diskFile}.pristine`;
  if (!existsSync(pristine)) execFileSync('cp', ['--sparse=never', diskFile, pristine]);
  else execFileSync('cp', ['--sparse=never', pristine, diskFile]);
  // Direct I/O between the loop device and its file, like a real disk: one page cache, not two.
  const loop = attachLoop(diskFile, { directIo: true });
  let targetLoop: string | null = null;
  if (TARGET_FS === 'btrfs') {
    const image = join(work, 'targets-btrfs.img');
    execFileSync('truncate', ['-s', `${Math.ceil((SIZE_MIB * 5) / 1024) + 2}G`, image]);
    targetLoop = attachLoop(image);
    execFileSync('mkfs.btrfs', ['-f', '-q', targetLoop]);
    targets = join(work, 'targets-btrfs');
    mkdirSync(targets, { recursive: true });
    execFileSync('mount', [targetLoop, targets]);
  }
  let sshd: Sshd | undefined;
  const engines: BenchEngine[] = [];
  try {
    removeDir(join(work, 'sshd'));
    sshd = await startSshd(join(work, 'sshd'));
    // BENCH_LINK_MBIT: both Rehost and the baselines go through the delay proxy capped at that
    // rate, like a real link (on loopback the baselines are bound by the source disk instead).
    const port = LINK_MBIT > 0 ? await startLinkProxy(sshd.port) : sshd.port;
    const ssh = `ssh -c aes128-gcm@openssh.com -p ${port} -i ${join(work, 'sshd/client_key')} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`;
    const bundle = await buildAgent(join(work, 'agent'));

    const main = await startEngine(TRANSPORTS[0]!, port, sshd.privateKey, loop, bundle);
    engines.push(main);
    const fulls: Record<string, Awaited<ReturnType<typeof fullSync>>> = {};
    const baseCopy = join(targets, 'baseline.raw');
    // The baseline runs before and after Rehost and its faster run counts: the first one may pay
    // for memory this (virtual) machine touches for the first time, which is not the baseline's fault.
    const catOnce = () => {
      rmSync(baseCopy, { force: true });
      dropCaches();
      return timed(() => execSync(`cat ${loop} | ${ssh} root@127.0.0.1 'cat > ${baseCopy}'`, { stdio: 'inherit' }));
    };
    const catBefore = await catOnce();
    fulls[TRANSPORTS[0]!] = await fullSync(main);
    const catAfter = await catOnce();
    const cat = catBefore.seconds <= catAfter.seconds ? catBefore : catAfter;
    for (const transport of TRANSPORTS.slice(1)) {
      const other = await startEngine(transport, port, sshd.privateKey, loop, bundle);
      engines.push(other);
      fulls[transport] = await fullSync(other);
      other.stopSampling();
      await other.r.stop();
    }

    // 1 % of the 4 MiB blocks get new data; "changed bytes" counts those blocks whole.
    const changedBlocks = modifyBlocks(loop, SIZE_MIB, 1, 9).length;
    execSync(`blockdev --flushbufs ${loop}`);
    const changedBytes = changedBlocks * 4 * 2 ** 20;
    dropCaches();
    const before = agentWritten(main.agentPid);
    const inc = await timed(async () => {
      await startSync(main.r, main.hostId, 'incremental');
      return syncEnded(main.r, main.hostId, 3_600_000);
    });
    const incWire = agentWritten(main.agentPid) - before;
    if (inc.value.h_host_status !== 'sync_snapshot_done') throw new Error(`incremental sync failed: ${inc.value.description}`);
    dropCaches();
    const rsync = await timed(() => execSync(`rsync --inplace --no-whole-file --ignore-times --stats -e '${ssh}' ${diskFile} root@127.0.0.1:${baseCopy}`, { encoding: 'utf8' }));
    main.stopSampling();
    const rsyncSent = Number(/Total bytes sent: ([\d,]+)/.exec(rsync.value)?.[1]?.replace(/,/g, '') ?? 0);

    const first = fulls[TRANSPORTS[0]!]!;
    const result = {
      at: new Date().toISOString(),
      commit: execSync('git rev-parse --short HEAD', { cwd: ROOT, encoding: 'utf8' }).trim(),
      disk_mib: SIZE_MIB,
      link_mbit: LINK_MBIT || null,
      target_fs: TARGET_FS || 'work folder (ext4 here: the Local target uses qcow2 through qemu-nbd)',
      load_avg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
      agent: main.agent,
      full: { transport: TRANSPORTS[0], rehost_s: first.seconds, cat_ssh_s: cat.seconds, cat_ssh_runs_s: [catBefore.seconds, catAfter.seconds], ratio_speedup: cat.seconds / first.seconds, detail: first.detail, engine_cpu_s: first.engine_cpu_s, agent_cpu_s: first.agent_cpu_s },
      full_by_transport: Object.fromEntries(Object.entries(fulls).map(([t, f]) => [t, { ...f, ratio_speedup: cat.seconds / f.seconds }])),
      incremental: { transport: TRANSPORTS[0], detail: (await syncStep(main.r, main.hostId, 'Copy disk 0')).step?.detail, rehost_s: inc.seconds, rsync_s: rsync.seconds, ratio_time: inc.seconds / rsync.seconds, changed_bytes: changedBytes, rehost_wire_bytes: incWire, wire_over_changed: incWire / changedBytes, rsync_sent_bytes: rsyncSent },
      rss: {
        engine_max_bytes: Math.max(...engines.map((e) => e.rss.engine)),
        agent_max_bytes: Math.max(...engines.map((e) => e.rss.agent)),
        by_transport: Object.fromEntries(engines.map((e, i) => [TRANSPORTS[i], { engine_max_bytes: e.rss.engine, agent_max_bytes: e.rss.agent }])),
      },
    };
    const table: Record<string, { rehost: string | number; baseline: string | number; ratio: string }> = {};
    for (const [t, f] of Object.entries(fulls)) {
      table[`full sync, ${t} (s)`] = { rehost: f.seconds.toFixed(1), baseline: cat.seconds.toFixed(1), ratio: `${(cat.seconds / f.seconds).toFixed(2)}× faster (target ≥ 1.5); CPU engine ${f.engine_cpu_s.toFixed(1)} s, agent ${f.agent_cpu_s.toFixed(1)} s` };
    }
    table[`incremental, ${TRANSPORTS[0]} (s)`] = { rehost: inc.seconds.toFixed(1), baseline: rsync.seconds.toFixed(1), ratio: `${result.incremental.ratio_time.toFixed(2)}× rsync time (target ≤ 0.5)` };
    table['incremental wire bytes'] = { rehost: incWire, baseline: rsyncSent, ratio: `${result.incremental.wire_over_changed.toFixed(2)}× changed (target ≤ 1.2)` };
    for (const [i, e] of engines.entries()) {
      table[`peak RSS, ${TRANSPORTS[i]} (MB)`] = { rehost: (e.rss.engine / 2 ** 20).toFixed(0), baseline: '-', ratio: `engine; agent ${(e.rss.agent / 2 ** 20).toFixed(0)} MB (target ≤ 200 each)` };
    }
    console.log(`transports: ${Object.entries(fulls).map(([t, f]) => `${t} = ${f.transport}`).join('; ')}`);
    console.table(table);
    mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
    const out = join(ROOT, 'bench-results', `agent-${result.at.replace(/[:.]/g, '-')}.json`);
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`written ${out}`);
  } catch (err) {
    for (const e of engines) console.error(`engine output (last lines):\n${e.r.output().split('\n').slice(-30).join('\n')}\nengine exit: ${e.r.proc.exitCode ?? e.r.proc.signalCode ?? 'running'}`);
    throw err;
  } finally {
    for (const e of engines) await stopEngine(e);
    proxy?.kill();
    await sshd?.stop();
    detachLoop(loop);
    if (targetLoop !== null) {
      execFileSync('umount', [targets]);
      detachLoop(targetLoop);
      removeDir(join(work, 'targets-btrfs.img'));
    }
    if (!process.env.BENCH_DIR) removeDir(work);
  }
}

const only = process.env.BENCH_ONLY;
if (only !== 'vsphere') await main();
if (only !== 'agent') await runVsphereBench({ sizeMiB: Number(process.env.BENCH_VSPHERE_MIB ?? 1024) });
