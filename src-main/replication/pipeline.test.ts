/**
 * The whole data path on real pieces: a qcow2 image (real qemu-img) read by the Image source,
 * copied by the replicator into a Local target volume, with snapshots on the target.
 * (An integration test by nature; it lives here because it exercises the replicator most.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RehostError } from '../../src-shared/errors.js';
import { hasSnapshots, type SourceDriver, type TargetDriver } from '../core/drivers.js';
import type { DiscoveredHost, Host, Volume } from '../core/model.js';
import type { Logger } from '../core/ports.js';
import type { DiskCopyResult, Replicator } from '../core/replicator.js';
import { createImageSource } from '../sources/image/index.js';
import { createLocalTarget } from '../targets/local/index.js';
import { CHUNK_SIZE } from './chunk-plan.js';
import { createReplicator } from './index.js';

const CHUNKS = 12;
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const signal = new AbortController().signal;
let dir: string;
let source: SourceDriver;
let target: TargetDriver;
let replicator: Replicator;
let host: Host;
let volume: Volume;
let disk: Buffer;

/** Writes the raw disk and converts it into images/vm.qcow2 with the real qemu-img. */
function writeImage(): void {
  const raw = join(dir, 'vm.raw');
  writeFileSync(raw, disk);
  rmSync(join(dir, 'images', 'vm.qcow2'), { force: true });
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, join(dir, 'images', 'vm.qcow2')]);
}

function toHost(d: Omit<DiscoveredHost, 'sourceId' | 'present'>): Host {
  return {
    id: d.id, sourceId: 'src', sourceRef: d.ref, name: d.name, hostType: 'image', systemType: d.osType, osVersion: d.osVersion,
    firmware: d.firmware, cpus: d.cpus, memoryMiB: d.memoryMiB, ip: null, mac: null, disks: d.disks, nics: d.nics, checks: d.checks,
    status: 'sync_doing', bootStatus: 'not_boot', healthStatus: 'active', step: '2', targetId: 'tgt', poolId: null, transferSpeed: null,
    syncStrategy: { doSnapshot: true, autoTrigger: false, interval: 1, intervalUnit: '2', quota: 32, startTime: null },
    cloudInstanceId: null, lastProjectName: null, failedJobId: null, licenseId: null, description: null, progress: null,
    lastSyncAt: null, syncCount: 0, markers: {}, createdAt: 0, updatedAt: 0,
  };
}

/** One sync of the host's only disk, as core's SyncService drives it. */
async function sync(mode: 'full' | 'incremental', extra: { limitMbps?: number; signal?: AbortSignal } = {}): Promise<DiskCopyResult> {
  const view = await source.openSnapshot(host.sourceRef, { mode, markers: { 0: null } }, signal);
  try {
    const sink = await target.openSink(volume, signal);
    try {
      return await replicator.copyDisk({ key: 'vol-1', disk: view.disks[0]!, sink, mode, limitMbps: extra.limitMbps ?? null, signal: extra.signal ?? signal, onProgress: () => {} });
    } finally {
      await sink.close();
    }
  } finally {
    await view.close();
  }
}

/** What a Local target volume or snapshot file reads as: raw as is, a qcow2 layer through its backing chain. */
function readVolume(path: string): Buffer {
  if (!path.endsWith('.qcow2')) return readFileSync(path);
  const flat = join(dir, 'flat.raw');
  execFileSync('qemu-img', ['convert', '-U', '-O', 'raw', path, flat]);
  return readFileSync(flat);
}

function assertTargetEqualsSource(): void {
  assert.ok(readVolume(volume.ref).equals(disk), 'the target volume equals the source disk');
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rehost-pipeline-'));
  mkdirSync(join(dir, 'images'));
  disk = Buffer.alloc(CHUNKS * CHUNK_SIZE);
  for (const i of [0, 2, 3, 7, 11]) randomBytes(CHUNK_SIZE).copy(disk, i * CHUNK_SIZE);
  writeImage();
  source = createImageSource({ log: quiet, workDir: join(dir, 'work-src'), secret: {} }, { path: join(dir, 'images') });
  target = createLocalTarget({ log: quiet, workDir: join(dir, 'work-tgt'), secret: {} }, { cloud_type: 'Local', path: join(dir, 'target') });
  replicator = createReplicator({ stateDir: join(dir, 'state'), log: quiet });
  await source.connect(null, signal);
  await target.verify(signal);
  const inv = await source.discover(signal);
  host = toHost(inv.hosts[0]!);
  const [prepared] = await target.prepareVolumes(host, signal);
  volume = { ...prepared!, id: 'vol-1', createdAt: 0 };
});
after(async () => {
  await source.close();
  await target.close();
  rmSync(dir, { recursive: true, force: true });
});

test('qcow2 image → Local target: full, snapshot, incremental, interrupted and resumed, cleanup', async () => {
  const full = await sync('full');
  assertTargetEqualsSource();
  assert.equal(full.chunksSent, 5, full.summary);
  assert.equal(full.sentBytes, 5 * CHUNK_SIZE);
  assert.equal(full.verified, true);

  assert.ok(hasSnapshots(target));
  const before = Buffer.from(disk);
  const snap = await target.snapshots.create(host, [volume], 'HyperMotion-20250101T000000', signal);

  // Two chunks change, one chunk that held data is zeroed, a zero chunk stays zero.
  randomBytes(4096).copy(disk, 2 * CHUNK_SIZE + 8192);
  randomBytes(CHUNK_SIZE).copy(disk, 5 * CHUNK_SIZE);
  disk.fill(0, 7 * CHUNK_SIZE, 8 * CHUNK_SIZE);
  writeImage();
  const inc = await sync('incremental');
  assertTargetEqualsSource();
  assert.equal(inc.chunksSent, 3, inc.summary);
  assert.equal(inc.chunksSkipped, CHUNKS - 3);
  assert.equal(inc.readBytes, CHUNKS * CHUNK_SIZE);
  assert.ok(readVolume(join(snap.ref, volume.ref.endsWith('.qcow2') ? 'disk-0.qcow2' : 'disk-0.raw')).equals(before), 'the snapshot still holds the data of the first sync');

  // Everything changes; the sync is stopped part-way, then run again.
  randomBytes(CHUNKS * CHUNK_SIZE).copy(disk);
  writeImage();
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(new RehostError('CONFLICT', 'sync stopped by user')), 1500);
  await assert.rejects(sync('incremental', { limitMbps: 64, signal: stop.signal }), /sync stopped by user/);
  clearTimeout(timer);
  const resumed = await sync('incremental');
  assertTargetEqualsSource();
  assert.ok(resumed.resumedFromBytes > 0, resumed.summary);
  assert.equal(resumed.chunksSent + resumed.resumedFromBytes / CHUNK_SIZE, CHUNKS, resumed.summary);

  await target.cleanup(host, [volume], [], false, signal);
  await replicator.forget('vol-1');
  assert.throws(() => readFileSync(volume.ref), /ENOENT/);
});
