/**
 * The direct transport on real parts: sshd on 127.0.0.1, a loop device, the agent pushed over SFTP;
 * the agent dials the engine over TLS 1.3 with per-job certificates pinned on both sides, and the
 * disk data travels there instead of the SSH channel. Through the REST API: full sync, 1 % change,
 * incremental sync, byte equality, the transport named in the job steps. Then the real agent
 * program (spawned here, the SSH channel replaced by a pipe) against wrong pins on either side
 * and an address where nothing listens: each refused with a clear reason.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, type Rehost } from '../harness.js';
import { makeMixedDisk, modifyBlocks } from '../fixtures/disks.js';
import { sameContent } from '../local-volume.js';
import { freePort, startSshd, type Sshd } from '../peers/sshd.js';
import { attachLoop, canUseLoop, detachLoop } from '../peers/sshhost/loop.js';
import { addAgentSource, addLocalTarget, buildAgent, registerAndAssign, settledSource, startSync, syncEnded, syncStep } from './agent-flow.js';
import { mintIdentity, pinOf } from '../../src-main/replication/direct-identity.js';
import { DirectListener, dialDirect } from '../../src-main/replication/wire/direct.js';
import { WirePeer } from '../../src-main/replication/wire/peer.js';

const DISK_MIB = 48;
const hasSshd = existsSync('/usr/sbin/sshd');
const skip = !canUseLoop() || !hasSshd ? 'needs root, loop devices and openssh-server' : false;
const work = tempDir('agent-direct');
let bundle = '';
let r: Rehost | undefined;
let sshd: Sshd | undefined;
let loop: string | undefined;
let loop2: string | undefined;

before(async () => {
  bundle = await buildAgent(join(work, 'agent'));
  if (skip) return;
  makeMixedDisk(join(work, 'disk.raw'), DISK_MIB, 21);
  loop = attachLoop(join(work, 'disk.raw'));
  makeMixedDisk(join(work, 'disk2.raw'), DISK_MIB, 22);
  loop2 = attachLoop(join(work, 'disk2.raw'));
  sshd = await startSshd(join(work, 'sshd'));
  r = await startRehost({ env: { REHOST_AGENT_BUNDLE: bundle } });
  await r.login();
});

after(async () => {
  await r?.stop();
  await sshd?.stop();
  if (loop) detachLoop(loop);
  if (loop2) detachLoop(loop2);
  removeDir(work);
});

async function fullAndIncremental(name: string, disk: string, extra: Record<string, unknown>, path: RegExp): Promise<void> {
  const rh = r!;
  const src = await addAgentSource(rh, name, { address: '127.0.0.1', port: sshd!.port, username: 'root', private_key: sshd!.privateKey, disks: [disk], transport: 'direct', ...extra });
  assert.equal(src.status, 200, JSON.stringify(src.body));
  assert.equal((await settledSource(rh, src.id)).source.status, 'connected');
  const target = await addLocalTarget(rh, join(work, `target-${name}`));
  const hostId = await registerAndAssign(rh, src.id, target);

  await startSync(rh, hostId, 'full');
  let h = await syncEnded(rh, hostId);
  assert.equal(h.h_host_status, 'sync_snapshot_done', JSON.stringify(h));
  const hostDir = join(work, `target-${name}`, hostId);
  assert.ok(sameContent(hostDir, disk), 'target equals the loop device after the full sync');
  const opened = (await syncStep(rh, hostId, 'Open source snapshot')).step.detail as string;
  assert.match(opened, /transport: direct \(TLS 1\.3 TLS_AES_128_GCM_SHA256, /, opened);
  assert.match(opened, path, opened);
  assert.match(opened, /per-job certificates pinned on both sides\)/, opened);
  assert.match((await syncStep(rh, hostId, 'Copy disk 0')).step.detail, /verified; copied in \d+\.\d\d s; transport direct$/);

  const changed = modifyBlocks(disk, DISK_MIB, 1, 13);
  await startSync(rh, hostId, 'incremental');
  h = await syncEnded(rh, hostId);
  assert.equal(h.h_host_status, 'sync_snapshot_done', JSON.stringify(h));
  assert.ok(sameContent(hostDir, disk), 'target equals the loop device after the incremental sync');
  const inc = (await syncStep(rh, hostId, 'Copy disk 0')).step.detail as string;
  assert.match(inc, new RegExp(`^incremental: .* ${changed.length} chunks sent, ${DISK_MIB / 4 - changed.length} skipped.*transport direct$`), inc);
}

test('direct transport, the agent dials the engine (direct_listener engine): full and incremental sync over pinned TLS 1.3, byte equality, transport in the steps', { skip }, async () => {
  const bad = await r!.api('POST', '/sources', { type: 'Agent', name: 'bad', config: { address: '127.0.0.1', username: 'root', password: 'x', transport: 'carrier-pigeon' } });
  assert.equal(bad.status, 400, JSON.stringify(bad.body));
  assert.match(JSON.stringify(bad.body), /transport/);
  await fullAndIncremental('engine-listens', loop!, { direct_listener: 'engine' }, /agent on 127\.0\.0\.1 → engine 127\.0\.0\.1:\d+/);
});

test('direct transport, the engine dials the agent (the default listener): full and incremental sync, byte equality', { skip }, async () => {
  await fullAndIncremental('agent-listens', loop2!, {}, /engine → agent on 127\.0\.0\.1:\d+/);
});

/** The agent program on a pipe instead of an SSH channel: the same code the host runs. */
async function localAgent(): Promise<{ peer: WirePeer; stop(): void }> {
  const proc = spawn(process.execPath, [bundle, '--role', 'source'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const peer = new WirePeer(proc.stdout, proc.stdin);
  await peer.hello(AbortSignal.timeout(20_000));
  return { peer, stop: () => proc.kill() };
}

test('direct transport: a wrong pin on either side, or nobody listening, is refused with a clear reason', async () => {
  const agent = await localAgent();
  try {
    const [engine, agentId, stranger] = await Promise.all([mintIdentity('engine'), mintIdentity('agent'), mintIdentity('stranger')]);
    const dial = (port: number, identity: { key: string; cert: string }, pinned: { cert: string; fingerprint: string }) =>
      agent.peer.call('direct', { mode: 'dial', host: '127.0.0.1', port, identity, peer: pinned, timeoutMs: 5000 });

    // The agent pins a certificate the listener does not hold.
    let listener = await DirectListener.open('127.0.0.1', 0, engine, pinOf(agentId));
    let accepted = listener.accept(3000);
    await assert.rejects(dial(listener.port, agentId, pinOf(stranger)), /TLS connection to 127\.0\.0\.1:\d+ failed: the peer's certificate is not the one pinned for this job/);
    await assert.rejects(accepted, /no pinned peer connected/);
    listener.close();

    // The listener pins another agent certificate than the one the agent presents.
    listener = await DirectListener.open('127.0.0.1', 0, engine, pinOf(agentId));
    accepted = listener.accept(5000);
    await assert.rejects(dial(listener.port, stranger, pinOf(engine)), /closed by the peer during the handshake: the peer refused this end's certificate/);
    await assert.rejects(accepted, /refused the connection from 127\.0\.0\.1:\d+: its certificate does not verify against the pinned one/);
    listener.close();

    // Right pins both ways: the agent serves requests over the TLS connection.
    listener = await DirectListener.open('127.0.0.1', 0, engine, pinOf(agentId));
    accepted = listener.accept(5000);
    assert.deepEqual(await dial(listener.port, agentId, pinOf(engine)), { port: listener.port, mode: 'dial' });
    const socket = await accepted;
    const direct = new WirePeer(socket, socket);
    await direct.hello(AbortSignal.timeout(5000));
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    await assert.rejects(direct.call('open', { path: '/nonexistent/disk' }), /ENOENT/);
    socket.destroy();
    listener.close();

    // The agent listens: the engine dialing with a certificate it does not pin is refused, and so
    // is an agent certificate the engine does not pin.
    const listen = (identity: { key: string; cert: string }, pinned: { cert: string; fingerprint: string }) =>
      agent.peer.call<{ port: number }>('direct', { mode: 'listen', host: '127.0.0.1', port: 0, identity, peer: pinned, timeoutMs: 5000 });
    let port = (await listen(agentId, pinOf(engine))).port;
    await assert.rejects(dialDirect({ host: '127.0.0.1', port, identity: stranger, peer: pinOf(agentId), timeoutMs: 5000 }), /closed by the peer during the handshake: the peer refused this end's certificate/);
    port = (await listen(stranger, pinOf(engine))).port;
    await assert.rejects(dialDirect({ host: '127.0.0.1', port, identity: engine, peer: pinOf(agentId), timeoutMs: 5000 }), /the peer's certificate is not the one pinned for this job/);
    port = (await listen(agentId, pinOf(engine))).port;
    const dialed = await dialDirect({ host: '127.0.0.1', port, identity: engine, peer: pinOf(agentId), timeoutMs: 5000 });
    const viaDial = new WirePeer(dialed.socket, dialed.socket);
    dialed.attach((chunk, transient) => viaDial.receive(chunk, transient));
    await viaDial.hello(AbortSignal.timeout(5000));
    await assert.rejects(viaDial.call('open', { path: '/nonexistent/disk' }), /ENOENT/);
    dialed.socket.destroy();

    // Nobody listens there: refused, not hung.
    port = await freePort();
    await assert.rejects(dial(port, agentId, pinOf(engine)), /TLS connection to 127\.0\.0\.1:\d+ failed: ECONNREFUSED/);
  } finally {
    agent.stop();
  }
});
