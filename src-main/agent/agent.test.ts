/**
 * The agent as a process, without SSH: the source role (inventory, reads, digest comparison) run
 * from the TypeScript source with the pure-JS xxh64, and the esbuild bundle with the native
 * helpers beside it, both giving the engine's own digests; the sink role writes and fsyncs.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { chunkDigest, ZERO_DIGEST } from '../replication/digest.js';
import { Codec, decodeDigestList, decodeJson, encodeCompare, encodeRead, encodeWrite, Msg, type Hello } from '../replication/wire/messages.js';
import { WirePeer } from '../replication/wire/peer.js';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'rehost-agent-test-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill();
  rmSync(dir, { recursive: true, force: true });
});

function disk(): { path: string; chunks: Buffer[] } {
  const text = Buffer.alloc(MiB, 'Rehost agent test text. ');
  const random = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i += 4) random.writeUInt32LE((i * 2654435761) >>> 0, i);
  const chunks = [random, Buffer.alloc(MiB), text];
  const path = join(dir, 'disk.raw');
  writeFileSync(path, Buffer.concat(chunks));
  return { path, chunks };
}

async function startAgent(args: string[], role: string): Promise<{ peer: WirePeer; hello: Hello }> {
  const child = spawn(process.execPath, [...args, '--role', role], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const peer = new WirePeer(child.stdout, child.stdin);
  const hello = decodeJson<Hello>((await peer.hello(AbortSignal.timeout(20_000))).payload);
  return { peer, hello };
}

async function exerciseSource(peer: WirePeer, zstd: boolean): Promise<number> {
  const { path, chunks } = disk();
  const { handle, size } = await peer.call<{ handle: number; size: number }>('open', { path });
  assert.equal(size, 3 * MiB);
  const known = new Map([[0, chunkDigest(chunks[0]!)], [1, ZERO_DIGEST], [2, 42n]]);
  const changed = decodeDigestList((await peer.request(Msg.Compare, encodeCompare({ handle, chunkSize: MiB, known }))).payload);
  assert.deepEqual([...changed], [[2, chunkDigest(chunks[2]!)]], 'only the chunk whose digest differs, with the engine-side digest');
  const data = await peer.request(Msg.Read, encodeRead({ handle, offset: 2 * MiB, length: MiB, zstd }));
  await assert.rejects(peer.request(Msg.Read, encodeRead({ handle, offset: 3 * MiB - 10, length: 100, zstd })), /past the end/);
  return data.payload.readUInt8(0);
}

test('source role from the TypeScript entry: pure-JS digests equal the engine digests', async () => {
  const { peer, hello } = await startAgent(['--import', 'tsx', resolve(import.meta.dirname, 'main.ts')], 'source');
  assert.equal(hello.role, 'source');
  assert.equal(hello.digest, 'js');
  const inv = await peer.call<{ inventory: { hostname: string; kernel: string }; checks: { id: string }[] }>('inventory', { disks: [] });
  assert.ok(inv.inventory.hostname.length > 0);
  const ids = inv.checks.map((c) => c.id).sort();
  assert.deepEqual(ids, ['ACCOUNT_RIGHTS', 'CPU', 'DRIVER_FILE', 'FILE_SYSTEM', 'FIRMWARE', 'FREE_SPACE', 'MEMORY', 'OEM_SYSTEM', 'OS_VERSION', 'PARTITION_STYLE', 'SERVICE', 'SYSTEM_ROOT']);
  await exerciseSource(peer, false);
  await peer.call('exit');
});

test('the bundle runs alone with the native helpers beside it: native xxh64 and zstd', async () => {
  const out = join(dir, 'bundle');
  await build({ bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'error', entryPoints: { agent: resolve(import.meta.dirname, 'main.ts') }, outdir: out, outExtension: { '.js': '.cjs' } });
  const req = createRequire(import.meta.url);
  copyFileSync(req.resolve(`@node-rs/xxhash-linux-${process.arch}-gnu/xxhash.linux-${process.arch}-gnu.node`), join(out, 'xxhash.node'));
  copyFileSync(req.resolve('zstd-napi/build/Release/binding.node'), join(out, 'zstd.node'));
  const { peer, hello } = await startAgent([join(out, 'agent.cjs')], 'source');
  assert.equal(hello.digest, 'native');
  assert.deepEqual(hello.codecs, ['zstd']);
  assert.equal(await exerciseSource(peer, true), Codec.Zstd, "text compresses, so it travels compressed");
  // Where compression pays is measured: the engine tells how fast chunks reach it, the agent
  // knows how fast it compresses; only a link slower than the compressor gets compressed chunks.
  const { handle } = await peer.call<{ handle: number }>('open', { path: join(dir, 'disk.raw') });
  const codecAt = async (linkRate: number) => (await peer.request(Msg.Read, encodeRead({ handle, offset: 2 * MiB, length: MiB, zstd: true, linkRate }))).payload.readUInt8(0);
  assert.equal(await codecAt(1e6), Codec.Zstd, 'a 1 MB/s link: compressing pays');
  assert.equal(await codecAt(1e13), Codec.Raw, 'a link faster than any compressor: sent raw');
  await peer.call('limit', { mbps: 8 });
  assert.equal(await codecAt(1e13), Codec.Zstd, 'a speed limit makes the link slow whatever it could carry');
  await peer.call('exit');
});

test('sink role: writes at offsets, fsync on flush, digests of what it holds', async () => {
  const { peer, hello } = await startAgent(['--import', 'tsx', resolve(import.meta.dirname, 'main.ts')], 'sink');
  assert.equal(hello.role, 'sink');
  const target = join(dir, 'sink.raw');
  const { handle, size } = await peer.call<{ handle: number; size: number }>('open', { path: target, size: 2 * MiB });
  assert.equal(size, 2 * MiB);
  const data = Buffer.alloc(MiB, 7);
  await peer.request(Msg.Write, encodeWrite({ handle, offset: MiB, codec: Codec.Raw, data }));
  await peer.call('flush', { handle });
  const { digests } = await peer.call<{ digests: string[] }>('digests', { handle, ranges: [[0, MiB], [MiB, MiB], [MiB, 4096]] });
  assert.deepEqual(digests, ['0', chunkDigest(data).toString(), chunkDigest(data.subarray(0, 4096)).toString()]);
  await assert.rejects(peer.call('digests', { handle, ranges: [[MiB, 2 * MiB]] }), /past the end/);
  await assert.rejects(peer.call('digests', { handle, ranges: [[-1, 5]] }), /ranges/);
  assert.deepEqual(readFileSync(target).subarray(MiB), data);
  await peer.call('exit');
});
