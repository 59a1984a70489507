/**
 * Transport direct to a KVM host, on real parts: an Agent source (sshd on 127.0.0.1, a loop
 * device) and a KVM target whose sshd runs in a network namespace this test creates (a veth pair,
 * so the "KVM host" is another host on a network). The source agent sends the chunks to an agent in
 * the sink role on the KVM host over TLS 1.3 with per-job certificates pinned on both sides; the
 * engine only plans, compares digests, checkpoints and verifies. Through the REST API: full sync,
 * 1 % change, incremental sync, byte equality; the engine's own read counter (/proc/<pid>/io)
 * shows the chunk bytes did not pass through it. A sink address the source cannot reach fails the
 * step with the reason, and the same sync succeeds once the network lets it through. The sink
 * agent dialing the source (direct_listener agent) works too, and a sink agent killed mid-sync is
 * replaced within the job, which resumes. Wrong pins: agent-link.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { compareVolume, makeMixedDisk, modifyBlocks } from '../fixtures/disks.js';
import { SSHD, startSshd, type Sshd } from '../peers/sshd.js';
import { attachLoop, canUseLoop, detachLoop } from '../peers/sshhost/loop.js';
import { addAgentSource, buildAgent, registerAndAssign, settledSource, startSync, syncEnded, syncStep } from './agent-flow.js';

const DISK_MIB = 48;
const MiB = 1024 * 1024;
const hasIp = spawnSync('ip', ['-V'], { stdio: 'ignore' }).status === 0;
const skip = !canUseLoop() || !existsSync(SSHD) || !hasIp ? 'needs root, loop devices, iproute2 and openssh-server' : false;

// A namespace, veth pair and subnets of this test alone (names and ranges from the pid).
const tag = (process.pid % 250) + 1;
const NS = `wt-direct-${process.pid}`;
const VETH_HOST = `wdh${process.pid}`.slice(0, 15);
const VETH_NS = `wdn${process.pid}`.slice(0, 15);
const HOST_IP = `10.231.${tag}.1`;
const KVM_IP = `10.231.${tag}.2`;
/** An address of the KVM host that the source host has no route to, until the test adds one. */
const HIDDEN_NET = `10.232.${tag}.0/24`;
const HIDDEN_IP = `10.232.${tag}.1`;

const work = tempDir('kvm-direct');
let bundle = '';
let r: Rehost | undefined;
let sourceSshd: Sshd | undefined;
let kvmSshd: Sshd | undefined;
const loops: string[] = [];
let labUp = false;

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

