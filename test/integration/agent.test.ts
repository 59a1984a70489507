/**
 * The Agent source end to end on real parts: sshd on 127.0.0.1, a mixed test disk on a loop
 * device, the agent pushed over SFTP and run by the node on this machine. Through the REST API:
 * register, full sync to the Local target, change 1 % of the chunks, incremental sync (only the
 * changed chunk crosses the link), byte equality; the agent is removed from the host at the end.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { makeMixedDisk, modifyBlocks } from '../fixtures/disks.js';
import { startSshd, type Sshd } from '../peers/sshd.js';
import { attachLoop, canUseLoop, detachLoop } from '../peers/sshhost/loop.js';
import { addAgentSource, addLocalTarget, buildAgent, registerAndAssign, settledSource, startSync, syncEnded, syncStep } from './agent-flow.js';
import { sameContent } from '../local-volume.js';

const DISK_MIB = 48;
const skip = !canUseLoop() || !existsSync('/usr/sbin/sshd') ? 'needs root, loop devices and openssh-server' : false;
const work = tempDir('agent');
let r: Rehost | undefined;
let sshd: Sshd | undefined;
let loop: string | undefined;

before(async () => {
  if (skip) return;
  const bundle = await buildAgent(join(work, 'agent'));
  makeMixedDisk(join(work, 'disk.raw'), DISK_MIB, 5);
  loop = attachLoop(join(work, 'disk.raw'));
  sshd = await startSshd(join(work, 'sshd'));
  r = await startRehost({ env: { REHOST_AGENT_BUNDLE: bundle } });
  await r.login();
});

after(async () => {
  await r?.stop();
  await sshd?.stop();
  if (loop) detachLoop(loop);
  removeDir(work);
});

test('agent source → local target: full sync, 1% change, incremental sync, byte equality, agent removed', { skip }, async (t) => {
  const rh = r!;
  const src = await addAgentSource(rh, 'linux-01', { address: '127.0.0.1', port: sshd!.port, username: 'root', private_key: sshd!.privateKey, disks: [loop] });
  assert.equal(src.status, 200, JSON.stringify(src.body));
  const detail = await settledSource(rh, src.id);
  assert.equal(detail.source.status, 'connected', JSON.stringify(detail.source));
  assert.equal(detail.source.pinned_identity, sshd!.hostKey, 'the host key is pinned on first use');
  const tree = detail.tree;
  t.diagnostic(`agent: node ${tree.agent.node}, digest ${tree.agent.digest}, codecs ${tree.agent.codecs.join(',') || 'none'}`);
  assert.equal(tree.agent.digest, 'native', 'the native xxh64 was pushed beside the agent');
  assert.deepEqual(tree.inventory.disks.map((d: any) => [d.path, d.size]), [[loop, DISK_MIB * 1024 * 1024]]);
  assert.ok(JSON.stringify(detail.hosts[0]).includes('ACCOUNT_RIGHTS'), 'the environment checks are shown with the host');
  assert.ok(existsSync(tree.agent.dir), 'the agent runs from its temp folder');
  assert.match(tree.agent.runtime.path ?? '', /^\/var\/tmp\/rehost-runtime\/[0-9a-f]{64}\/node$/, 'root keeps the runtime in the cache under /var/tmp');

  const target = await addLocalTarget(rh, join(work, 'target'));
  const hostId = await registerAndAssign(rh, src.id, target);
  await startSync(rh, hostId, 'full');
  let h = await syncEnded(rh, hostId);
  assert.equal(h.h_host_status, 'sync_snapshot_done', JSON.stringify(h));
  const hostDir = join(work, 'target', hostId);
  assert.ok(sameContent(hostDir, loop!), 'target equals the loop device after the full sync');
  const full = await syncStep(rh, hostId, 'Copy disk 0');
  assert.match(full.step.detail, /verified/);
  assert.match((await syncStep(rh, hostId, 'Open source snapshot')).step.detail, /converging passes/);

  const changed = modifyBlocks(loop!, DISK_MIB, 1, 11);
  await startSync(rh, hostId, 'incremental');
  h = await syncEnded(rh, hostId);
  assert.equal(h.h_host_status, 'sync_snapshot_done', JSON.stringify(h));
  assert.ok(sameContent(hostDir, loop!), 'target equals the loop device after the incremental sync');
  const inc = await syncStep(rh, hostId, 'Copy disk 0');
  assert.match(inc.step.detail, new RegExp(`^incremental: .* ${changed.length} chunks sent, ${DISK_MIB / 4 - changed.length} skipped`), inc.step.detail);

  // Clean the host, delete the source: the agent goes away with it.
  assert.equal((await rh.api('POST', '/hosts', { ids: [hostId], clean: { force: false } })).status, 200);
  await waitFor('host gone', async () => (await rh.api('GET', '/hosts')).body.total === 0);
  assert.equal((await rh.api('DELETE', `/sources/${src.id}`)).status, 200);
  await waitFor('agent folder removed', async () => !existsSync(tree.agent.dir), 10_000);
  assert.equal(existsSync(tree.agent.runtime.path), false, 'unregister removes the runtime cache');
});
