/**
 * The replicator against real files: a file-backed source disk and a file-backed sink, with the
 * state folder on disk, so checkpoints, resume and verification run for real.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RehostError } from '../../src-shared/errors.js';
import type { DiskSink, SourceDisk } from '../core/drivers.js';
import type { ByteRange } from '../core/model.js';
import type { Logger } from '../core/ports.js';
import type { DiskCopyRequest } from '../core/replicator.js';
import { CHUNK_SIZE } from './chunk-plan.js';
import { createReplicator } from './index.js';
import { digestsByReading } from './sink-digests.js';

const MiB = 1024 * 1024;
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rehost-repl-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A source disk over a file; `areas` as given, `onRead` sees every read. */
function fileDisk(path: string, areas: ByteRange[] | null, onRead: (offset: number) => void = () => {}): SourceDisk {
  const sizeBytes = readFileSync(path).length;
  return {
    index: 0,
    sizeBytes,
    areas: async () => areas,
    read: async (offset, length) => {
      onRead(offset);
      const fh = await open(path, 'r');
      try {
        const buf = Buffer.alloc(length);
        await fh.read(buf, 0, length, offset);
        return buf;
      } finally {
        await fh.close();
      }
    },
    marker: () => null,
  };
}

/**
 * A sink over a file of `size` bytes; `corrupt` flips a byte of writes at that offset. `digests`:
 * the sink computes digests itself (as the Local and gateway sinks do); `reads` counts read-backs.
 */
async function fileSink(path: string, size: number, corrupt?: number, options: { digests?: boolean } = {}): Promise<DiskSink & { writes: number[]; reads: number }> {
  if (!existsSync(path)) writeFileSync(path, '');
  const fh = await open(path, 'r+');
  await fh.truncate(size);
  const writes: number[] = [];
  const readInto = async (buf: Buffer, offset: number) => {
    await fh.read(buf, 0, buf.length, offset);
    return buf;
  };
  const sink = {
    sizeBytes: size,
    writes,
    reads: 0,
    ...(options.digests ? { digests: (ranges: readonly ByteRange[], signal: AbortSignal) => digestsByReading(ranges, readInto, signal) } : {}),
    write: async (offset: number, data: Uint8Array) => {
      writes.push(offset);
      const copy = Buffer.from(data);
      if (offset === corrupt) copy[0] = (copy[0] ?? 0) ^ 0xff;
      await fh.write(copy, 0, copy.length, offset);
    },
    read: async (offset: number, length: number) => {
      sink.reads++;
      return readInto(Buffer.alloc(length), offset);
    },
    flush: () => fh.datasync(),
    isBlank: async () => (await fh.stat()).blocks === 0,
    close: () => fh.close(),
  };
  return sink;
}

/** A source image: chunks listed in `data` hold random bytes, the rest is zero. */
function makeSource(name: string, chunks: number, data: number[]): string {
  const buf = Buffer.alloc(chunks * CHUNK_SIZE);
  for (const i of data) randomBytes(CHUNK_SIZE).copy(buf, i * CHUNK_SIZE);
  const path = join(dir, name);
  writeFileSync(path, buf);
  return path;
}

function request(key: string, disk: SourceDisk, sink: DiskSink, patch: Partial<DiskCopyRequest> = {}): DiskCopyRequest {
  return { key, disk, sink, mode: 'full', limitMbps: null, signal: new AbortController().signal, onProgress: () => {}, ...patch };
}

function assertSame(a: string, b: string): void {
  assert.ok(readFileSync(a).equals(readFileSync(b)), `${a} and ${b} differ`);
}

