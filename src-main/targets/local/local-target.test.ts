import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

/** `qemu-img info` of an image (with -U: a test may hold it open). */
function info(path: string): Record<string, unknown> {
  return JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', path], { encoding: 'utf8' })) as Record<string, unknown>;
}

/** Everything an image reads as, through its whole backing chain. */
function readImage(path: string): Buffer {
  const out = join(dir, `read-${randomUUID()}.raw`);
  execFileSync('qemu-img', ['convert', '-U', '-O', 'raw', path, out]);
  try {
    return readFileSync(out);
  } finally {
    rmSync(out);
  }
}

async function waitForFile(path: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(path), `${path} appeared`);
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
  // Node's recursive mkdir never returns under /proc (ENOENT for every new entry): this fails at once.
  if (process.platform === 'linux') await assert.rejects(target('/proc/rehost-no-such-folder/disks').verify(AbortSignal.timeout(5000)), /^RehostError: config\.path: \/proc\/rehost-no-such-folder\/disks is not a writable folder \(ENOENT/);
});

test('listResources answers the declared kinds only', async () => {
  const t = target(join(dir, 'res'));
  assert.deepEqual(t.capabilities.resources, ['flavors', 'networks', 'availability_zones', 'keypairs']);
  const flavors = await t.listResources('flavors', signal);
  assert.ok(flavors.length >= 3);
  for (const f of flavors) for (const k of ['id', 'name', 'vcpus', 'ram_mib', 'disk_gib']) assert.ok(k in f, `flavor has ${k}`);
  assert.deepEqual(await t.listResources('networks', signal), [{ id: 'user-nat', name: 'User-mode NAT' }]);
  assert.deepEqual(await t.listResources('availability_zones', signal), [{ id: 'local', name: 'local' }]);
  assert.deepEqual(await t.listResources('keypairs', signal), [], 'no key pair folder yet');
  mkdirSync(join(dir, 'res', 'keypairs'), { recursive: true });
  writeFileSync(join(dir, 'res', 'keypairs', 'ops.pub'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@laptop\n');
  writeFileSync(join(dir, 'res', 'keypairs', 'junk.pub'), 'not a key\n');
  const pairs = await t.listResources('keypairs', signal);
  assert.deepEqual(pairs.map((p) => [p.id, p.type]), [['ops', 'ssh-ed25519']]);
  assert.match(String(pairs[0]!.fingerprint), /^SHA256:[A-Za-z0-9+/]{43}$/);
  await assert.rejects(t.listResources('security_groups', signal), (e: unknown) => RehostError.is(e, 'UNPROCESSABLE'));
});

test('prepareVolumes makes blank qcow2 layers (no reflink here), is idempotent, grows with the disk and refuses to shrink', async () => {
  const root = join(dir, 'vols');
  const t = target(root);
  const h = host([8 * MiB, 3 * MiB]);
  const vols = await prepare(t, h);
  assert.deepEqual(vols.map((v) => [v.name, v.diskIndex, v.sizeBytes, v.status, v.ref, v.targetId]), [
    ['sync_vol_web01_0', 0, 8 * MiB, 'in-use', join(root, h.id, 'disk-0.qcow2'), 'target-1'],
    ['sync_vol_web01_1', 1, 3 * MiB, 'in-use', join(root, h.id, 'disk-1.qcow2'), 'target-1'],
  ]);
  assert.equal(info(vols[0]!.ref)['virtual-size'], 8 * MiB);
  assert.ok(statSync(vols[0]!.ref).blocks * 512 < MiB, 'nothing allocated');

  const sink = await t.openSink(vols[0]!, signal);
  assert.equal(await sink.isBlank(), true);
  const data = randomBytes(4096);
  await sink.write(MiB, data);
  await sink.flush();
  await sink.close();
  await prepare(t, h);
  assert.ok(readImage(vols[0]!.ref).subarray(MiB, MiB + 4096).equals(data), 'reused, data kept');
  const again = await t.openSink(vols[0]!, signal);
  assert.equal(await again.isBlank(), false);
  await again.close();

  await prepare(t, host([16 * MiB, 3 * MiB], h.id));
  assert.equal(info(vols[0]!.ref)['virtual-size'], 16 * MiB);
  assert.ok(readImage(vols[0]!.ref).subarray(MiB, MiB + 4096).equals(data), 'grown, data kept');
  await assert.rejects(prepare(t, host([MiB, 3 * MiB], h.id)), (e: unknown) => RehostError.is(e, 'CONFLICT'));
  await assert.rejects(prepare(t, host([MiB], '../../etc')), /is not a UUID/);
});

test('the sink writes the raw base until a snapshot freezes it, then the layer through qemu-nbd; it refuses ranges and refs it does not own', async () => {
  const root = join(dir, 'sink');
  const t = target(root);
  const h = host([4 * MiB]);
  const [vol] = await prepare(t, h);
  const base = join(root, vol!.hostId, 'disk-0.base.raw');
  const sink = await t.openSink(vol!, signal);
  assert.equal(sink.sizeBytes, 4 * MiB);
  await assert.rejects(t.openSink(vol!, signal), /already open/);
  const data = randomBytes(100_000);
  await sink.write(4 * MiB - data.length, data);
  assert.ok(Buffer.from(await sink.read(4 * MiB - data.length, data.length)).equals(data));
  await assert.rejects(sink.write(4 * MiB - 10, data), /outside/);
  await sink.flush();
  await sink.close();
  assert.ok(readFileSync(base).subarray(4 * MiB - data.length).equals(data), 'the first sync wrote the base file itself');
  assert.ok(readImage(vol!.ref).subarray(4 * MiB - data.length).equals(data), 'which the volume reads');

  // After a snapshot the base belongs to it: writes land in the new layer, through qemu-nbd.
  await t.snapshots!.create(h, [vol!], 'frozen', signal);
  const later = await t.openSink(vol!, signal);
  const newer = randomBytes(4096);
  await later.write(0, newer);
  await assert.rejects(later.write(4 * MiB - 10, data), /outside the export/);
  await later.flush();
  await t.close();
  await assert.rejects(later.write(0, data), /is closed/);
  assert.ok(readFileSync(base).subarray(0, 4096).equals(Buffer.alloc(4096)), 'the frozen base is untouched');
  assert.ok(readImage(vol!.ref).subarray(0, 4096).equals(newer));
  assert.ok(readImage(join(root, vol!.hostId, 'snapshots', 'frozen', 'disk-0.qcow2')).subarray(0, 4096).equals(Buffer.alloc(4096)), 'the snapshot reads its own time');

  await assert.rejects(t.openSink({ ...vol!, ref: '/etc/passwd' }, signal), (e: unknown) => RehostError.is(e, 'VALIDATION'));
  await assert.rejects(t.openSink({ ...vol!, ref: join(root, vol!.hostId, '..', '..', 'x', 'disk-0.qcow2') }, signal), /not a disk file/);
  rmSync(vol!.ref);
  await assert.rejects(t.openSink(vol!, signal), /volume file .* is missing/);
});

/** Writes `data` at `offset` of a volume through the target's sink, as a sync does. */
async function writeVolume(t: TargetDriver, vol: Volume, offset: number, data: Buffer): Promise<void> {
  const sink = await t.openSink(vol, signal);
  await sink.write(offset, data);
  await sink.flush();
  await sink.close();
}

test('layered snapshots are small, keep their data after later syncs, and removal keeps newer ones readable', async () => {
  const root = join(dir, 'snap');
  const t = target(root);
  assert.ok(hasSnapshots(t));
  const h = host([64 * MiB, 2 * MiB]);
  const vols = await prepare(t, h);
  const gen = [randomBytes(8 * MiB), randomBytes(MiB), randomBytes(MiB), randomBytes(MiB)];
  await writeVolume(t, vols[0]!, 0, gen[0]!);
  const names = ['HyperMotion-20250101T000000', 'HyperMotion-20250101T000100', 'HyperMotion-20250101T000200', 'HyperMotion-20250101T000300'];
  const snaps: { ref: string; sizeBytes: number }[] = [];
  snaps.push(await t.snapshots.create(h, vols, names[0]!, signal));
  for (let g = 1; g < 4; g++) {
    await writeVolume(t, vols[0]!, g * MiB, gen[g]!); // a later sync changes 1 MiB
    snaps.push(await t.snapshots.create(h, vols, names[g]!, signal));
  }
  assert.equal(snaps[0]!.ref, join(root, h.id, 'snapshots', names[0]!));
  assert.ok(snaps[0]!.sizeBytes >= 8 * MiB && snaps[0]!.sizeBytes < 10 * MiB, `first snapshot allocated ${snaps[0]!.sizeBytes}`);
  for (const s of snaps.slice(1)) assert.ok(s.sizeBytes < 2 * MiB, `a later snapshot holds only the change (${s.sizeBytes} bytes of a 64 MiB disk)`);
  const allocated = statSync(join(snaps[3]!.ref, 'disk-0.qcow2')).blocks * 512;
  assert.ok(allocated < 2 * MiB, `new layer allocates ${allocated} bytes`);

  /** What the volume held at snapshot `k`. */
  const expected = (k: number) => {
    const img = Buffer.alloc(64 * MiB);
    gen[0]!.copy(img, 0);
    for (let g = 1; g <= k; g++) gen[g]!.copy(img, g * MiB);
    return img;
  };
  for (let k = 0; k < 4; k++) assert.ok(readImage(join(snaps[k]!.ref, 'disk-0.qcow2')).equals(expected(k)), `snapshot ${k} reads its own data`);
  assert.ok(readImage(vols[0]!.ref).equals(expected(3)), 'the volume reads the newest data');

  // Removing the oldest (the base) and a middle one: every other snapshot and the volume read the same.
  await t.snapshots.remove(snaps[0]!.ref, signal);
  await t.snapshots.remove(snaps[2]!.ref, signal);
  assert.ok(!existsSync(snaps[0]!.ref) && !existsSync(snaps[2]!.ref));
  assert.ok(readImage(join(snaps[1]!.ref, 'disk-0.qcow2')).equals(expected(1)));
  assert.ok(readImage(join(snaps[3]!.ref, 'disk-0.qcow2')).equals(expected(3)));
  assert.ok(readImage(vols[0]!.ref).equals(expected(3)));
  assert.equal(readImage(join(snaps[3]!.ref, 'disk-1.qcow2')).length, 2 * MiB);

  await assert.rejects(t.snapshots.create(h, vols, names[3]!, signal), (e: unknown) => RehostError.is(e, 'CONFLICT'));
  await assert.rejects(t.snapshots.create(h, vols, '../escape', signal), /not a plain name/);
  await assert.rejects(t.snapshots.remove(join(root, h.id), signal), /not a snapshot folder/);
  const open = await t.openSink(vols[0]!, signal);
  await assert.rejects(t.snapshots.create(h, vols, 'while-writing', signal), /being written by a sync/);
  await open.close();
  assert.ok(!existsSync(join(root, h.id, 'snapshots', 'while-writing')));
});

test('removing a snapshot layer a reader holds locked rebuilds the next layer instead (machine keeps its files)', async () => {
  const root = join(dir, 'locked');
  const t = target(root);
  assert.ok(hasSnapshots(t));
  const h = host([16 * MiB]);
  const vols = await prepare(t, h);
  const a = randomBytes(4 * MiB);
  const b = randomBytes(MiB);
  await writeVolume(t, vols[0]!, 0, a);
  const s1 = await t.snapshots.create(h, vols, 's1', signal);
  await writeVolume(t, vols[0]!, 8 * MiB, b);
  const s2 = await t.snapshots.create(h, vols, 's2', signal);
  // qemu-nbd on an overlay over s2 holds s1 and s2 the way a test machine does (qemu image locks).
  const overlay = join(root, 'overlay.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', join(s2.ref, 'disk-0.qcow2'), overlay]);
  const s1Inode = statSync(join(s1.ref, 'disk-0.qcow2')).ino;
  const held = spawn('qemu-nbd', ['--socket', join(root, 'held.sock'), '--format=qcow2', overlay], { stdio: 'ignore' });
  try {
    await waitForFile(join(root, 'held.sock'));
    await t.snapshots.remove(s1.ref, signal);
  } finally {
    held.kill('SIGTERM');
  }
  const want = Buffer.alloc(16 * MiB);
  a.copy(want, 0);
  b.copy(want, 8 * MiB);
  assert.ok(!existsSync(s1.ref));
  assert.ok(readImage(join(s2.ref, 'disk-0.qcow2')).equals(want), 's2 still reads its data');
  assert.ok(readImage(vols[0]!.ref).equals(want), 'the volume too');
  assert.equal(info(join(s2.ref, 'disk-0.qcow2'))['backing-filename'], '../../disk-0.base.raw', 's2 lies on the raw base now');
  assert.notEqual(statSync(join(s2.ref, 'disk-0.qcow2')).ino, s1Inode, 'rebuilt, not committed into the locked s1');
});

test('cleanup removes only the host folder, leaving the target folder as it was; a missing root or missing parts need force', async () => {
  const root = join(dir, 'clean');
  const t = target(root);
  await t.verify(signal);
  const before = readdirSync(root);
  const a = host([MiB]);
  const b = host([MiB]);
  const volsA = await prepare(t, a);
  await prepare(t, b);
  const outside = join(dir, 'outside.raw');
  writeFileSync(outside, 'keep');
  const snap = await t.snapshots!.create(a, volsA, 'snap1', signal);
  const writing = await t.openSink(volsA[0]!, signal); // an interrupted sync's open sink
  await t.cleanup(a, [...volsA, { ...volsA[0]!, ref: outside }], [{ id: 'x', hostId: a.id, targetId: 't', name: 'snap1', status: 'create_done', sizeBytes: 0, reason: null, ref: snap.ref, createdAt: 0 }], false, signal);
  await assert.rejects(writing.read(0, 1), /is closed/);
  assert.ok(!existsSync(join(root, a.id)));
  assert.ok(existsSync(join(root, b.id, 'disk-0.qcow2')));
  assert.equal(readFileSync(outside, 'utf8'), 'keep');
  await t.cleanup(a, volsA, [], false, signal);
  // A snapshot layer removed by hand: refused without force, naming it; force removes the rest.
  const volsB = await prepare(t, b);
  const snapB = await t.snapshots!.create(b, volsB, 'snap2', signal);
  const recordB = { id: 'y', hostId: b.id, targetId: 't', name: 'snap2', status: 'create_done' as const, sizeBytes: 0, reason: null, ref: snapB.ref, createdAt: 0 };
  rmSync(join(snapB.ref, 'disk-0.qcow2'));
  await assert.rejects(t.cleanup(b, volsB, [recordB], false, signal), (e: unknown) => RehostError.is(e, 'CONFLICT') && /snapshot snap2 disk 0 in .*snap2; clean with force/.test(e.message));
  assert.ok(existsSync(join(root, b.id, 'disk-0.qcow2')), 'nothing was removed');
  await t.cleanup(b, volsB, [recordB], true, signal);
  assert.deepEqual(readdirSync(root), before, 'nothing left behind');

  const gone = target(join(dir, 'never-made'));
  await assert.rejects(gone.cleanup(a, volsA, [], false, signal), /is not there .* force/);
  await gone.cleanup(a, volsA, [], true, signal);
  mkdirSync(join(dir, 'never-made'));
  await gone.cleanup(a, volsA, [], false, signal);
});

test('an interrupted snapshot and a qemu-nbd left by a dead engine do not block the next sync', async () => {
  const root = join(dir, 'recover');
  const t = target(root);
  const h = host([4 * MiB]);
  const [vol] = await prepare(t, h);
  const data = randomBytes(MiB);
  await writeVolume(t, vol!, 0, data);
  // The engine died between the snapshot's two renames: the frozen layer is in place, the new active one is still `.next`.
  const frozen = join(root, h.id, 'snapshots', 'crashed', 'disk-0.qcow2');
  mkdirSync(join(root, h.id, 'snapshots', 'crashed'), { recursive: true });
  execFileSync('qemu-img', ['create', '-q', '-u', '-f', 'qcow2', '-F', 'qcow2', '-b', 'snapshots/crashed/disk-0.qcow2', `${vol!.ref}.next`, String(4 * MiB)]);
  execFileSync('mv', [vol!.ref, frozen]); // its backing name (the raw base) still counts from the host folder
  const [again] = await prepare(t, h);
  assert.equal(again!.ref, vol!.ref);
  assert.ok(!existsSync(`${vol!.ref}.next`));
  assert.ok(readImage(vol!.ref).subarray(0, MiB).equals(data), 'the volume reads as before');

  // A qemu-nbd that never finished its handshake (its engine died) still holds the image.
  const leftover = spawn('qemu-nbd', ['--socket', join(root, 'left.sock'), '--format=qcow2', vol!.ref], { stdio: 'ignore' });
  await waitForFile(join(root, 'left.sock'));
  writeFileSync(`${vol!.ref}.nbd-pid`, String(leftover.pid));
  const exited = new Promise((r) => leftover.once('exit', r));
  await writeVolume(t, vol!, MiB, data);
  await exited;
  assert.ok(readImage(vol!.ref).subarray(MiB, 2 * MiB).equals(data));
  assert.ok(!existsSync(`${vol!.ref}.nbd-pid`));
});
