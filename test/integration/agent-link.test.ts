/**
 * Transport direct between two agents, on the real agent program: a source agent and a sink
 * agent (spawned here, their SSH channels replaced by pipes) linked over pinned TLS 1.3 on
 * 127.0.0.1 with per-job certificates, then chunks forwarded source → sink on `Forward` requests
 * (zero and unchanged chunks not sent, compressible ones zstd-compressed), the sink file equal to
 * the source. Wrong pins on either side are refused with a clear reason; the sink serves a linked
 * source agent nothing but writes to the volume it was told about.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, openSync, readFileSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, tempDir } from '../harness.js';
import { makeMixedDisk } from '../fixtures/disks.js';
import { freePort } from '../peers/sshd.js';
import { buildAgent } from './agent-flow.js';
import { nativeHelpers } from '../../src-main/sources/agent/bundle.js';
import { mintIdentity, pinOf, type MintedIdentity } from '../../src-main/replication/direct-identity.js';
import { decodeForwarded, decodeJson, encodeForward, Msg, type ForwardAnswer, type Hello } from '../../src-main/replication/wire/messages.js';
import { dialDirect } from '../../src-main/replication/wire/direct.js';
import { WirePeer } from '../../src-main/replication/wire/peer.js';
import { UNKNOWN_DIGEST, ZERO_DIGEST } from '../../src-main/replication/digest-core.js';

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const DISK_MIB = 24;
const work = tempDir('agent-link');
let bundle = '';

before(async () => {
  bundle = await buildAgent(join(work, 'agent'));
  // The native helpers beside the bundle, as the engine pushes them (zstd, native xxh64).
  for (const f of nativeHelpers(process.arch)) copyFileSync(f.local, join(work, 'agent', f.name));
});
after(() => removeDir(work));

interface Agent {
  peer: WirePeer;
  stop(): void;
}

async function agent(role: 'source' | 'sink'): Promise<Agent> {
  const proc = spawn(process.execPath, [bundle, '--role', role], { stdio: ['pipe', 'pipe', 'inherit'] });
  const peer = new WirePeer(proc.stdout, proc.stdin);
  const hello = decodeJson<Hello>((await peer.hello(AbortSignal.timeout(20_000))).payload);
  assert.deepEqual(hello.codecs, ['zstd']);
  return { peer, stop: () => proc.kill() };
}

const keys = (identity: MintedIdentity, pinned: MintedIdentity) => ({ identity: { key: identity.key, cert: identity.cert }, peer: pinOf(pinned), timeoutMs: 4000 });

async function forward(source: Agent, link: number, handle: number, sinkHandle: number, index: number, held: bigint, zero = false): Promise<ForwardAnswer> {
  const frame = await source.peer.request(Msg.Forward, encodeForward({ link, handle, offset: index * CHUNK, length: CHUNK, sinkHandle, held, zstd: true, zero }));
  return decodeForwarded(frame.payload);
}

test('a source agent forwards chunks to a sink agent over pinned TLS 1.3: zero and unchanged chunks stay home, the sink file equals the source', async () => {
  const [source, sink] = await Promise.all([agent('source'), agent('sink')]);
  try {
    const disk = join(work, 'disk.raw');
    const volume = join(work, 'volume.raw');
    makeMixedDisk(disk, DISK_MIB, 5);
    // Whole zero chunks (the mixed disk's zero regions are 1 MiB) and a whole text chunk.
    const fd = openSync(disk, 'r+');
    for (const i of [2, 4]) writeSync(fd, Buffer.alloc(CHUNK), 0, CHUNK, i * CHUNK);
    writeSync(fd, Buffer.alloc(CHUNK, 'a compressible line of text\n'), 0, CHUNK, 5 * CHUNK);
    closeSync(fd);
    writeFileSync(volume, '');
    truncateSync(volume, DISK_MIB * MiB);
    const src = await source.peer.call<{ handle: number }>('open', { path: disk });
    const dst = await sink.peer.call<{ handle: number }>('open', { path: volume, size: DISK_MIB * MiB });
    const [s, k] = await Promise.all([mintIdentity('source'), mintIdentity('sink')]);
    const { port } = await sink.peer.call<{ port: number }>('direct', { mode: 'listen', host: '127.0.0.1', port: 0, ...keys(k, s), writes: [dst.handle] });
    const linked = await source.peer.call<{ link: number; cipher: string }>('link', { mode: 'dial', host: '127.0.0.1', port, ...keys(s, k) });
    assert.equal(linked.cipher, 'TLS_AES_128_GCM_SHA256');

    const chunks = DISK_MIB / 4;
    const first = await Promise.all(Array.from({ length: chunks }, (_, i) => forward(source, linked.link, src.handle, dst.handle, i, ZERO_DIGEST)));
    await sink.peer.call('flush', { handle: dst.handle });
    assert.ok(readFileSync(disk).equals(readFileSync(volume)), 'the sink volume equals the source disk');
    const zeros = first.filter((a) => a.digest === ZERO_DIGEST);
    assert.ok(zeros.length > 0 && zeros.every((a) => !a.written && a.linkBytes === 0), 'zero chunks are not sent to a blank volume');
    const written = first.filter((a) => a.written);
    assert.ok(written.length > 0);
    assert.ok(first[5]!.written && first[5]!.linkBytes < CHUNK / 10, `the text chunk travels compressed (${first[5]!.linkBytes} bytes)`);
    const held = await sink.peer.call<{ digests: string[] }>('digests', { handle: dst.handle, ranges: first.map((_, i) => [i * CHUNK, CHUNK]) });
    assert.deepEqual(held.digests, first.map((a) => String(a.digest)), 'the source\'s digests are the sink\'s');

    // Unchanged since then: nothing moves. A chunk the target holds but the source zeroed: zeros are written.
    const again = await forward(source, linked.link, src.handle, dst.handle, 1, first[1]!.digest);
    assert.deepEqual(again, { ...first[1]!, written: false, linkBytes: 0 });
    const i = first.findIndex((a) => a.written);
    const zeroed = await forward(source, linked.link, src.handle, dst.handle, i, first[i]!.digest, true);
    assert.equal(zeroed.written, true);
    assert.ok(readFileSync(volume).subarray(i * CHUNK, (i + 1) * CHUNK).equals(Buffer.alloc(CHUNK)));
    const unknown = await forward(source, linked.link, src.handle, dst.handle, i, UNKNOWN_DIGEST);
    assert.equal(unknown.written, true);
    assert.ok(readFileSync(disk).equals(readFileSync(volume)));
  } finally {
    source.stop();
    sink.stop();
  }
});

test('agent link: wrong pins refused on either side, nobody listening refused at once, and a linked source may only write its volume', async () => {
  const [source, sink] = await Promise.all([agent('source'), agent('sink')]);
  try {
    const [s, k, stranger] = await Promise.all([mintIdentity('source'), mintIdentity('sink'), mintIdentity('stranger')]);
    const listen = async (identity: MintedIdentity, pinned: MintedIdentity, writes: number[]) =>
      (await sink.peer.call<{ port: number }>('direct', { mode: 'listen', host: '127.0.0.1', port: 0, ...keys(identity, pinned), writes })).port;
    const dial = (port: number, identity: MintedIdentity, pinned: MintedIdentity) => source.peer.call<{ link: number }>('link', { mode: 'dial', host: '127.0.0.1', port, ...keys(identity, pinned) });

    // The source pins another sink certificate than the one the sink presents.
    let port = await listen(stranger, s, [1]);
    await assert.rejects(dial(port, s, k), /TLS connection to 127\.0\.0\.1:\d+ failed: the peer's certificate is not the one pinned for this job/);
    // The sink pins another source certificate than the one the source presents.
    port = await listen(k, stranger, [1]);
    await assert.rejects(dial(port, s, k), /closed by the peer during the handshake: the peer refused this end's certificate/);
    // Nobody listens there.
    await assert.rejects(dial(await freePort(), s, k), /TLS connection to 127\.0\.0\.1:\d+ failed: ECONNREFUSED/);

    // The sink listens and the source dials the right pins, but the link only carries writes to handle 1.
    const volume = join(work, 'small.raw');
    writeFileSync(volume, Buffer.alloc(CHUNK));
    const dst = await sink.peer.call<{ handle: number }>('open', { path: volume });
    port = await listen(k, s, [dst.handle]);
    const { link } = await dial(port, s, k);
    const src = await source.peer.call<{ handle: number }>('open', { path: volume });
    await assert.rejects(forward(source, link, src.handle, dst.handle + 7, 0, UNKNOWN_DIGEST, true), /this direct connection may not write to disk handle \d+/);
    // Whoever holds the source's certificate gets writes to that volume and nothing else.
    port = await listen(k, s, [dst.handle]);
    const dialed = await dialDirect({ host: '127.0.0.1', port, ...keys(s, k) });
    const intruder = new WirePeer(dialed.socket, dialed.socket);
    dialed.attach((chunk, transient) => intruder.receive(chunk, transient));
    await intruder.hello(AbortSignal.timeout(5000));
    await assert.rejects(intruder.call('open', { path: '/etc/passwd' }), /this direct connection takes chunk writes only/);
    await assert.rejects(intruder.call('exit'), /takes chunk writes only/);
    dialed.socket.destroy();

    // Reversed roles: the source listens, the sink dials.
    const listening = await source.peer.call<{ link: number; port: number }>('link', { mode: 'listen', host: '127.0.0.1', port: 0, ...keys(s, k) });
    await sink.peer.call('direct', { mode: 'dial', host: '127.0.0.1', port: listening.port, ...keys(k, s), writes: [dst.handle] });
    assert.equal((await source.peer.call<{ cipher: string }>('link_wait', { link: listening.link })).cipher, 'TLS_AES_128_GCM_SHA256');
    const wrote = await forward(source, listening.link, src.handle, dst.handle, 0, ZERO_DIGEST, true);
    assert.deepEqual(wrote, { digest: ZERO_DIGEST, written: false, linkBytes: 0 });
    await source.peer.call('unlink', { link: listening.link });
    await assert.rejects(forward(source, listening.link, src.handle, dst.handle, 0, UNKNOWN_DIGEST), /no link \d+ to a sink agent/);
  } finally {
    source.stop();
    sink.stop();
  }
});
