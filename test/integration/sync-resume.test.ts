/**
 * Resuming across the engine's own faults, on real parts (sshd on 127.0.0.1, a loop device, the
 * agent pushed and run, `rehost serve` as a process): the engine killed with SIGKILL mid-sync and
 * started again on the same data folder marks the job failed with a clear reason, and the retry
 * resumes from the last checkpoint (for the Local target the engine is also the sink); and with
 * its replication state deleted, an incremental sync rebuilds the digests from the target volume
 * and sends only the changed chunks.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { makeMixedDisk, modifyBlocks } from '../fixtures/disks.js';
import { startSshd, type Sshd } from '../peers/sshd.js';
import { attachLoop, canUseLoop, detachLoop } from '../peers/sshhost/loop.js';
import { addAgentSource, addLocalTarget, buildAgent, host, registerAndAssign, settledSource, startSync, syncEnded, syncStep } from './agent-flow.js';
import { sameContent } from '../local-volume.js';

const DISK_MIB = 48;
/** 48 MiB at 3 MB/s on the link: a kill at 40% lands after a checkpoint (every 2 s). */
const SLOW_MBPS = 24;
const skip = !canUseLoop() || !existsSync('/usr/sbin/sshd') ? 'needs root, loop devices and openssh-server' : false;
const work = tempDir('sync-resume');
const dataDir = join(work, 'data');
let bundle = '';
let r: Rehost | undefined;
let sshd: Sshd | undefined;
let dev: string | undefined;

before(async () => {
  if (skip) return;
  bundle = await buildAgent(join(work, 'agent'));
  sshd = await startSshd(join(work, 'sshd'));
});

after(async () => {
  await r?.stop();
  await sshd?.stop();
  if (dev) detachLoop(dev);
  removeDir(work);
});

async function engine(): Promise<Rehost> {
  const rh = await startRehost({ dataDir, env: { REHOST_AGENT_BUNDLE: bundle } });
  await rh.login();
  return rh;
}

test('engine killed (SIGKILL) mid-sync, started again on the same data: the job failed with a clear reason, the retry resumes; state deleted: the incremental sends only changes', { skip, timeout: 300_000 }, async (t) => {
  r = await engine();
  const image = join(work, 'disk.raw');
  makeMixedDisk(image, DISK_MIB, 31);
  dev = attachLoop(image);
  const target = await addLocalTarget(r, join(work, 'target'));
  const src = await addAgentSource(r, 'crash', { address: '127.0.0.1', port: sshd!.port, username: 'root', private_key: sshd!.privateKey, disks: [dev] });
  assert.equal((await settledSource(r, src.id)).source.status, 'connected');
  const hostId = await registerAndAssign(r, src.id, target);

  await startSync(r, hostId, 'full', SLOW_MBPS);
  await waitFor('sync past 40%', async () => ((await host(r!, hostId)).detail_data?.percent ?? 0) >= 40, 60_000);
  await r.kill();
  r = await engine();

  const failed = await host(r, hostId);
  assert.equal(failed.h_host_status, 'sync_failed', JSON.stringify(failed));
  assert.equal(failed.is_sync, true, 'the host is retryable');
  const { job, step } = await syncStep(r, hostId, 'Copy disk 0');
  t.diagnostic(`after the restart: ${job.failure_reason}`);
  assert.equal(job.job_status, 'failed');
  assert.equal(job.failed_step, 'Copy disk 0');
  assert.match(job.failure_reason, /^the engine stopped while "Copy disk 0" was running \(interrupted by restart\); retry the sync: it resumes from the last checkpoint$/);
  assert.equal(step.status, 'failed');
  assert.equal(failed.description, job.failure_reason);

  await startSync(r, hostId, 'full', 0);
  const done = await syncEnded(r, hostId);
  assert.equal(done.h_host_status, 'sync_snapshot_done', JSON.stringify(done));
  const resumed = (await syncStep(r, hostId, 'Copy disk 0')).step.detail as string;
  t.diagnostic(resumed);
  const from = /resumed from (\d+\.\d)MB/.exec(resumed);
  assert.ok(from && Number(from[1]) > 0, resumed);
  assert.ok(sameContent(join(work, 'target', hostId), dev), 'the target holds the disk\'s bytes');

  // The replication state is lost; the volume keeps its data. 1% of the blocks change.
  const stateDir = join(dataDir, 'replication');
  assert.ok(readdirSync(stateDir).length > 0);
  for (const f of readdirSync(stateDir)) rmSync(join(stateDir, f), { recursive: true, force: true });
  const changed = modifyBlocks(image, DISK_MIB, 1);
  await startSync(r, hostId, 'incremental', 0);
  const inc = await syncEnded(r, hostId);
  assert.equal(inc.h_host_status, 'sync_snapshot_done', JSON.stringify(inc));
  const detail = (await syncStep(r, hostId, 'Copy disk 0')).step.detail as string;
  t.diagnostic(`after deleting the state: ${detail}`);
  const sent = Number(/(\d+) chunks sent/.exec(detail)?.[1]);
  assert.equal(sent, changed.length, `only the ${changed.length} changed chunk(s) crossed the link: ${detail}`);
  assert.match(r.output(), /replication state rebuilt from the target volume/);
  assert.ok(sameContent(join(work, 'target', hostId), dev), 'the target holds the disk\'s bytes');
});
