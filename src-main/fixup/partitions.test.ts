import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPartitionTable, type ReadAt } from './partitions.js';

const dir = mkdtempSync(join(tmpdir(), 'rehost-partitions-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const MiB = 1024 * 1024;
const haveSfdisk = spawnSync('sh', ['-c', 'command -v sfdisk'], { stdio: 'ignore' }).status === 0;

function reader(path: string): ReadAt {
  return async (offset, length) => {
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(length);
      const n = readSync(fd, buf, 0, length, offset);
      return buf.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  };
}

/** A disk laid out by sfdisk, and sfdisk's own reading of it as the expected answer. */
function disk(name: string, script: string, sizeMiB = 64): { path: string; expected: { start: number; size: number }[] } {
  const path = join(dir, name);
  writeFileSync(path, '');
  truncateSync(path, sizeMiB * MiB);
  execFileSync('sfdisk', ['-q', path], { input: script });
  const json = JSON.parse(execFileSync('sfdisk', ['--json', path], { encoding: 'utf8' })) as { partitiontable: { partitions: { start: number; size: number; type: string }[] } };
  const parts = json.partitiontable.partitions.filter((p) => !['5', 'f', '85'].includes(p.type));
  return { path, expected: parts.map((p) => ({ start: p.start * 512, size: p.size * 512 })) };
}

test('MBR with primary and logical partitions matches sfdisk', { skip: !haveSfdisk && 'sfdisk is not installed' }, async () => {
  const d = disk('mbr.raw', 'label: dos\nstart=1MiB, size=8MiB, type=83, bootable\nsize=8MiB, type=82\ntype=5\nsize=10MiB, type=83\nsize=10MiB, type=8e\n');
  const table = await readPartitionTable(reader(d.path), 64 * MiB);
  assert.equal(table.kind, 'mbr');
  assert.deepEqual(table.partitions.map((p) => ({ start: p.offset, size: p.size })), d.expected);
  assert.deepEqual(table.partitions.map((p) => [p.number, p.type]), [[1, '83'], [2, '82'], [5, '83'], [6, '8e']]);
});

test('GPT matches sfdisk, with PARTUUIDs and type GUIDs', { skip: !haveSfdisk && 'sfdisk is not installed' }, async () => {
  const d = disk('gpt.raw', 'label: gpt\nstart=1MiB, size=4MiB, type=21686148-6449-6E6F-744E-656564454649\nsize=20MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n');
  const table = await readPartitionTable(reader(d.path), 64 * MiB);
  assert.equal(table.kind, 'gpt');
  assert.deepEqual(table.partitions.map((p) => ({ start: p.offset, size: p.size })), d.expected);
  assert.equal(table.partitions[1]!.type, '0fc63daf-8483-4772-8e79-3d69d8477de4');
  const uuid = execFileSync('sfdisk', ['--part-uuid', d.path, '2'], { encoding: 'utf8' }).trim().toLowerCase();
  assert.equal(table.partitions[1]!.partUuid, uuid);
});

test('no table: the whole disk is one filesystem; a looping EBR chain ends', async () => {
  const blank = join(dir, 'blank.raw');
  writeFileSync(blank, Buffer.alloc(MiB));
  assert.deepEqual(await readPartitionTable(reader(blank), MiB), { kind: 'none', partitions: [{ number: 1, offset: 0, size: MiB, type: '' }] });
  // An extended partition whose EBR links to itself must not loop forever.
  const mbr = Buffer.alloc(4 * MiB);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  mbr[446 + 4] = 0x05;
  mbr.writeUInt32LE(2048, 446 + 8);
  mbr.writeUInt32LE(4096, 446 + 12);
  const ebr = 2048 * 512;
  mbr[ebr + 510] = 0x55;
  mbr[ebr + 511] = 0xaa;
  mbr[ebr + 446 + 4] = 0x83;
  mbr.writeUInt32LE(1, ebr + 446 + 8);
  mbr.writeUInt32LE(100, ebr + 446 + 12);
  mbr[ebr + 462 + 4] = 0x05;
  mbr.writeUInt32LE(0x10, ebr + 462 + 8);
  // …and the next EBR points back at the first
  const next = ebr + 0x10 * 512;
  mbr[next + 510] = 0x55;
  mbr[next + 511] = 0xaa;
  mbr[next + 462 + 4] = 0x05;
  mbr.writeUInt32LE(0, next + 462 + 8);
  mbr.writeUInt32LE(1, next + 462 + 12);
  const looping = join(dir, 'loop.raw');
  writeFileSync(looping, mbr);
  const table = await readPartitionTable(reader(looping), 4 * MiB);
  assert.deepEqual(table.partitions.map((p) => [p.number, p.offset]), [[5, ebr + 512]]);
});
