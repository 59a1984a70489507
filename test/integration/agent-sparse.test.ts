/**
 * A full sync of a sparse disk reads only its data: the disk is a loop device over a sparse file,
 * attached at an offset into it, holding two 64 KiB data extents in 256 MiB. The agent maps the
 * loop to its backing file and offset (/sys/block/loopN/loop/) and asks SEEK_DATA/SEEK_HOLE; the
 * engine plans only the two chunks. Asserted from the job step's planned bytes and from the loop
 * device's own read counter (/sys/block/loopN/stat), then byte equality of source and target.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { removeDir, startRehost, tempDir, type Rehost } from '../harness.js';
import { startSshd, type Sshd } from '../peers/sshd.js';
import { canUseLoop, detachLoop } from '../peers/sshhost/loop.js';
import { sameContent } from '../local-volume.js';
import { addAgentSource, addLocalTarget, buildAgent, registerAndAssign, settledSource, startSync, syncEnded, syncStep } from './agent-flow.js';

const MiB = 2 ** 20;
const KiB = 1024;
const DISK = 256 * MiB;
/** The disk starts this far into its backing file. */
const OFFSET = MiB;
/** Two data extents, in disk offsets, in different 4 MiB chunks. */
const EXTENTS = [40 * MiB + 100 * KiB, 200 * MiB];
const skip = !canUseLoop() || !existsSync('/usr/sbin/sshd') ? 'needs root, loop devices and openssh-server' : false;
const work = tempDir('agent-sparse');
let r: Rehost | undefined;
let sshd: Sshd | undefined;
let loop: string | undefined;

before(async () => {
  if (skip) return;
  const file = join(work, 'sparse.raw');
  const fd = openSync(file, 'w');
  try {
    // Data just before the disk's start too: outside the loop's window, it must not count.
    writeSync(fd, randomBytes(64 * KiB), 0, 64 * KiB, 0);
    for (const at of EXTENTS) writeSync(fd, randomBytes(64 * KiB), 0, 64 * KiB, OFFSET + at);
  } finally {
    closeSync(fd);
  }
  execFileSync('truncate', ['-s', String(OFFSET + DISK + MiB), file]);
  loop = execFileSync('losetup', ['-f', '--show', '-o', String(OFFSET), '--sizelimit', String(DISK), file], { encoding: 'utf8' }).trim();
  sshd = await startSshd(join(work, 'sshd'));
  r = await startRehost({ env: { REHOST_AGENT_BUNDLE: await buildAgent(join(work, 'agent')) } });
  await r.login();
});

after(async () => {
  await r?.stop();
  await sshd?.stop();
  if (loop) detachLoop(loop);
  removeDir(work);
});

/** Bytes read from the loop device so far (its stat's third field counts 512-byte sectors). */
function loopReadBytes(dev: string): number {
  return Number(readFileSync(`/sys/block/${basename(dev)}/stat`, 'utf8').trim().split(/\s+/)[2]) * 512;
}

test('a full sync of a sparse loop-backed disk reads only its two data extents', { skip }, async () => {
  const rh = r!;
  const src = await addAgentSource(rh, 'sparse', { address: '127.0.0.1', port: sshd!.port, username: 'root', private_key: sshd!.privateKey, disks: [loop] });
  assert.equal((await settledSource(rh, src.id)).source.status, 'connected');
  const target = await addLocalTarget(rh, join(work, 'target'));
  const hostId = await registerAndAssign(rh, src.id, target);
  execFileSync('blockdev', ['--flushbufs', loop!]);
  const before = loopReadBytes(loop!);
  await startSync(rh, hostId, 'full');
  const h = await syncEnded(rh, hostId);
  assert.equal(h.h_host_status, 'sync_snapshot_done', JSON.stringify(h));
  const read = loopReadBytes(loop!) - before;
  const { step } = await syncStep(rh, hostId, 'Copy disk 0');
  assert.match(step.detail, /^full: 8\.0MB planned, .* 2 chunks sent, 0 skipped/, step.detail);
  // The two 4 MiB chunks, read at most twice (digest comparison, then the read), plus the
  // inventory's probes of the first sectors; reading the holes would be 256 MiB.
  assert.ok(read <= 2 * 8 * MiB + 2 * MiB, `the agent read ${read} bytes from the loop device`);
  assert.ok(sameContent(join(work, 'target', hostId), loop!), 'the target holds the disk\'s bytes, holes as zeros');
});
