/**
 * The allocation map of a sparse file through each way of asking the kernel (perl's sysseek and
 * python's os.lseek with SEEK_DATA/SEEK_HOLE), windows into the file (a loop's offset), and the
 * parser's clipping. Loop devices are covered by test/integration/agent-sparse.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allocatedAreas, fileDataRanges, parseDataHoles, SEEKERS } from './allocation.js';
import { run } from './probe.js';

const MiB = 2 ** 20;
const KiB = 1024;

test('parseDataHoles: pairs clipped to the window and made relative to it', () => {
  assert.deepEqual(parseDataHoles('0 4096\n8192 20480\n30000 40000\n', 4096, 30_000), [[4096, 12288]]);
  assert.deepEqual(parseDataHoles('junk\n', 0, 10), []);
});

test('a sparse file: only its data extents, through perl and through python, in a window too', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rehost-alloc-'));
  try {
    const file = join(dir, 'sparse.raw');
    writeFileSync(file, '');
    execFileSync('truncate', ['-s', String(64 * MiB), file]);
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(64 * KiB, 1), 0, 64 * KiB, 6 * MiB + 256 * KiB);
    writeSync(fd, Buffer.alloc(64 * KiB, 2), 0, 64 * KiB, 43 * MiB + 768 * KiB);
    closeSync(fd);
    const expected = [[6 * MiB + 256 * KiB, 64 * KiB], [43 * MiB + 768 * KiB, 64 * KiB]];
    let tried = 0;
    for (const seeker of SEEKERS) {
      if (run(seeker.cmd, [seeker.flag, '1']) === null) {
        t.diagnostic(`${seeker.name} is not installed here`);
        continue;
      }
      tried++;
      assert.deepEqual(fileDataRanges(file, 0, 64 * MiB, [seeker]), expected, seeker.name);
      // A window from 4 MiB on, 32 MiB long (a loop at an offset with a size limit): only the first extent, relative.
      assert.deepEqual(fileDataRanges(file, 4 * MiB, 32 * MiB, [seeker]), [[2 * MiB + 256 * KiB, 64 * KiB]], `${seeker.name} window`);
    }
    assert.ok(tried >= 1, 'perl or python is there to ask the kernel');
    assert.deepEqual(allocatedAreas(file, 64 * MiB), expected);
    assert.equal(allocatedAreas('/dev/null', 0), null, 'not a file nor a loop: unknown, read it all');
    assert.equal(fileDataRanges(file, 0, MiB, [{ name: 'none', cmd: 'rehost-no-such-interpreter', flag: '-e', script: '' }]), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
