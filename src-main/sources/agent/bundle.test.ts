/** Which native helpers go to a host of each architecture (the ELF header tells what a file is built for). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { nativeHelpers } from './bundle.js';

/** The ELF machine field: 62 = x86-64, 183 = AArch64. */
function elfMachine(path: string): number {
  const head = readFileSync(path).subarray(0, 20);
  assert.equal(head.subarray(0, 4).toString('latin1'), '\x7fELF', `${path} is an ELF file`);
  return head.readUInt16LE(18);
}

test('a host of the engine\'s architecture gets the engine\'s xxhash and zstd addons', { skip: process.platform !== 'linux' || process.arch !== 'x64' }, () => {
  const files = nativeHelpers('x64');
  assert.deepEqual(files.map((f) => f.name).sort(), ['xxhash.node', 'zstd.node']);
  for (const f of files) assert.equal(elfMachine(f.local), 62);
});

test('an arm64 host gets the xxhash addon fetched for arm64, or nothing (then pure-JS xxh64)', { skip: process.platform !== 'linux' || process.arch !== 'x64' }, (t) => {
  const files = nativeHelpers('arm64');
  if (files.length === 0) {
    t.diagnostic('no arm64 addon fetched (node scripts/fetch-agent-runtimes.mjs 22 arm64): the agent hashes in JavaScript there');
    return;
  }
  assert.deepEqual(files.map((f) => f.name), ['xxhash.node']);
  assert.equal(elfMachine(files[0]!.local), 183, 'built for AArch64');
  assert.match(files[0]!.sha256, /^[0-9a-f]{64}$/);
});
