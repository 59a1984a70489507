/**
 * The Image source against real files and the real qemu-img: raw, qcow2 and vmdk images with
 * hand-made partition tables, a damaged image, and files that are not images.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { SourceDriver } from '../../core/drivers.js';
import type { Logger } from '../../core/ports.js';
import { convertImage, makeRawDisk, MS_BASIC_GUID, writeGpt, writeMbr, writeSignature } from './disk-fixtures.test-helper.js';
import { createImageSource, secretFields } from './index.js';
import { GPT_ESP } from './parsers/partition-table.js';

const MiB = 1024 * 1024;
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const signal = new AbortController().signal;
let dir: string;
let images: string;
const linuxData = randomBytes(2 * MiB);
const winData = randomBytes(MiB);

function source(path: string, workDir = join(dir, 'work')): SourceDriver {
  return createImageSource({ log: quiet, workDir, secret: {} }, { path });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rehost-image-'));
  images = join(dir, 'images');
  mkdirSync(images);
  makeRawDisk(join(images, 'linux.raw'), {
    sizeBytes: 32 * MiB,
    head: (b) => {
      writeMbr(b, [{ type: 0x83, start: 2048, sectors: 62 * 1024, boot: true }]);
      writeSignature(b, MiB, 'ext4');
    },
    blocks: [[4 * MiB, linuxData], [20 * MiB, Buffer.alloc(4096, 7)]],
  });
  makeRawDisk(join(dir, 'win.raw'), {
    sizeBytes: 24 * MiB,
    head: (b) => {
      writeGpt(b, [
        { type: GPT_ESP, first: 2048, last: 4095 },
        { type: MS_BASIC_GUID, first: 4096, last: 45_000 },
      ]);
      writeSignature(b, MiB, 'vfat');
      writeSignature(b, 2 * MiB, 'ntfs');
    },
    blocks: [[8 * MiB, winData]],
  });
  convertImage(join(dir, 'win.raw'), 'qcow2', join(images, 'win.qcow2'));
  execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', join(images, 'blank.vmdk'), '8M']);
  writeFileSync(join(images, 'broken.qcow2'), 'this is not an image');
  writeFileSync(join(images, 'readme.txt'), 'not an image');
  writeFileSync(join(images, 'blank-flat.vmdk'), 'an extent, not a disk');
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('config.path is required, absolute, and must exist', async () => {
  assert.deepEqual(secretFields, []);
  assert.throws(() => source(''), (e: unknown) => RehostError.is(e, 'VALIDATION') && e.context.field === 'config.path');
  assert.throws(() => source('images'), /config\.path: images must be an absolute path/);
  await assert.rejects(source(join(dir, 'missing')).connect(null, signal), (e: unknown) => {
    assert.ok(RehostError.is(e, 'VALIDATION'));
    assert.equal(e.context.field, 'config.path');
    assert.match(e.message, /^config\.path: .*missing does not exist$/);
    return true;
  });
});

test('connect describes the folder or the file; no identity to pin', async () => {
  const conn = await source(images).connect(null, signal);
  assert.equal(conn.identity, null);
  assert.match(conn.description, /folder .*images with 4 image file\(s\); qemu-img \d/);
  const one = await source(join(images, 'linux.raw')).connect(null, signal);
  assert.match(one.description, /^image file .*linux\.raw/);
});

test('discover lists each image as a host with a stable id, format, size, OS and checks', async () => {
  const inv = await source(images).discover(signal);
  assert.deepEqual(inv.hosts.map((h) => h.name), ['blank', 'broken', 'linux', 'win']);
  const again = await source(images, join(dir, 'work2')).discover(signal);
  assert.deepEqual(again.hosts.map((h) => h.id), inv.hosts.map((h) => h.id), 'ids survive a refresh');
  for (const h of inv.hosts) assert.match(h.id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const [blank, broken, linux, win] = inv.hosts;

  assert.deepEqual([linux!.osType, linux!.osVersion, linux!.firmware], ['Linux', 'Linux (ext4)', 'bios']);
  assert.deepEqual(linux!.disks, [{ index: 0, name: 'linux.raw', sizeBytes: 32 * MiB, isBoot: true, locator: join(images, 'linux.raw'), format: 'raw', partitionStyle: 'MBR' }]);
  assert.ok(linux!.checks.every((c) => c.ok && c.severity === 'OK'), JSON.stringify(linux!.checks));
  assert.deepEqual(linux!.checks.map((c) => c.id), ['FILE_READABLE', 'FORMAT_SUPPORTED', 'PARTITION_STYLE', 'OS_VERSION', 'FIRMWARE']);

  assert.deepEqual([win!.osType, win!.firmware, win!.disks[0]!.format, win!.disks[0]!.partitionStyle, win!.disks[0]!.sizeBytes], ['Windows', 'uefi', 'qcow2', 'GPT', 24 * MiB]);

  assert.equal(blank!.osType, 'Unknown');
  assert.equal(blank!.disks[0]!.format, 'vmdk');
  const blankChecks = Object.fromEntries(blank!.checks.map((c) => [c.id, [c.severity, c.code]]));
  assert.deepEqual(blankChecks.PARTITION_STYLE, ['WARN', 'NO_PARTITION_TABLE']);
  assert.deepEqual(blankChecks.OS_VERSION, ['WARN', 'OS_NOT_DETECTED']);

  const bad = broken!.checks.find((c) => c.id === 'FORMAT_SUPPORTED')!;
  assert.equal(bad.ok, false);
  assert.equal(bad.severity, 'ERROR');
  assert.match(bad.reason, /qemu-img cannot read the image/);
  assert.equal(broken!.disks[0]!.sizeBytes, 0);
});

test('checkHost answers for the source own images only', async () => {
  const src = source(images);
  const checks = await src.checkHost(join(images, 'linux.raw'), signal);
  assert.deepEqual(checks.map((c) => c.code), ['OK', 'OK', 'OK', 'OK', 'OK']);
  for (const ref of ['/etc/passwd', join(images, '..', 'win.raw'), join(images, 'readme.txt')]) {
    await assert.rejects(src.checkHost(ref, signal), (e: unknown) => RehostError.is(e, 'NOT_FOUND'), ref);
  }
});

test('a raw image is read in place: allocated areas for full, null for incremental', async () => {
  const file = join(images, 'linux.raw');
  const src = source(images);
  const snap = await src.openSnapshot(file, { mode: 'full', markers: {} }, signal);
  assert.equal(snap.method, 'static image file');
  const disk = snap.disks[0]!;
  assert.equal(disk.sizeBytes, 32 * MiB);
  assert.match(disk.marker() ?? '', /^\d+:\d+$/, 'the marker is the image size and mtime');
  const areas = (await disk.areas(signal))!;
  const covered = (at: number) => areas.some((a) => at >= a.offset && at < a.offset + a.length);
  assert.ok(covered(0) && covered(MiB + 1080) && covered(4 * MiB) && covered(6 * MiB - 1) && covered(20 * MiB));
  assert.ok(!covered(10 * MiB) && !covered(30 * MiB), 'holes are not areas');
  const total = areas.reduce((n, a) => n + a.length, 0);
  assert.ok(total < 4 * MiB, `areas cover ${total} bytes`);
  assert.ok(Buffer.from(await disk.read(4 * MiB, 2 * MiB, signal)).equals(linuxData));
  await assert.rejects(disk.read(32 * MiB - 10, 20, signal), /outside/);
  await snap.close();

  const inc = await src.openSnapshot(file, { mode: 'incremental', markers: { 0: null } }, signal);
  assert.equal(await inc.disks[0]!.areas(signal), null);
  await src.close();
});

test('a qcow2 image is converted once to a raw cache, reused, and redone when the image changes', async () => {
  const work = join(dir, 'work-qcow');
  const src = source(images, work);
  const file = join(images, 'win.qcow2');
  const first = await src.openSnapshot(file, { mode: 'full', markers: {} }, signal);
  const disk = first.disks[0]!;
  assert.equal(disk.sizeBytes, 24 * MiB);
  assert.ok(Buffer.from(await disk.read(8 * MiB, MiB, signal)).equals(winData));
  const areas = (await disk.areas(signal))!;
  assert.ok(areas.reduce((n, a) => n + a.length, 0) < 4 * MiB, 'the cache is sparse');
  await first.close();
  const cache = join(work, 'raw-cache', `${(await src.discover(signal)).hosts.find((h) => h.name === 'win')!.id}.raw`);
  const cachedAt = statSync(cache).mtimeMs;

  const second = await src.openSnapshot(file, { mode: 'full', markers: {} }, signal);
  assert.equal(statSync(cache).mtimeMs, cachedAt, 'cache reused');
  await second.close();

  const changed = randomBytes(MiB);
  makeRawDisk(join(dir, 'win2.raw'), { sizeBytes: 24 * MiB, blocks: [[8 * MiB, changed]] });
  rmSync(file);
  convertImage(join(dir, 'win2.raw'), 'qcow2', file);
  const third = await src.openSnapshot(file, { mode: 'full', markers: {} }, signal);
  assert.ok(Buffer.from(await third.disks[0]!.read(8 * MiB, MiB, signal)).equals(changed), 'cache redone');
  assert.ok(readFileSync(cache).subarray(8 * MiB, 9 * MiB).equals(changed));
  await third.close();
  await src.close();
});

test('a real ext4 file system made by mkfs.ext4 is recognised', { skip: !hasMkfs() }, async () => {
  const file = join(dir, 'real', 'real.raw');
  mkdirSync(join(dir, 'real'));
  makeRawDisk(file, { sizeBytes: 16 * MiB, head: (b) => writeMbr(b, [{ type: 0x83, start: 2048, sectors: 30 * 1024 }]) });
  execFileSync('mkfs.ext4', ['-q', '-F', '-E', `offset=${MiB}`, file, '15M']);
  convertImage(file, 'qcow2', join(dir, 'real', 'real.qcow2'));
  rmSync(file);
  const inv = await source(join(dir, 'real')).discover(signal);
  assert.deepEqual(inv.hosts.map((h) => [h.name, h.osType, h.osVersion]), [['real', 'Linux', 'Linux (ext4)']]);
});

function hasMkfs(): boolean {
  try {
    execFileSync('mkfs.ext4', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
