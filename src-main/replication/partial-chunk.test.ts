/**
 * Partial chunk reads against real files: scattered 64 KiB changes cost about their own size at
 * the source, the target ends byte-equal, and a drifted target, an interrupted run and a failed
 * verification still end right.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RehostError } from '../../src-shared/errors.js';
import type { DiskSink, SourceDisk } from '../core/drivers.js';
import type { ByteRange } from '../core/model.js';
import type { Logger } from '../core/ports.js';
import type { DiskCopyRequest } from '../core/replicator.js';
import { CHUNK_SIZE, mergeRanges } from './chunk-plan.js';
import { createReplicator } from './index.js';
import { MAX_PIECES, partialPlan, piecesInChunk } from './partial-chunk.js';

const KiB = 1024;
const CHUNKS = 16;
const SIZE = CHUNKS * CHUNK_SIZE;
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rehost-partial-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A source disk over a file that counts the bytes it was asked for. */
function fileDisk(path: string, areas: ByteRange[] | null): SourceDisk & { bytesRead: number } {
  const disk = {
    index: 0,
    sizeBytes: readFileSync(path).length,
    bytesRead: 0,
    areas: async () => areas,
    read: async (offset: number, length: number) => {
      disk.bytesRead += length;
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
  return disk;
}

/** A sink over a file; `corrupt` flips the first byte of writes at that offset. */
async function fileSink(path: string, corrupt?: number): Promise<DiskSink & { writes: ByteRange[] }> {
  if (!existsSync(path)) writeFileSync(path, '');
  const fh = await open(path, 'r+');
  await fh.truncate(SIZE);
  const writes: ByteRange[] = [];
  return {
    sizeBytes: SIZE,
    writes,
    write: async (offset, data) => {
      writes.push({ offset, length: data.byteLength });
      const copy = Buffer.from(data);
      if (offset === corrupt) copy[0] = (copy[0] ?? 0) ^ 0xff;
      await fh.write(copy, 0, copy.length, offset);
    },
    read: async (offset, length) => {
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, offset);
      return buf;
    },
    flush: () => fh.datasync(),
    isBlank: async () => (await fh.stat()).blocks === 0,
    close: () => fh.close(),
  };
}

function request(key: string, disk: SourceDisk, sink: DiskSink, patch: Partial<DiskCopyRequest> = {}): DiskCopyRequest {
  return { key, disk, sink, mode: 'full', limitMbps: null, signal: new AbortController().signal, onProgress: () => {}, ...patch };
}

function assertSame(a: string, b: string): void {
  assert.ok(readFileSync(a).equals(readFileSync(b)), `${a} and ${b} differ`);
}

/** A random 16-chunk source, full-synced to a new target under `key`. */
async function synced(key: string): Promise<{ src: string; dst: string; repl: ReturnType<typeof createReplicator> }> {
  const src = join(dir, `${key}.src`);
  const dst = join(dir, `${key}.dst`);
  writeFileSync(src, randomBytes(SIZE));
  const repl = createReplicator({ stateDir: join(dir, 'state'), log: quiet });
  const sink = await fileSink(dst);
  await repl.copyDisk(request(key, fileDisk(src, null), sink));
  await sink.close();
  assertSame(src, dst);
  return { src, dst, repl };
}

/** Overwrites the given 64 KiB blocks of the source with new random bytes; returns them as areas. */
function change(src: string, blocks: number[]): ByteRange[] {
  const buf = readFileSync(src);
  const areas = blocks.map((b) => ({ offset: b * 64 * KiB, length: 64 * KiB }));
  for (const a of areas) randomBytes(a.length).copy(buf, a.offset);
  writeFileSync(src, buf);
  return areas;
}

/** 20 scattered 64 KiB blocks (64 to a chunk) in chunks 0, 1, 3, 7, 10, 11, 14 and 15, some adjacent. */
const SCATTERED = [3, 10, 11, 70, 200, 221, 500, 510, 640, 700, 705, 900, 931, 960, 961, 1000, 1010, 1015, 1020, 1023];

test('piecesInChunk widens to 4 KiB, merges, clips to the chunk; partialPlan reads whole when it pays', () => {
  const areas = mergeRanges(
    [
      { offset: CHUNK_SIZE - 100, length: 200 },
      { offset: CHUNK_SIZE + 5000, length: 10 },
      { offset: CHUNK_SIZE + 9000, length: 10 },
      { offset: CHUNK_SIZE + 20 * KiB, length: 64 * KiB },
    ],
    SIZE,
  );
  assert.deepEqual(piecesInChunk(areas, 0, CHUNK_SIZE), [{ offset: CHUNK_SIZE - 4 * KiB, length: 4 * KiB }]);
  assert.deepEqual(piecesInChunk(areas, CHUNK_SIZE, CHUNK_SIZE), [
    { offset: 0, length: 12 * KiB },
    { offset: 20 * KiB, length: 64 * KiB },
  ]);
  assert.deepEqual(piecesInChunk(areas, 2 * CHUNK_SIZE, CHUNK_SIZE), []);
  assert.equal(partialPlan([{ offset: 0, length: CHUNK_SIZE }], 0, CHUNK_SIZE), null, 'fully covered: read whole');
  const scattered = Array.from({ length: MAX_PIECES + 1 }, (_, k) => ({ offset: k * 64 * KiB, length: 4 * KiB }));
  assert.equal(partialPlan(scattered, 0, CHUNK_SIZE), null, 'too many pieces: read whole');
  assert.equal(partialPlan(scattered.slice(0, MAX_PIECES), 0, CHUNK_SIZE)?.length, MAX_PIECES);
});

test('scattered 64 KiB changes: the incremental reads and writes about what changed, and ends equal', async () => {
  const { src, dst, repl } = await synced('vol-p');
  const areas = change(src, SCATTERED);
  const changed = areas.length * 64 * KiB;
  const disk = fileDisk(src, areas);
  const sink = await fileSink(dst);
  const inc = await repl.copyDisk(request('vol-p', disk, sink, { mode: 'incremental' }));
  await sink.close();
  assertSame(src, dst);
  assert.equal(inc.verified, true);
  assert.equal(inc.readBytes, disk.bytesRead, 'readBytes counts what the source was asked for');
  assert.ok(inc.readBytes <= 1.1 * changed, `read ${inc.readBytes} bytes for ${changed} changed`);
  assert.ok(inc.readBytes >= changed);
  assert.equal(inc.sentBytes, changed, 'only the changed pieces were written');
  assert.deepEqual(mergeRanges(sink.writes, SIZE), mergeRanges(areas, SIZE));
  assert.equal(inc.chunksSent, new Set(SCATTERED.map((b) => Math.floor(b / 64))).size);
  assert.equal(inc.plannedBytes, inc.chunksSent * CHUNK_SIZE);

  // Areas that report a block whose content is the same: nothing is written.
  const again = fileDisk(src, areas.slice(0, 3));
  const idle = await fileSink(dst);
  const none = await repl.copyDisk(request('vol-p', again, idle, { mode: 'incremental' }));
  await idle.close();
  assert.equal(none.sentBytes, 0);
  assert.equal(none.readBytes, 3 * 64 * KiB);
  assert.deepEqual(idle.writes, []);
});

test('a target chunk that drifted from its recorded digest is read whole and repaired', async () => {
  const { src, dst, repl } = await synced('vol-q');
  const areas = change(src, [70]); // chunk 1
  const drift = readFileSync(dst);
  drift[CHUNK_SIZE + 3 * 64 * KiB] = (drift[CHUNK_SIZE + 3 * 64 * KiB]! + 1) & 0xff; // outside the changed block
  writeFileSync(dst, drift);
  const disk = fileDisk(src, areas);
  const sink = await fileSink(dst);
  const inc = await repl.copyDisk(request('vol-q', disk, sink, { mode: 'incremental' }));
  await sink.close();
  assertSame(src, dst);
  assert.equal(inc.readBytes, CHUNK_SIZE, 'no partial read once the target did not match');
  assert.deepEqual(sink.writes, [{ offset: CHUNK_SIZE, length: CHUNK_SIZE }]);
});

test('an incremental interrupted while writing pieces resumes, rereads the suspect chunks whole, and ends equal', async () => {
  const { src, dst, repl } = await synced('vol-r');
  const areas = change(src, SCATTERED);
  let sink = await fileSink(dst);
  const write = sink.write;
  // The link drops half-way through the first piece of chunk 10 (block 640).
  sink.write = async (offset, data) => {
    if (offset !== 640 * 64 * KiB) return write(offset, data);
    await write(offset, data.subarray(0, data.byteLength / 2));
    throw new RehostError('DRIVER', 'link dropped');
  };
  await assert.rejects(repl.copyDisk(request('vol-r', fileDisk(src, areas), sink, { mode: 'incremental' })), /link dropped/);
  await sink.close();

  const disk = fileDisk(src, areas);
  sink = await fileSink(dst);
  const resumed = await repl.copyDisk(request('vol-r', disk, sink, { mode: 'incremental' }));
  await sink.close();
  assertSame(src, dst);
  assert.equal(resumed.verified, true);
  // Chunks 0, 1, 3 and 7 were done before the drop; writes run ahead, so 11 and 14 may have
  // finished too, and the checkpoint taken when the copy stopped keeps them.
  assert.ok(resumed.resumedFromBytes >= 4 * CHUNK_SIZE && resumed.resumedFromBytes <= 6 * CHUNK_SIZE, `resumed from ${resumed.resumedFromBytes}`);
  // From the chunk that failed to the end of the write window, nothing about the rest is known.
  assert.equal(resumed.resumedFromBytes + resumed.readBytes, 8 * CHUNK_SIZE, 'every changed chunk not kept is read whole');
  assert.ok(sink.writes.some((w) => w.offset === 10 * CHUNK_SIZE && w.length === CHUNK_SIZE), 'the suspect chunk was rewritten whole');
});

test('a partial write the target stores wrong fails verification; the next run repairs it', async () => {
  const { src, dst, repl } = await synced('vol-s');
  const areas = change(src, [200, 221]);
  let sink = await fileSink(dst, 221 * 64 * KiB);
  await assert.rejects(repl.copyDisk(request('vol-s', fileDisk(src, areas), sink, { mode: 'incremental' })), (err: unknown) => {
    assert.ok(RehostError.is(err, 'DRIVER'));
    assert.match(err.message, /verification failed .* 1 chunk\(s\) .* offset\(s\) 0xc00000/);
    return true;
  });
  await sink.close();
  sink = await fileSink(dst);
  const again = await repl.copyDisk(request('vol-s', fileDisk(src, areas), sink, { mode: 'incremental' }));
  await sink.close();
  assertSame(src, dst);
  assert.equal(again.verified, true);
  assert.equal(again.readBytes, CHUNK_SIZE, 'the chunk that failed verification is read whole');
});

test('without a recorded state the target is not trusted: changed chunks are read whole', async () => {
  const src = join(dir, 'vol-t.src');
  const dst = join(dir, 'vol-t.dst');
  writeFileSync(src, randomBytes(SIZE));
  const repl = createReplicator({ stateDir: join(dir, 'state-t'), log: quiet });
  const disk = fileDisk(src, [{ offset: 3 * 64 * KiB, length: 64 * KiB }]);
  const sink = await fileSink(dst);
  const inc = await repl.copyDisk(request('vol-t', disk, sink, { mode: 'incremental' }));
  await sink.close();
  assert.equal(inc.readBytes, CHUNK_SIZE);
  assert.ok(readFileSync(dst).subarray(0, CHUNK_SIZE).equals(readFileSync(src).subarray(0, CHUNK_SIZE)));
});
