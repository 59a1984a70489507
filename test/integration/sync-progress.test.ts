/**
 * Progress and the speed limit of an Agent sync, on real parts (sshd on 127.0.0.1, a loop device,
 * the agent pushed and run; the engine's SSH link runs through a relay in this test that counts
 * what the link carries):
 * - `GET /hypermotion/v1/events` (SSE) delivers at least one progress event a second for the
 *   whole sync, from "Prepare target volumes" to the end, each with the seed's `detail_data`;
 * - `transfer_speed` 36.5 (a float) holds the link itself within ±10% (the agent paces at the
 *   source); `null` keeps the last value; `0` is unlimited.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, type Rehost } from '../harness.js';
import { startSshd, type Sshd } from '../peers/sshd.js';
import { startLinkProxy, steadyRateMbps, type LinkProxy } from '../peers/link-proxy.js';
import { attachLoop, canUseLoop, detachLoop } from '../peers/sshhost/loop.js';
import { addAgentSource, addLocalTarget, buildAgent, registerAndAssign, settledSource, syncEnded, syncStep } from './agent-flow.js';
import { sameContent } from '../local-volume.js';

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const DISK_MIB = 48;
const LIMIT = 36.5;
const skip = !canUseLoop() || !existsSync('/usr/sbin/sshd') ? 'needs root, loop devices and openssh-server' : false;
const work = tempDir('sync-progress');
let r: Rehost | undefined;
let sshd: Sshd | undefined;
let link: LinkProxy | undefined;
let dev: string | undefined;

/** Incompressible data in every chunk, so the link carries what the disk holds. */
function writeRandom(path: string, offset: number, bytes: number): void {
  const fd = openSync(path, existsSync(path) ? 'r+' : 'w');
  try {
    for (let at = 0; at < bytes; at += MiB) writeSync(fd, randomBytes(MiB), 0, MiB, offset + at);
  } finally {
    closeSync(fd);
  }
}

before(async () => {
  if (skip) return;
  const bundle = await buildAgent(join(work, 'agent'));
  sshd = await startSshd(join(work, 'sshd'));
  link = await startLinkProxy(sshd.port);
  r = await startRehost({ env: { REHOST_AGENT_BUNDLE: bundle } });
  await r.login();
});

after(async () => {
  await r?.stop();
  await link?.close();
  await sshd?.stop();
  if (dev) detachLoop(dev);
  removeDir(work);
});

interface ProgressEvent {
  at: number;
  data: any;
}

/** Subscribes to the SSE stream; collects the host's progress events until `stop()`. */
async function subscribe(rh: Rehost, hostId: string): Promise<{ events: ProgressEvent[]; stop(): void }> {
  const controller = new AbortController();
  const res = await fetch(`${rh.url}/hypermotion/v1/events?token=${rh.token}`, { signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const events: ProgressEvent[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const type = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (type !== 'progress' || data === undefined) continue;
        const parsed = JSON.parse(data);
        if (parsed.id === hostId) events.push({ at: Date.now(), data: parsed });
      }
    }
  })();
  return { events, stop: () => controller.abort() };
}

async function sync(rh: Rehost, hostId: string, mode: 'full' | 'incremental', transferSpeed: number | null | undefined): Promise<{ host: any; startedAt: number; endedAt: number }> {
  const body: Record<string, unknown> = { do_snapshot: false, sync_mode: mode };
  if (transferSpeed !== undefined) body.transfer_speed = transferSpeed;
  const startedAt = Date.now();
  const res = await rh.api('POST', '/hosts', { ids: [hostId], sync: body });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const host = await syncEnded(rh, hostId);
  assert.equal(host.h_host_status, 'sync_snapshot_done', JSON.stringify(host));
  return { host, startedAt, endedAt: Date.now() };
}

async function keptSpeed(rh: Rehost, hostId: string): Promise<number> {
  return (await rh.api('GET', `/hosts/${hostId}?sheet=snapshot`)).body.sync_strategy.transfer_speed;
}

