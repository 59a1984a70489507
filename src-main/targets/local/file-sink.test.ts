import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