test('full sync copies data chunks, skips zero chunks, verifies; incremental sends only changes', async () => {
  const src = makeSource('a.src', 16, [0, 3, 4, 9, 15]);
  const dst = join(dir, 'a.dst');
  const repl = createReplicator({ stateDir: join(dir, 'state'), log: quiet });
  const progress: number[] = [];
  let sink = await fileSink(dst, 16 * CHUNK_SIZE);
  const full = await repl.copyDisk(request('vol-a', fileDisk(src, null), sink, { onProgress: (d) => progress.push(d) }));
  await sink.close();
  assertSame(src, dst);
  assert.equal(full.chunksSent, 5);
  assert.equal(full.chunksSkipped, 11);
  assert.equal(full.sentBytes, 5 * CHUNK_SIZE);
  assert.equal(full.plannedBytes, 64 * MiB);
  assert.equal(full.verified, true);
  assert.equal(full.summary, 'full: 64.0MB planned, 20.0MB sent, 5 chunks sent, 11 skipped (zero/unchanged), verified');
  assert.ok(progress.length >= 2 && progress.at(-1) === 64 * MiB);

  // Change two chunks, zero a third that held data: the zeros must reach the target too.
  const buf = readFileSync(src);
  randomBytes(1000).copy(buf, 3 * CHUNK_SIZE + 500);
  randomBytes(10).copy(buf, 7 * CHUNK_SIZE);
  buf.fill(0, 9 * CHUNK_SIZE, 10 * CHUNK_SIZE);
  writeFileSync(src, buf);
  sink = await fileSink(dst, 16 * CHUNK_SIZE);
  const inc = await repl.copyDisk(request('vol-a', fileDisk(src, null), sink, { mode: 'incremental' }));
  await sink.close();
  assertSame(src, dst);
  assert.deepEqual(sink.writes.sort((x, y) => x - y), [3, 7, 9].map((i) => i * CHUNK_SIZE));
  assert.equal(inc.chunksSent, 3);
  assert.equal(inc.chunksSkipped, 13);
  assert.equal(inc.readBytes, 64 * MiB);
});

test('full sync with areas reads only allocated chunks and zero-fills chunks the target still holds', async () => {
  const src = makeSource('b.src', 8, [1, 2, 6]);
  const dst = join(dir, 'b.dst');
  const repl = createReplicator({ stateDir: join(dir, 'state'), log: quiet });
  const reads: number[] = [];
  const areas = [{ offset: CHUNK_SIZE, length: 2 * CHUNK_SIZE }, { offset: 6 * CHUNK_SIZE + 10, length: 5 }];
  let sink = await fileSink(dst, 8 * CHUNK_SIZE);
  const first = await repl.copyDisk(request('vol-b', fileDisk(src, areas, (o) => reads.push(o)), sink));
  await sink.close();
  assertSame(src, dst);
  assert.deepEqual(reads, [1, 2, 6].map((i) => i * CHUNK_SIZE));
  assert.equal(first.plannedBytes, 3 * CHUNK_SIZE);

  // Chunk 6 was freed in the source: it is no longer allocated, yet the target still holds it.
  const buf = readFileSync(src);
  buf.fill(0, 6 * CHUNK_SIZE, 7 * CHUNK_SIZE);
  writeFileSync(src, buf);
  reads.length = 0;
  sink = await fileSink(dst, 8 * CHUNK_SIZE);
  const second = await repl.copyDisk(request('vol-b', fileDisk(src, areas.slice(0, 1), (o) => reads.push(o)), sink));
  await sink.close();
  assertSame(src, dst);
  assert.deepEqual(reads, [1, 2].map((i) => i * CHUNK_SIZE));
  assert.deepEqual(sink.writes, [6 * CHUNK_SIZE]);
  assert.equal(second.chunksSent, 1);
  assert.equal(second.chunksSkipped, 2);
});

test('without replication state, a volume that is not blank gets its stale chunks zeroed', async () => {
  const src = makeSource('s.src', 6, [1]);
  const dst = join(dir, 's.dst');
  const stale = Buffer.alloc(6 * CHUNK_SIZE);
  randomBytes(CHUNK_SIZE).copy(stale, 4 * CHUNK_SIZE);
  writeFileSync(dst, stale); // a volume left from a lost data folder
  const repl = createReplicator({ stateDir: join(dir, 'state-lost'), log: quiet });
  const sink = await fileSink(dst, 6 * CHUNK_SIZE);
  assert.equal(await sink.isBlank(), false);
  await repl.copyDisk(request('vol-s', fileDisk(src, [{ offset: CHUNK_SIZE, length: CHUNK_SIZE }]), sink));
  await sink.close();
  assertSame(src, dst);
  assert.ok(sink.writes.includes(4 * CHUNK_SIZE), 'the stale chunk was overwritten with zeros');
});

