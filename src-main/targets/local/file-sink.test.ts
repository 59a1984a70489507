import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferPool } from '../../replication/buffer-pool.js';
import { chunkDigest, ZERO_DIGEST } from '../../replication/digest.js';
import { FileSink } from './file-sink.js';

const MiB = 2 ** 20;
let dir = '';
before(() => (dir = mkdtempSync(join(tmpdir(), 'rehost-file-sink-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

test('digests of what the volume file holds, range by range, as the replication computes them', async () => {
  const content = Buffer.concat([randomBytes(3 * MiB), Buffer.alloc(MiB), randomBytes(MiB / 2)]);
  const path = join(dir, 'a.raw');
  writeFileSync(path, content);
  const sink = await FileSink.open(path);
  try {
    const ranges = [
      { offset: 0, length: 2 * MiB },
      { offset: 3 * MiB, length: MiB },
      { offset: 4 * MiB, length: MiB / 2 },
      { offset: MiB, length: 4096 },
    ];
    const digests = await sink.digests(ranges, new AbortController().signal);
    assert.deepEqual(digests, ranges.map((r) => chunkDigest(content.subarray(r.offset, r.offset + r.length))));
    assert.equal(digests[1], ZERO_DIGEST);
    await assert.rejects(sink.digests([{ offset: 4 * MiB, length: MiB }], new AbortController().signal), /outside its/);
    await assert.rejects(sink.digests(ranges, AbortSignal.abort()), { name: 'AbortError' });
  } finally {
    await sink.close();
  }
});

/**
 * Writes whole pages from aligned and unaligned buffers, an odd-sized tail, and partial ranges,
 * then reads them back: direct I/O (where the file system allows it) and the page cache path
 * must hold the same bytes. /dev/shm is tmpfs, which refuses O_DIRECT: the fallback is used there.
 */
for (const where of ['the temp folder', '/dev/shm (tmpfs, no O_DIRECT)']) {
  test(`writes and reads back the same bytes in ${where}`, { skip: where.startsWith('/dev/shm') && !existsSync('/dev/shm') }, async () => {
    const folder = where.startsWith('/dev/shm') ? mkdtempSync('/dev/shm/rehost-file-sink-') : dir;
    const path = join(folder, 'b.raw');
    const size = 3 * MiB + 1234;
    writeFileSync(path, Buffer.alloc(0));
    truncateSync(path, size);
    const expected = Buffer.alloc(size);
    const sink = await FileSink.open(path);
    try {
      const pooled = new BufferPool(MiB, 1).take(MiB);
      randomBytes(MiB).copy(pooled);
      const writes: [number, Uint8Array][] = [
        [0, pooled], // aligned buffer, aligned offset: written as it is
        [MiB, randomBytes(MiB)], // heap buffer: staged into an aligned one
        [2 * MiB + 512, randomBytes(4096)], // unaligned offset: through the page cache
        [3 * MiB, randomBytes(1234)], // the odd-sized tail
      ];
      for (const [offset, data] of writes) {
        await sink.write(offset, data);
        expected.set(data, offset);
      }
      await sink.flush();
      const back = await sink.digests([{ offset: 0, length: MiB }, { offset: MiB, length: 2 * MiB }, { offset: 3 * MiB, length: 1234 }], new AbortController().signal);
      assert.deepEqual(back, [chunkDigest(expected.subarray(0, MiB)), chunkDigest(expected.subarray(MiB, 3 * MiB)), chunkDigest(expected.subarray(3 * MiB))]);
      assert.deepEqual(Buffer.from(await sink.read(2 * MiB, MiB)), expected.subarray(2 * MiB, 3 * MiB));
      await sink.close();
      assert.deepEqual(readFileSync(path), expected);
    } finally {
      await sink.close();
      if (folder !== dir) rmSync(folder, { recursive: true, force: true });
    }
  });
}
