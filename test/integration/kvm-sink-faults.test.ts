/**
 * A sync into the KVM target whose sink agent dies mid-copy, on real parts: a real sshd on
 * 127.0.0.1 is the "KVM host", the engine pushes an agent in the sink role there that writes the
 * volume file, and this test kills that agent process (found among the sshd's own processes)
 * while the copy runs. The job reconnects on its own: a new sink agent, the copy resumed from the
 * last checkpoint, and the volume ends byte-equal to the source image. Needs root (sshd).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { addTarget, assignTarget, hostRow, registerImageHost } from '../host-flow.js';
import { compareVolume, makeMixedDisk } from '../fixtures/disks.js';
import { SSHD, startSshd, type Sshd } from '../peers/sshd.js';
import { buildAgent, syncEnded, syncStep } from './agent-flow.js';

const skip = existsSync(SSHD) && process.getuid?.() === 0 ? false : 'needs root and openssh-server';
const work = tempDir('kvm-sink-faults');
let r: Rehost | undefined;
let sshd: Sshd | undefined;

after(async () => {
  await r?.stop();
  await sshd?.stop();
  removeDir(work);
});

/** The sink agents this sshd runs. */
function sinkAgents(): number[] {
  return sshd!.processes().filter((pid) => {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return cmd.some((a) => a.endsWith('/agent.cjs')) && cmd.includes('sink');
    } catch {
      return false;
    }
  });
}

test('KVM target: the sink agent killed mid-copy; the job starts a new one and resumes on its own, byte-equal', { skip, timeout: 300_000 }, async (t) => {
  sshd = await startSshd(join(work, 'sshd'));
  const images = join(work, 'images');
  const remote = join(work, 'kvm-host');
  mkdirSync(images);
  const disk = join(images, 'kvm-sink.raw');
  makeMixedDisk(disk, 48, 41);
  r = await startRehost({ env: { REHOST_AGENT_BUNDLE: await buildAgent(join(work, 'agent')) } });
  await r.login();
  const id = await registerImageHost(r, images);
  const tgt = await addTarget(r, { cloud_type: 'KVM', address: '127.0.0.1', port: sshd.port, username: 'root', private_key: sshd.privateKey, host_key: sshd.hostKey, path: remote });
  await assignTarget(r, id, tgt);

  // 3 MB/s into the KVM host: a kill at 40% lands after a checkpoint (every 2 s).
  assert.equal((await r.api('POST', '/hosts', { ids: [id], sync: { do_snapshot: false, sync_mode: 'full', transfer_speed: 24 } })).status, 200);
  await waitFor('copy past 40%', async () => ((await hostRow(r!, id)).detail_data?.percent ?? 0) >= 40, 60_000);
  const agents = sinkAgents();
  assert.equal(agents.length, 1, `one sink agent writes the volume: ${agents.join(', ')}`);
  process.kill(agents[0]!, 'SIGKILL');

  const done = await syncEnded(r, id);
  assert.equal(done.h_host_status, 'sync_snapshot_done', JSON.stringify(done));
  const { step } = await syncStep(r, id, 'Copy disk 0');
  t.diagnostic(step.detail);
  assert.equal((await r.api('GET', `/jobs?id=${id}&job_type=Sync`)).body.total, 1, 'one job, no manual retry');
  // The host reads done as the copy ends; the job record follows once its last step is written.
  await waitFor('job done', async () => (await syncStep(r!, id, 'Copy disk 0')).job.job_status === 'done', 10_000);
  assert.match(step.detail, /reconnected [1-9] time\(s\): link lost \(writing \S+ on the KVM host/, step.detail);
  assert.match(step.detail, /resumed from [1-9]/, step.detail);
  assert.equal(compareVolume(disk, join(remote, id)), '', 'the volume equals the source');
  assert.deepEqual(sinkAgents(), [], 'no sink agent left running after the sync');
});
