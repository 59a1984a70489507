import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grainDirectoryEntries, isSparseHeader, locateGrain, parseEntries, parseSparseHeader } from './sparse-extent.js';
import { hasParent, isDescriptor, parseDescriptor } from './vmdk-descriptor.js';

const FLAT = `# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=fffffffe
parentCID=ffffffff
createType="vmfs"

# Extent description
RW 524288 VMFS "web-01-flat.vmdk"

# The Disk Data Base
#DDB

ddb.adapterType = "lsilogic"
ddb.longContentID = "8d1b8fdcb9b4f5c0bfc7f6f0fffffffe"
ddb.virtualHWVersion = "13"
`;

test('a flat (vmfs) descriptor: one extent, no parent, ddb fields', () => {
  assert.equal(isDescriptor(FLAT), true);
  const d = parseDescriptor(FLAT);
  assert.equal(d.createType, 'vmfs');
  assert.deepEqual(d.extents, [{ access: 'RW', sectors: 524288, type: 'VMFS', file: 'web-01-flat.vmdk', offsetSectors: 0 }]);
  assert.equal(d.ddb.adapterType, 'lsilogic');
  assert.equal(hasParent(d), false);
});

test('twoGbMaxExtent descriptors list several extents, with offsets and zero extents', () => {
  const d = parseDescriptor(
    ['# Disk DescriptorFile', 'version=1', 'CID=1234abcd', 'parentCID=ffffffff', 'createType="twoGbMaxExtentFlat"', 'RW 4192256 FLAT "a-f001.vmdk" 0', 'RW 2048 FLAT "a-f002.vmdk" 16', 'RDONLY 100 ZERO', 'RW 8192 SPARSE "a-s003.vmdk"'].join('\r\n'),
  );
  assert.deepEqual(
    d.extents.map((e) => [e.access, e.type, e.file, e.offsetSectors, e.sectors]),
    [
      ['RW', 'FLAT', 'a-f001.vmdk', 0, 4192256],
      ['RW', 'FLAT', 'a-f002.vmdk', 16, 2048],
      ['RDONLY', 'ZERO', null, 0, 100],
      ['RW', 'SPARSE', 'a-s003.vmdk', 0, 8192],
    ],
  );
});

test('a delta descriptor has a parent', () => {
  const d = parseDescriptor('version=1\nCID=2\nparentCID=fffffffe\ncreateType="vmfsSparse"\nparentFileNameHint="web-01.vmdk"\nRW 100 VMFSSPARSE "web-01-000001-delta.vmdk"\n');
  assert.equal(hasParent(d), true);
  assert.equal(d.parentFileNameHint, 'web-01.vmdk');
});

test('binary or empty content is not a descriptor; an extent-less one is refused', () => {
  assert.equal(isDescriptor('\0\0\0\0'), false);
  assert.equal(isDescriptor(''), false);
  assert.throws(() => parseDescriptor('version=1\ncreateType="vmfs"\n'), /no extents/);
});

/** A KDMV header as VMware writes it (hosted monolithicSparse). */
function sparseHeader(capacitySectors: number, grain = 128, gtes = 512, gdOffset = 21, compress = 0): Buffer {
  const b = Buffer.alloc(512);
  b.writeUInt32LE(0x564d444b, 0);
  b.writeUInt32LE(1, 4);
  b.writeUInt32LE(3, 8);
  b.writeBigUInt64LE(BigInt(capacitySectors), 12);
  b.writeBigUInt64LE(BigInt(grain), 20);
  b.writeBigUInt64LE(1n, 28);
  b.writeBigUInt64LE(20n, 36);
  b.writeUInt32LE(gtes, 44);
  b.writeBigUInt64LE(BigInt(gdOffset + 100), 48);
  b.writeBigUInt64LE(BigInt(gdOffset), 56);
  b.writeBigUInt64LE(128n, 64);
  b.writeUInt16LE(compress, 77);
  return b;
}

test('sparse header: fields, directory size and grain location', () => {
  const h = parseSparseHeader(sparseHeader(2 * 1024 * 1024)); // 1 GiB
  assert.equal(isSparseHeader(sparseHeader(8)), true);
  assert.equal(h.capacity, 2 * 1024 * 1024);
  assert.equal(h.grainSize, 128);
  assert.equal(h.gdOffset, 21);
  assert.equal(grainDirectoryEntries(h), 32); // 1 GiB / (64 KiB × 512)
  assert.deepEqual(locateGrain(h, 0), { gdIndex: 0, gtIndex: 0, inGrain: 0 });
  assert.deepEqual(locateGrain(h, 128 * 512 + 130), { gdIndex: 1, gtIndex: 1, inGrain: 2 });
});

test('sparse: stream-optimized (compressed) extents are refused; entries parse little-endian', () => {
  assert.throws(() => parseSparseHeader(sparseHeader(8, 128, 512, 21, 1)), /streamOptimized/);
  assert.throws(() => parseSparseHeader(Buffer.alloc(512)), /KDMV/);
  const e = Buffer.alloc(12);
  e.writeUInt32LE(0, 0);
  e.writeUInt32LE(1, 4);
  e.writeUInt32LE(4096, 8);
  assert.deepEqual(parseEntries(e, 3), [0, 1, 4096]);
});