function labStart(): void {
  labUp = true;
  ip('netns', 'add', NS);
  ip('link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_NS);
  ip('link', 'set', VETH_NS, 'netns', NS);
  ip('addr', 'add', `${HOST_IP}/24`, 'dev', VETH_HOST);
  ip('link', 'set', VETH_HOST, 'up');
  ip('-n', NS, 'addr', 'add', `${KVM_IP}/24`, 'dev', VETH_NS);
  ip('-n', NS, 'link', 'set', VETH_NS, 'up');
  ip('-n', NS, 'link', 'set', 'lo', 'up');
  ip('-n', NS, 'addr', 'add', `${HIDDEN_IP}/32`, 'dev', 'lo');
  // Unreachable from here (and never sent out of this machine's default route).
  ip('route', 'add', 'unreachable', HIDDEN_NET);
}

function labStop(): void {
  if (!labUp) return;
  for (const args of [['route', 'del', HIDDEN_NET], ['netns', 'del', NS], ['link', 'del', VETH_HOST]]) spawnSync('ip', args, { stdio: 'ignore' });
}

/** Bytes the engine process read through read(2)-like calls, sockets included (`rchar`). */
function engineReadBytes(): number {
  const io = readFileSync(`/proc/${r!.proc.pid}/io`, 'utf8');
  return Number(/^rchar: (\d+)$/m.exec(io)![1]);
}

before(async () => {
  if (skip) return;
  bundle = await buildAgent(join(work, 'agent'));
  for (const [i, seed] of [31, 32, 33, 34].entries()) {
    makeMixedDisk(join(work, `disk${i}.raw`), DISK_MIB, seed);
    loops.push(attachLoop(join(work, `disk${i}.raw`)));
  }
  labStart();
  sourceSshd = await startSshd(join(work, 'sshd-source'));
  kvmSshd = await startSshd(join(work, 'sshd-kvm'), { netns: NS, address: KVM_IP, port: 22 });
  r = await startRehost({ env: { REHOST_AGENT_BUNDLE: bundle } });
  await r.login();
});

after(async () => {
  await r?.stop();
  await sourceSshd?.stop();
  await kvmSshd?.stop();
  for (const l of loops) detachLoop(l);
  labStop();
  removeDir(work);
});

let targets = 0;
async function kvmTarget(extra: Record<string, unknown> = {}): Promise<string> {
  const created = await r!.api('POST', '/targets', { type: 'HyperGate', name: `kvm-direct-${++targets}`, config: { cloud_type: 'KVM', address: KVM_IP, port: 22, username: 'root', private_key: kvmSshd!.privateKey, host_key: kvmSshd!.hostKey, path: join(work, 'kvm-host'), ...extra }, metadata: { driver_name: 'KVM' } });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const id: string = created.body.data.uuid;
  await waitFor('target active', async () => (await r!.api('GET', '/targets')).body.targets.data.find((t: any) => t.uuid === id)?.target_status === 'active');
  return id;
}

async function agentHost(name: string, disk: string, extra: Record<string, unknown>, target: string): Promise<string> {
  const src = await addAgentSource(r!, name, { address: '127.0.0.1', port: sourceSshd!.port, username: 'root', private_key: sourceSshd!.privateKey, disks: [disk], transport: 'direct', ...extra });
  assert.equal(src.status, 200, JSON.stringify(src.body));
  assert.equal((await settledSource(r!, src.id)).source.status, 'connected');
  return registerAndAssign(r!, src.id, { targetId: target, poolId: target });
}

/** The volume on the "KVM host" (a qcow2 layer chain, or a raw file) reads as the loop device. */
function assertSame(hostId: string, disk: string, when: string): void {
  assert.equal(compareVolume(disk, join(work, 'kvm-host', hostId)), '', `the KVM volume equals the source disk ${when}`);
}

async function syncOk(hostId: string, mode: 'full' | 'incremental'): Promise<string> {
  await startSync(r!, hostId, mode);
  const h = await syncEnded(r!, hostId);
  assert.equal(h.h_host_status, 'sync_snapshot_done', JSON.stringify(h));
  return (await syncStep(r!, hostId, 'Copy disk 0')).step.detail as string;
}

test('transport direct to a KVM host: source agent → sink agent over pinned TLS 1.3, full and incremental, byte equality, no chunk bytes through the engine', { skip, timeout: 300_000 }, async () => {
  const target = await kvmTarget();
  const hostId = await agentHost('kvm-direct-a', loops[0]!, {}, target);

  const readBefore = engineReadBytes();
  const full = await syncOk(hostId, 'full');
  const engineRead = engineReadBytes() - readBefore;
  assertSame(hostId, loops[0]!, 'after the full sync');
  const opened = (await syncStep(r!, hostId, 'Open source snapshot')).step.detail as string;
  assert.match(opened, /transport: direct \(source agent → the target's sink agent over TLS 1\.3, per-job certificates pinned on both sides/, opened);
  const where = new RegExp(`forwarded ([\\d.]+)MB on the link source agent on 127\\.0\\.0\\.1 → the sink agent on the KVM host root@${KVM_IP.replace(/\./g, '\\.')}:22 at ${KVM_IP.replace(/\./g, '\\.')}:\\d+ \\(TLS 1\\.3 TLS_AES_128_GCM_SHA256, per-job certificates pinned on both sides\\), none through the engine; copied in [\\d.]+ s; transport direct$`);
  const m = where.exec(full);
  assert.ok(m, full);
  const forwarded = Number(m[1]) * MiB;
  // The engine read its control messages, state and the agent files it pushed, not the chunks.
  console.log(`full sync: ${(forwarded / MiB).toFixed(1)} MiB forwarded source → sink; the engine read ${(engineRead / MiB).toFixed(1)} MiB in all`);
  assert.ok(forwarded > 30 * MiB, full);
  assert.ok(engineRead < forwarded / 4, `the engine read ${engineRead} bytes while ${forwarded} were forwarded`);

  const changed = modifyBlocks(loops[0]!, DISK_MIB, 1, 17);
  const before2 = engineReadBytes();
  const inc = await syncOk(hostId, 'incremental');
  const engineRead2 = engineReadBytes() - before2;
  assertSame(hostId, loops[0]!, 'after the incremental sync');
  assert.match(inc, new RegExp(`^incremental: .* ${changed.length} chunks sent, ${DISK_MIB / 4 - changed.length} skipped .*verified; forwarded [\\d.]+MB on the link`), inc);
  console.log(`incremental: ${inc}; the engine read ${(engineRead2 / MiB).toFixed(1)} MiB`);
});

test('transport direct to a KVM host: a sink address the source cannot reach fails the copy step with the reason; the retry succeeds once it is reachable', { skip, timeout: 300_000 }, async () => {
  const target = await kvmTarget({ direct_address: HIDDEN_IP });
  const hostId = await agentHost('kvm-direct-b', loops[1]!, {}, target);
  await startSync(r!, hostId, 'full');
  const failed = await syncEnded(r!, hostId);
  assert.equal(failed.h_host_status, 'sync_failed', JSON.stringify(failed));
  assert.equal(failed.is_sync, true, 'the host stays retryable');
  const { job } = await syncStep(r!, hostId, 'Copy disk 0');
  assert.equal(job.job_status, 'failed');
  const reason = String(failed.description);
  const hidden = HIDDEN_IP.replace(/\./g, '\\.');
  assert.match(reason, new RegExp(`direct transport: the source agent on 127\\.0\\.0\\.1 could not connect to the sink agent on the KVM host \\S+ at ${hidden}:\\d+ within 15 s: TLS connection to ${hidden}:\\d+ failed: EHOSTUNREACH`), reason);
  assert.match(reason, /or use transport "relay"/);

  // The network now routes the source host to that address (through the KVM host): same sync, retried.
  ip('route', 'replace', HIDDEN_NET, 'via', KVM_IP);
  const full = await syncOk(hostId, 'full');
  assertSame(hostId, loops[1]!, 'after the retried full sync');
  assert.match(full, new RegExp(`at ${hidden}:\\d+ \\(TLS 1\\.3`), full);
});

test('transport direct to a KVM host with direct_listener agent: the sink agent dials the source agent', { skip, timeout: 300_000 }, async () => {
  const target = await kvmTarget();
  const hostId = await agentHost('kvm-direct-c', loops[2]!, { direct_listener: 'agent', direct_address: HOST_IP }, target);
  const full = await syncOk(hostId, 'full');
  assertSame(hostId, loops[2]!, 'after the full sync');
  const host = HOST_IP.replace(/\./g, '\\.');
  assert.match(full, new RegExp(`forwarded [\\d.]+MB on the link the sink agent on the KVM host \\S+ → source agent on ${host}:\\d+ \\(TLS 1\\.3 `), full);
  modifyBlocks(loops[2]!, DISK_MIB, 1, 19);
  await syncOk(hostId, 'incremental');
  assertSame(hostId, loops[2]!, 'after the incremental sync');
});

/** The sink agent running in the KVM host's namespace (the one a sync started there). */
function sinkAgentPid(): number | null {
  const pids = execFileSync('ip', ['netns', 'pids', NS], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  for (const pid of pids) {
    const cmdline = spawnSync('cat', [`/proc/${pid}/cmdline`], { encoding: 'utf8' }).stdout ?? '';
    if (cmdline.includes('agent.cjs') && cmdline.includes('sink')) return pid;
  }
  return null;
}

test('transport direct to a KVM host, throttled: the sink agent killed mid-sync is reconnected within the job, which resumes from the checkpoint', { skip, timeout: 300_000 }, async () => {
  const target = await kvmTarget();
  const hostId = await agentHost('kvm-direct-d', loops[3]!, {}, target);
  const started = Date.now();
  await startSync(r!, hostId, 'full', 40);
  // 48 MiB at 40 Mbps take about 10 s (checkpoints every 2 s): kill the sink agent half way.
  await waitFor('progress', async () => Number((await r!.api('GET', `/hosts?ids=${hostId}`)).body.data[0]?.detail_data?.percent ?? 0) >= 50, 60_000, 200);
  const pid = sinkAgentPid();
  assert.ok(pid !== null, 'a sink agent runs on the KVM host');
  process.kill(pid, 'SIGKILL');
  const done = await syncEnded(r!, hostId);
  assert.equal(done.h_host_status, 'sync_snapshot_done', JSON.stringify(done));
  assert.ok(Date.now() - started > 2000, 'the throttle held the copy back');
  const { step } = await syncStep(r!, hostId, 'Copy disk 0');
  console.log(`after the kill: ${step.detail}`);
  assert.match(step.detail, /resumed from [1-9][\d.]*MB.*forwarded/, step.detail);
  assert.match(step.detail, /reconnected [1-9] time\(s\): /, step.detail);
  assertSame(hostId, loops[3]!, 'after the reconnected sync');
});