test('replication state lost between a full and an incremental: digests are rebuilt from the target, only changes are sent', async () => {
  for (const digests of [true, false]) {
    const src = makeSource(`l${digests}.src`, 12, [0, 2, 3, 5, 8, 11]);
    const dst = join(dir, `l${digests}.dst`);
    const stateDir = join(dir, `state-l${digests}`);
    let sink = await fileSink(dst, 12 * CHUNK_SIZE, undefined, { digests });
    await createReplicator({ stateDir, log: quiet }).copyDisk(request('vol-l', fileDisk(src, null), sink));
    await sink.close();
    rmSync(stateDir, { recursive: true }); // the data folder's replication state is gone
    const buf = readFileSync(src);
    randomBytes(64).copy(buf, 5 * CHUNK_SIZE + 4096);
    writeFileSync(src, buf);
    sink = await fileSink(dst, 12 * CHUNK_SIZE, undefined, { digests });
    const inc = await createReplicator({ stateDir, log: quiet }).copyDisk(request('vol-l', fileDisk(src, null), sink, { mode: 'incremental' }));
    await sink.close();
    assertSame(src, dst);
    assert.deepEqual(sink.writes, [5 * CHUNK_SIZE], `digests ${digests ? 'from the sink' : 'read back'}: only the changed chunk is written`);
    assert.equal(inc.chunksSent, 1);
    // Rebuilding read every chunk back once (12) where the sink cannot hash; verification asks for the written one.
    assert.equal(sink.reads, digests ? 0 : 13);
  }
});

