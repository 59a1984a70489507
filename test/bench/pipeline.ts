/**
 * The replication pipeline alone, for profiling (not a test): the agent program spawned here (its
 * SSH channel replaced by a pipe) reads a disk image, the direct transport carries it to this
 * process, and the replicator writes a raw file. No REST API or sshd in the way.
 *   node --import tsx test/bench/pipeline.ts DISK [relay|direct|direct-agent]
 * Prints wall seconds (copy and verify apart), CPU seconds of both ends and the engine's peak RSS.
 * PIPELINE_SINK=nbd: a qcow2 layer through qemu-nbd instead of the raw file. PIPELINE_NO_FLUSH=1:
 * checkpoints skip fsync. PIPELINE_NULL_SINK=1: nothing is stored (the copy alone is measured; the
 * verification then fails). PIPELINE_AGENT_PROF=DIR: the agent's --cpu-prof. PIPELINE_TRACE_GC=1.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { PerformanceObserver } from 'node:perf_hooks';
import { build } from 'esbuild';
import { ROOT, tempDir } from '../harness.js';
import { mintIdentity, pinOf } from '../../src-main/replication/direct-identity.js';
import { DirectListener, dialDirect } from '../../src-main/replication/wire/direct.js';
import { WirePeer } from '../../src-main/replication/wire/peer.js';
import { createReplicator } from '../../src-main/replication/index.js';
import { FileSink } from '../../src-main/targets/local/file-sink.js';
import { NbdSink } from '../../src-main/targets/local/nbd-sink.js';
import { RemoteDisk } from '../../src-main/sources/agent/remote-disk.js';

if (process.env.PIPELINE_TRACE_GC) setFlagsFromString('--trace-gc');
const [disk = '', transport = 'direct'] = process.argv.slice(2);
const work = tempDir('pipeline');
await build({ bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'error', entryPoints: { agent: join(ROOT, 'src-main/agent/main.ts') }, outdir: work, outExtension: { '.js': '.cjs' } });
// The native helpers beside the bundle, as the engine pushes them.
for (const [name, from] of [['xxhash.node', 'node_modules/@node-rs/xxhash-linux-x64-gnu/xxhash.linux-x64-gnu.node'], ['zstd.node', 'node_modules/zstd-napi/build/Release/binding.node']]) {
  writeFileSync(join(work, name!), await import('node:fs').then((fs) => fs.readFileSync(join(ROOT, from!))));
}
const agentProc = spawn(process.execPath, [...(process.env.PIPELINE_AGENT_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.PIPELINE_AGENT_PROF] : []), join(work, 'agent.cjs'), '--role', 'source'], { stdio: ['pipe', 'pipe', 'inherit'] });
const control = new WirePeer(agentProc.stdout, agentProc.stdin);
await control.hello(AbortSignal.timeout(20_000));
let data = control;
if (transport === 'direct') {
  const [engine, agent] = await Promise.all([mintIdentity('engine'), mintIdentity('agent')]);
  const listener = await DirectListener.open('127.0.0.1', 0, engine, pinOf(agent));
  const accepted = listener.accept(10_000);
  await control.call('direct', { mode: 'dial', host: '127.0.0.1', port: listener.port, identity: { key: agent.key, cert: agent.cert }, peer: pinOf(engine), timeoutMs: 10_000 });
  const socket = await accepted;
  data = new WirePeer(socket, socket);
  await data.hello(AbortSignal.timeout(10_000));
  listener.close();
} else if (transport === 'direct-agent') {
  // The agent listens and this end dials: received bytes land in one reused read buffer.
  const [engine, agent] = await Promise.all([mintIdentity('engine'), mintIdentity('agent')]);
  const { port } = await control.call<{ port: number }>('direct', { mode: 'listen', host: '127.0.0.1', port: 0, identity: { key: agent.key, cert: agent.cert }, peer: pinOf(engine), timeoutMs: 10_000 });
  const dialed = await dialDirect({ host: '127.0.0.1', port, identity: engine, peer: pinOf(agent), timeoutMs: 10_000 });
  data = new WirePeer(dialed.socket, dialed.socket);
  dialed.attach((chunk, transient) => data.receive(chunk, transient));
  await data.hello(AbortSignal.timeout(10_000));
}
const opened = await control.call<{ handle: number; size: number }>('open', { path: disk });
const target = join(work, 'target.raw');
writeFileSync(target, '');
rmSync(target);
writeFileSync(target, Buffer.alloc(0));
await import('node:fs/promises').then((fs) => fs.truncate(target, opened.size));
// PIPELINE_SINK=nbd: a qcow2 layer written through qemu-nbd, as the Local target does on ext4.
let sink: FileSink | NbdSink;
if (process.env.PIPELINE_SINK === 'nbd') {
  rmSync(target);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', `${target}.qcow2`, String(opened.size)]);
  sink = await NbdSink.open(`${target}.qcow2`, AbortSignal.timeout(3_600_000));
} else sink = await FileSink.open(target);
// Time spent making writes durable (checkpoints), and in writes, as the copy waits for them.
const waited = { flush_s: 0, flushes: 0, write_s: 0 };
const flush = sink.flush.bind(sink);
sink.flush = async () => {
  const t = performance.now();
  if (!process.env.PIPELINE_NO_FLUSH) await flush();
  waited.flush_s += (performance.now() - t) / 1000;
  waited.flushes++;
};
const write = sink.write.bind(sink);
sink.write = async (offset, data) => {
  const t = performance.now();
  if (!process.env.PIPELINE_NULL_SINK) await write(offset, data);
  waited.write_s += (performance.now() - t) / 1000;
};
const quiet = { info() {}, warn() {}, error() {}, debug() {}, child() { return quiet; } } as never;
const replicator = createReplicator({ stateDir: join(work, 'state'), log: quiet });
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const agentCpu = () => {
  const f = (readStat(agentProc.pid!) ?? '').replace(/^.*\) /, '').split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
function readStat(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
}
const gcs = { copy: { major: 0, ms: 0 }, verify: { major: 0, ms: 0 } };
let phase: 'copy' | 'verify' = 'copy';
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if ((e as unknown as { detail: { kind: number } }).detail.kind === 4) gcs[phase].major++;
    gcs[phase].ms += e.duration;
  }
}).observe({ entryTypes: ['gc'] });
let rss = 0;
const sampler = setInterval(() => (rss = Math.max(rss, process.memoryUsage.rss())), 100);
const t0 = performance.now();
let copySeconds = 0;
const c0 = cpu();
const a0 = agentCpu();
const result = await replicator.copyDisk({ key: 'probe', disk: new RemoteDisk(0, opened.size, disk, opened.handle, data, process.env.PIPELINE_ZSTD !== '0'), sink, mode: 'full', limitMbps: null, signal: new AbortController().signal, onProgress: (done, planned) => {
  if (done >= planned && phase === 'copy') {
    phase = 'verify';
    copySeconds = (performance.now() - t0) / 1000;
    // PIPELINE_NULL_SINK: nothing was stored, so verification cannot pass; the copy is what is measured
    if (process.env.PIPELINE_NULL_SINK) console.log(JSON.stringify({ transport, copy_s: copySeconds, engine_cpu_s: cpu() - c0, agent_cpu_s: agentCpu() - a0 }));
  }
} });
const seconds = (performance.now() - t0) / 1000;
clearInterval(sampler);
console.log(JSON.stringify({ transport, seconds, copy_s: copySeconds, verify_s: seconds - copySeconds, engine_cpu_s: cpu() - c0, agent_cpu_s: agentCpu() - a0, engine_rss_mb: rss / 2 ** 20, mib_per_s: statSync(disk).size / 2 ** 20 / seconds, summary: result.summary, gcs, waited }));
await sink.close();
// A clean exit, so an agent run with --cpu-prof (PIPELINE_AGENT_PROF=DIR) writes its profile.
const agentExited = new Promise((r) => agentProc.once('exit', r));
await control.call('exit').catch(() => undefined);
await Promise.race([agentExited, new Promise((r) => setTimeout(r, 5000))]);
agentProc.kill();
rmSync(work, { recursive: true, force: true });
process.exit(0);