test('SSE progress at least once a second with detail_data; a float limit holds the link within ±10%; null keeps it; 0 lifts it', { skip, timeout: 300_000 }, async (t) => {
  const rh = r!;
  const image = join(work, 'random.raw');
  writeRandom(image, 0, DISK_MIB * MiB);
  dev = attachLoop(image);
  const target = await addLocalTarget(rh, join(work, 'target'));
  const src = await addAgentSource(rh, 'paced', { address: '127.0.0.1', port: link!.port, username: 'root', private_key: sshd!.privateKey, disks: [dev] });
  assert.equal((await settledSource(rh, src.id)).source.status, 'connected');
  const hostId = await registerAndAssign(rh, src.id, target);

  const sse = await subscribe(rh, hostId);
  const full = await sync(rh, hostId, 'full', LIMIT);
  await new Promise((resolve) => setTimeout(resolve, 300));
  sse.stop();

  // At least one event a second, from the job's start to its end, each in the seed's shape.
  const events = sse.events.filter((e) => e.at >= full.startedAt && e.at <= full.endedAt + 300);
  const seconds = (full.endedAt - full.startedAt) / 1000;
  t.diagnostic(`full sync: ${seconds.toFixed(1)} s, ${events.length} progress events`);
  assert.ok(events.length >= Math.floor(seconds), `${events.length} events in ${seconds.toFixed(1)} s`);
  const times = [full.startedAt, ...events.map((e) => e.at), full.endedAt];
  const gaps = times.slice(1).map((at, i) => at - times[i]!);
  assert.ok(Math.max(...gaps) <= 1500, `the longest silence was ${Math.max(...gaps)} ms`);
  for (const { data } of events) {
    const d = data.detail_data;
    assert.equal(typeof d.percent, 'number');
    assert.match(d.speed, /^\d+(\.\d+)?Mbps$/);
    assert.match(d.remaining_time, /^(Unknown|(\d+Hour\(s\))?(\d+Minute\(s\))?\d+Sec\(s\))$/);
    assert.match(d.synced, /^\d+(\.\d+)?(B|KB|MB|GB|TB)$/);
    assert.equal(d.sync_total, '48MB');
    assert.match(d.sync_detail, /^Data sync(ing)?[^:]*:\d+% Total:48MB synced:\S+ Speed:\S+Mbps Remain time:(-|\d+:\d+:\d+)$/);
  }
  assert.ok(events.some((e) => e.data.phase === 'preparing'), 'progress is heard while the target and the source snapshot are prepared');
  assert.equal(events.at(-1)!.data.detail_data.percent, 100);
  const copying = events.filter((e) => e.data.phase === 'syncing' && e.data.detail_data.percent > 30 && e.data.detail_data.percent < 95);
  assert.ok(copying.length > 0);
  const speeds = copying.map((e) => Number.parseFloat(e.data.detail_data.speed));
  t.diagnostic(`reported speeds while copying: ${speeds.join(', ')} Mbps`);
  assert.ok(speeds.every((s) => s > LIMIT * 0.5 && s < LIMIT * 1.5), 'the reported speed follows the limit');

  // What the link carried from the source, in its steady part.
  const paced = steadyRateMbps(link!.downstream, full.startedAt);
  t.diagnostic(`link rate at transfer_speed ${LIMIT}: ${paced.mbps.toFixed(2)} Mbps over ${paced.seconds.toFixed(1)} s (${paced.bursts} bursts)`);
  assert.ok(Math.abs(paced.mbps - LIMIT) <= LIMIT * 0.1, `${paced.mbps.toFixed(2)} Mbps is not within ±10% of ${LIMIT}`);
  assert.equal(await keptSpeed(rh, hostId), LIMIT);
  assert.ok(sameContent(join(work, 'target', hostId), dev), 'the target holds the disk');

  // null: the last value (36.5) is kept.
  writeRandom(image, 2 * CHUNK, 6 * CHUNK);
  const kept = await sync(rh, hostId, 'incremental', null);
  const again = steadyRateMbps(link!.downstream, kept.startedAt);
  t.diagnostic(`transfer_speed null: ${again.mbps.toFixed(2)} Mbps over ${again.seconds.toFixed(1)} s`);
  assert.ok(Math.abs(again.mbps - LIMIT) <= LIMIT * 0.1, `null kept ${again.mbps.toFixed(2)} Mbps, not ${LIMIT}`);
  assert.equal(await keptSpeed(rh, hostId), LIMIT);
  assert.match((await syncStep(rh, hostId, 'Copy disk 0')).step.detail, /6 chunks sent/);

  // 0: unlimited.
  writeRandom(image, 2 * CHUNK, 6 * CHUNK);
  const free = await sync(rh, hostId, 'incremental', 0);
  const carried = link!.downstream.filter(([at, b]) => at >= free.startedAt && at <= free.endedAt && b >= 16 * 1024);
  const bytes = carried.reduce((n, [, b]) => n + b, 0);
  const span = (carried.at(-1)![0] - carried[0]![0]) / 1000;
  t.diagnostic(`transfer_speed 0: ${bytes} bytes over ${span.toFixed(2)} s of data on the link`);
  assert.ok(bytes >= 6 * CHUNK * 0.95, 'the changed chunks crossed the link');
  assert.ok(span < (6 * CHUNK * 8) / (LIMIT * 1e6) / 2, `unlimited, the data took ${span.toFixed(2)} s, as if still limited`);
  assert.equal(await keptSpeed(rh, hostId), 0);
  assert.ok(sameContent(join(work, 'target', hostId), dev), 'the target holds the disk');
});