test('an aborted copy resumes from its checkpoint and ends equal', async () => {
  const src = makeSource('c.src', 16, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  const dst = join(dir, 'c.dst');
  const repl = createReplicator({ stateDir: join(dir, 'state'), log: quiet });
  const controller = new AbortController();
  let sink = await fileSink(dst, 16 * CHUNK_SIZE);
  // 16 MiB/s: the first checkpoint (2 s) lands after 8 chunks; abort a little later.
  const stop = setTimeout(() => controller.abort(new RehostError('CONFLICT', 'sync stopped by user')), 2700);
  await assert.rejects(repl.copyDisk(request('vol-c', fileDisk(src, null), sink, { limitMbps: 128, signal: controller.signal })), /sync stopped by user/);
  clearTimeout(stop);
  const before = sink.writes.length;
  await sink.close();
  assert.ok(before > 0 && before < 256, `wrote ${before} slices before the abort`);

  sink = await fileSink(dst, 16 * CHUNK_SIZE);
  const resumed = await repl.copyDisk(request('vol-c', fileDisk(src, null), sink));
  await sink.close();
  assertSame(src, dst);
  assert.ok(resumed.resumedFromBytes > 0, 'resumed from a checkpoint');
  assert.equal(resumed.resumedFromBytes % CHUNK_SIZE, 0);
  assert.equal(resumed.chunksSent, 16 - resumed.resumedFromBytes / CHUNK_SIZE);
  assert.match(resumed.summary, /resumed from \d+\.\dMB/);
});

test('the speed limit holds within ±10%', async () => {
  const src = makeSource('d.src', 3, [0, 1, 2]);
  const dst = join(dir, 'd.dst');
  const repl = createReplicator({ stateDir: join(dir, 'state'), log: quiet });
  const sink = await fileSink(dst, 3 * CHUNK_SIZE);
  const started = performance.now();
  const result = await repl.copyDisk(request('vol-d', fileDisk(src, null), sink, { limitMbps: 40 }));
  const seconds = (performance.now() - started) / 1000;
  await sink.close();
  const mbps = (result.sentBytes * 8) / 1e6 / seconds;
  assert.ok(seconds > 2, `took ${seconds}s`);
  assertSame(src, dst);
  assert.ok(Math.abs(mbps - 40) / 40 <= 0.1, `achieved ${mbps.toFixed(2)} Mbps for a 40 Mbps limit`);
});

for (const digests of [false, true]) {
  test(`a target that stores something else fails verification, naming the offset (${digests ? 'digests computed by the sink' : 'read back'})`, async () => {
    const name = digests ? 'e2' : 'e';
    const src = makeSource(`${name}.src`, 4, [1, 2]);
    const dst = join(dir, `${name}.dst`);
    const repl = createReplicator({ stateDir: join(dir, 'state'), log: quiet });
    let sink = await fileSink(dst, 4 * CHUNK_SIZE, 2 * CHUNK_SIZE, { digests });
    await assert.rejects(repl.copyDisk(request(`vol-${name}`, fileDisk(src, null), sink)), (err: unknown) => {
      assert.ok(RehostError.is(err, 'DRIVER'));
      assert.match(err.message, /verification failed .* 1 chunk\(s\) .* offset\(s\) 0x800000/);
      return true;
    });
    await sink.close();
    // A sink that computes digests is never read back through the copy.
    assert.equal(sink.reads, digests ? 0 : 2);
    // The bad chunk is rewritten by the next run, which then verifies.
    sink = await fileSink(dst, 4 * CHUNK_SIZE, undefined, { digests });
    const again = await repl.copyDisk(request(`vol-${name}`, fileDisk(src, null), sink));
    await sink.close();
    assert.deepEqual(sink.writes, [2 * CHUNK_SIZE]);
    assert.equal(again.verified, true);
    assertSame(src, dst);
  });
}

test('a write that fails mid-copy (writes run ahead) keeps what was written before it: the retry resumes there', async () => {
  const src = makeSource('w.src', 12, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const dst = join(dir, 'w.dst');
  const repl = createReplicator({ stateDir: join(dir, 'state'), log: quiet });
  let sink = await fileSink(dst, 12 * CHUNK_SIZE);
  const write = sink.write;
  sink.write = async (offset, data) => {
    // Slow writes, so several are in flight when chunk 7's fails (the disk filled up).
    await new Promise((r) => setTimeout(r, 20));
    if (offset === 7 * CHUNK_SIZE) throw new RehostError('DRIVER', 'No space left on device (ENOSPC)');
    await write(offset, data);
  };
  await assert.rejects(repl.copyDisk(request('vol-w', fileDisk(src, null), sink)), /ENOSPC/);
  await sink.close();

  sink = await fileSink(dst, 12 * CHUNK_SIZE);
  const again = await repl.copyDisk(request('vol-w', fileDisk(src, null), sink));
  await sink.close();
  assertSame(src, dst);
  // Chunks 0-6 were kept by the checkpoint taken when the copy failed (and 8 or 9 too when their
  // writes, already under way, finished); chunk 7 is written again.
  assert.ok(again.resumedFromBytes >= 7 * CHUNK_SIZE, `resumed from ${again.resumedFromBytes}`);
  assert.ok(sink.writes.includes(7 * CHUNK_SIZE) && sink.writes.every((offset) => offset >= 7 * CHUNK_SIZE), `rewrote ${sink.writes}`);
});

test('a chunk half-written by a failed run is rewritten even if the source reverts to the old data', async () => {
  const src = makeSource('h.src', 4, [0, 1, 2, 3]);
  const dst = join(dir, 'h.dst');
  const repl = createReplicator({ stateDir: join(dir, 'state'), log: quiet });
  let sink = await fileSink(dst, 4 * CHUNK_SIZE);
  await repl.copyDisk(request('vol-h', fileDisk(src, null), sink));
  await sink.close();
  const original = readFileSync(src);

  const changed = Buffer.from(original);
  randomBytes(CHUNK_SIZE).copy(changed, CHUNK_SIZE);
  writeFileSync(src, changed);
  sink = await fileSink(dst, 4 * CHUNK_SIZE);
  // The target dies half-way through writing chunk 1.
  const write = sink.write;
  sink.write = async (offset, data) => {
    await write(offset, data.subarray(0, data.byteLength / 2));
    throw new RehostError('DRIVER', 'link dropped');
  };
  await assert.rejects(repl.copyDisk(request('vol-h', fileDisk(src, null), sink, { mode: 'incremental' })), /link dropped/);
  await sink.close();

  writeFileSync(src, original);
  sink = await fileSink(dst, 4 * CHUNK_SIZE);
  const again = await repl.copyDisk(request('vol-h', fileDisk(src, null), sink, { mode: 'incremental' }));
  await sink.close();
  assertSame(src, dst);
  assert.ok(sink.writes.includes(CHUNK_SIZE), 'the suspect chunk was rewritten');
  assert.equal(again.verified, true);
});

test('forget drops the state; bad keys and small targets are refused', async () => {
  const stateDir = join(dir, 'state-f');
  const src = makeSource('f.src', 2, [0]);
  const repl = createReplicator({ stateDir, log: quiet });
  const sink = await fileSink(join(dir, 'f.dst'), 2 * CHUNK_SIZE);
  await repl.copyDisk(request('vol-f', fileDisk(src, null), sink));
  assert.deepEqual(readdirSync(stateDir), ['vol-f.state']);
  await repl.forget('vol-f');
  assert.deepEqual(readdirSync(stateDir), []);
  await assert.rejects(repl.copyDisk(request('../evil', fileDisk(src, null), sink)), /not a plain identifier/);
  const small = await fileSink(join(dir, 'f-small.dst'), CHUNK_SIZE);
  await assert.rejects(repl.copyDisk(request('vol-g', fileDisk(src, null), small)), /target volume holds/);
  await sink.close();
  await small.close();
});
