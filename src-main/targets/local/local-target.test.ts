import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import { canBoot, hasSnapshots, type TargetDriver } from '../../core/drivers.js';
import type { Host, Volume } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import { createLocalTarget, secretFields } from './index.js';

const MiB = 1024 * 1024;
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const signal = new AbortController().signal;
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rehost-local-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function target(path: string): TargetDriver {
  return createLocalTarget({ log: quiet, workDir: join(dir, 'work'), secret: {} }, { cloud_type: 'Local', path });
}

function host(sizes: number[], id: string = randomUUID()): Host {
  return {
    id, sourceId: 's', sourceRef: '/x.img', name: 'web01', hostType: 'image', systemType: 'Linux', osVersion: '', firmware: 'bios',
    cpus: 1, memoryMiB: 1024, ip: null, mac: null, nics: [], checks: [], status: 'sync_doing', bootStatus: 'not_boot',
    healthStatus: 'active', step: '2', targetId: 'target-1', poolId: null, transferSpeed: null,
    syncStrategy: { doSnapshot: true, autoTrigger: false, interval: 1, intervalUnit: '2', quota: 32, startTime: null },
    cloudInstanceId: null, lastProjectName: null, failedJobId: null, licenseId: null, description: null, progress: null,
    lastSyncAt: null, syncCount: 0, markers: {}, createdAt: 0, updatedAt: 0,
    disks: sizes.map((sizeBytes, index) => ({ index, name: `disk${index}`, sizeBytes, isBoot: index === 0 })),
  };
}

async function prepare(t: TargetDriver, h: Host): Promise<Volume[]> {
  const prepared = await t.prepareVolumes(h, signal);
  return prepared.map((v) => ({ ...v, id: randomUUID(), createdAt: 0 }));
}

test('config.path must be an absolute path', () => {
  assert.deepEqual(secretFields, []);
  assert.throws(() => target(''), (e: unknown) => RehostError.is(e, 'VALIDATION') && e.context.field === 'config.path');
  assert.throws(() => target('relative/dir'), /config\.path: relative\/dir must be an absolute folder path/);
});

test('verify creates the folder and reports capacity; capabilities are snapshots and boot', async () => {
  const root = join(dir, 'new', 'nested');
  const t = target(root);
  const inv = await t.verify(signal);
  assert.ok(statSync(root).isDirectory());
  assert.equal(inv.displayName, `Local_${root}`);
  assert.equal(inv.address, 'localhost');
  assert.ok(inv.totalBytes > 0 && inv.usedBytes > 0 && inv.usedBytes <= inv.totalBytes);
  assert.deepEqual(inv.pools.map((p) => [p.id, p.name, p.protocol]), [['default', 'Local_Pool', 'file']]);
  assert.equal(hasSnapshots(t), true);
  assert.equal(canBoot(t), true);
  await t.close();
});

test('a folder that cannot be created gives a clear error naming config.path', async () => {
  const file = join(dir, 'plain-file');
  writeFileSync(file, 'x');
  const t = target(join(file, 'disks'));
  await assert.rejects(t.verify(signal), (e: unknown) => {
    assert.ok(RehostError.is(e, 'VALIDATION'));
    assert.equal(e.context.field, 'config.path');
    assert.match(e.message, /^config\.path: .*plain-file\/disks is not a writable folder \(a part of the path is a file, not a folder\)$/);
    return true;
  });
  await assert.rejects(t.prepareVolumes(host([MiB]), signal), /not a writable folder/);
});

test('listResources answers the declared kinds only', async () => {
  const t = target(join(dir, 'res'));
  assert.deepEqual(t.capabilities.resources, ['flavors', 'networks', 'availability_zones']);
  const flavors = await t.listResources('flavors', signal);
  assert.ok(flavors.length >= 3);
  for (const f of flavors) for (const k of ['id', 'name', 'vcpus', 'ram_mib', 'disk_gib']) assert.ok(k in f, `flavor has ${k}`);
  assert.deepEqual(await t.listResources('networks', signal), [{ id: 'user-nat', name: 'User-mode NAT' }]);
  assert.deepEqual(await t.listResources('availability_zones', signal), [{ id: 'local', name: 'local' }]);
  await assert.rejects(t.listResources('keypairs', signal), (e: unknown) => RehostError.is(e, 'UNPROCESSABLE'));
});

test('prepareVolumes makes sparse files, is idempotent, grows with the disk and refuses to shrink', async () => {
  const root = join(dir, 'vols');
  const t = target(root);
  const h = host([8 * MiB, 3 * MiB]);
  const vols = await prepare(t, h);
  assert.deepEqual(vols.map((v) => [v.name, v.diskIndex, v.sizeBytes, v.status, v.ref, v.targetId]), [
    ['sync_vol_web01_0', 0, 8 * MiB, 'in-use', join(root, h.id, 'disk-0.raw'), 'target-1'],
    ['sync_vol_web01_1', 1, 3 * MiB, 'in-use', join(root, h.id, 'disk-1.raw'), 'target-1'],
  ]);
  const st = statSync(vols[0]!.ref);
  assert.equal(st.size, 8 * MiB);
  assert.ok(st.blocks * 512 < MiB, 'sparse');

  const sink = await t.openSink(vols[0]!, signal);
  const data = randomBytes(4096);
  await sink.write(MiB, data);
  await sink.flush();
  await sink.close();
  await prepare(t, h);
  assert.ok(readFileSync(vols[0]!.ref).subarray(MiB, MiB + 4096).equals(data), 'reused, data kept');

  await prepare(t, host([16 * MiB, 3 * MiB], h.id));
  assert.equal(statSync(vols[0]!.ref).size, 16 * MiB);
  await assert.rejects(prepare(t, host([MiB, 3 * MiB], h.id)), (e: unknown) => RehostError.is(e, 'CONFLICT'));
  await assert.rejects(prepare(t, host([MiB], '../../etc')), /is not a UUID/);
});

