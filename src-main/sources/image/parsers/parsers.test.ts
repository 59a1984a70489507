import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectFileSystem, FS_PROBE_BYTES, guessOs } from './filesystem.js';
import { formatGuid, GPT_ESP, HEAD_BYTES, parsePartitionTable } from './partition-table.js';
import { guidBytes, LINUX_FS_GUID, MS_BASIC_GUID, writeGpt, writeMbr, writeSignature } from '../disk-fixtures.test-helper.js';

test('GUIDs print in the mixed-endian form', () => {
  assert.equal(formatGuid(guidBytes(GPT_ESP)), GPT_ESP);
});

test('an MBR table lists its primary partitions and skips the extended container', () => {
  const head = Buffer.alloc(HEAD_BYTES);
  writeMbr(head, [
    { type: 0x83, start: 2048, sectors: 4096, boot: true },
    { type: 0x05, start: 8192, sectors: 100 },
    { type: 0x82, start: 10_000, sectors: 200 },
  ]);
  const table = parsePartitionTable(head);
  assert.equal(table.style, 'MBR');
  assert.deepEqual(table.partitions.map((p) => [p.number, p.offset, p.size, p.type, p.bootable]), [
    [1, 2048 * 512, 4096 * 512, '0x83', true],
    [3, 10_000 * 512, 200 * 512, '0x82', false],
  ]);
});

test('a protective MBR leads to the GPT entries', () => {
  const head = Buffer.alloc(HEAD_BYTES);
  writeGpt(head, [
    { type: GPT_ESP, first: 2048, last: 4095 },
    { type: LINUX_FS_GUID, first: 4096, last: 20_479 },
  ]);
  const table = parsePartitionTable(head);
  assert.equal(table.style, 'GPT');
  assert.deepEqual(table.partitions.map((p) => [p.number, p.offset, p.size, p.type, p.efi]), [
    [1, 2048 * 512, 2048 * 512, GPT_ESP, true],
    [2, 4096 * 512, 16_384 * 512, LINUX_FS_GUID, false],
  ]);
});

test('no table: zeros, or a file system written straight onto the disk', () => {
  assert.equal(parsePartitionTable(Buffer.alloc(HEAD_BYTES)).style, 'NONE');
  const bare = Buffer.alloc(HEAD_BYTES);
  writeSignature(bare, 0, 'ntfs');
  bare[510] = 0x55;
  bare[511] = 0xaa;
  assert.equal(parsePartitionTable(bare).style, 'NONE');
  const junk = Buffer.alloc(HEAD_BYTES);
  writeMbr(junk, [{ type: 0x83, start: 1, sectors: 1 }]);
  junk[446] = 0x12;
  assert.equal(parsePartitionTable(junk).style, 'NONE');
});

test('file-system signatures', () => {
  for (const fs of ['ext2', 'ext3', 'ext4', 'ntfs', 'xfs', 'swap', 'lvm2', 'vfat'] as const) {
    const block = Buffer.alloc(FS_PROBE_BYTES);
    writeSignature(block, 0, fs);
    assert.equal(detectFileSystem(block), fs, fs);
  }
  const btrfs = Buffer.alloc(FS_PROBE_BYTES);
  btrfs.write('_BHRfS_M', 65536 + 64, 'latin1');
  assert.equal(detectFileSystem(btrfs), 'btrfs');
  assert.equal(detectFileSystem(Buffer.alloc(FS_PROBE_BYTES)), null);
  assert.equal(detectFileSystem(Buffer.alloc(100)), null, 'short blocks are fine');
});

test('the OS guess follows the first OS file system; an ESP means UEFI', () => {
  const esp = { number: 1, offset: 0, size: 1, type: GPT_ESP, bootable: false, efi: true };
  const data = { number: 2, offset: 0, size: 1, type: MS_BASIC_GUID, bootable: false, efi: false };
  assert.deepEqual(guessOs([{ partition: esp, fs: 'vfat' }, { partition: data, fs: 'ntfs' }]), { osType: 'Windows', osVersion: 'Windows (NTFS)', firmware: 'uefi' });
  assert.deepEqual(guessOs([{ partition: data, fs: 'ext4' }, { partition: data, fs: 'ntfs' }]), { osType: 'Linux', osVersion: 'Linux (ext4)', firmware: 'bios' });
  assert.deepEqual(guessOs([{ partition: null, fs: 'swap' }]), { osType: 'Unknown', osVersion: '', firmware: 'bios' });
  assert.deepEqual(guessOs([]).osType, 'Unknown');
});