test('the sink writes and reads at offsets and refuses ranges and refs it does not own', async () => {
  const root = join(dir, 'sink');
  const t = target(root);
  const [vol] = await prepare(t, host([4 * MiB]));
  const sink = await t.openSink(vol!, signal);
  assert.equal(sink.sizeBytes, 4 * MiB);
  const data = randomBytes(100_000);
  await sink.write(4 * MiB - data.length, data);
  assert.ok(Buffer.from(await sink.read(4 * MiB - data.length, data.length)).equals(data));
  await assert.rejects(sink.write(4 * MiB - 10, data), /outside its/);
  await sink.flush();
  await t.close();
  await assert.rejects(sink.write(0, data), /is closed/);

  await assert.rejects(t.openSink({ ...vol!, ref: '/etc/passwd' }, signal), (e: unknown) => RehostError.is(e, 'VALIDATION'));
  await assert.rejects(t.openSink({ ...vol!, ref: join(root, vol!.hostId, '..', '..', 'x', 'disk-0.raw') }, signal), /not a disk file/);
  rmSync(vol!.ref);
  await assert.rejects(t.openSink(vol!, signal), /volume file .* is missing/);
});

test('a snapshot keeps the old data after the volume changes, and can be removed', async () => {
  const root = join(dir, 'snap');
  const t = target(root);
  assert.ok(hasSnapshots(t));
  const h = host([8 * MiB, 2 * MiB]);
  const vols = await prepare(t, h);
  const old = randomBytes(MiB);
  let sink = await t.openSink(vols[0]!, signal);
  await sink.write(2 * MiB, old);
  await sink.close();

  const snap = await t.snapshots.create(h, vols, 'HyperMotion-20250101T000000', signal);
  assert.equal(snap.ref, join(root, h.id, 'snapshots', 'HyperMotion-20250101T000000'));
  assert.ok(snap.sizeBytes >= MiB && snap.sizeBytes < 3 * MiB, `allocated ${snap.sizeBytes}`);
  assert.ok(!existsSync(`${snap.ref}.partial`));

  sink = await t.openSink(vols[0]!, signal);
  await sink.write(2 * MiB, randomBytes(MiB));
  await sink.close();
  const copy = readFileSync(join(snap.ref, 'disk-0.raw'));
  assert.equal(copy.length, 8 * MiB);
  assert.ok(copy.subarray(2 * MiB, 3 * MiB).equals(old), 'the snapshot holds the old data');
  assert.ok(!readFileSync(vols[0]!.ref).subarray(2 * MiB, 3 * MiB).equals(old), 'the volume moved on');
  assert.equal(statSync(join(snap.ref, 'disk-1.raw')).size, 2 * MiB);

  await assert.rejects(t.snapshots.create(h, vols, 'HyperMotion-20250101T000000', signal), (e: unknown) => RehostError.is(e, 'CONFLICT'));
  await assert.rejects(t.snapshots.create(h, vols, '../escape', signal), /not a plain name/);
  await assert.rejects(t.snapshots.remove(join(root, h.id), signal), /not a snapshot folder/);
  await t.snapshots.remove(snap.ref, signal);
  assert.ok(!existsSync(snap.ref));
});

test('cleanup removes only the host folder; a missing root needs force', async () => {
  const root = join(dir, 'clean');
  const t = target(root);
  const a = host([MiB]);
  const b = host([MiB]);
  const volsA = await prepare(t, a);
  await prepare(t, b);
  const outside = join(dir, 'outside.raw');
  writeFileSync(outside, 'keep');
  const snap = await t.snapshots!.create(a, volsA, 'snap1', signal);
  await t.cleanup(a, [...volsA, { ...volsA[0]!, ref: outside }], [{ id: 'x', hostId: a.id, targetId: 't', name: 'snap1', status: 'create_done', sizeBytes: 0, reason: null, ref: snap.ref, createdAt: 0 }], false, signal);
  assert.ok(!existsSync(join(root, a.id)));
  assert.ok(existsSync(join(root, b.id, 'disk-0.raw')));
  assert.equal(readFileSync(outside, 'utf8'), 'keep');
  await t.cleanup(a, volsA, [], false, signal);

  const gone = target(join(dir, 'never-made'));
  await assert.rejects(gone.cleanup(a, volsA, [], false, signal), /is not there .* force/);
  await gone.cleanup(a, volsA, [], true, signal);
  mkdirSync(join(dir, 'never-made'));
  await gone.cleanup(a, volsA, [], false, signal);
});
