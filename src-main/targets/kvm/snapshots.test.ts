/**
 * KVM snapshot layers with the real qemu-img and coreutils, run in a local shell instead of over
 * SSH (the integration tests cover SSH): deltas stay small, old snapshots keep old data after later
 * syncs, and removing snapshots folds and deletes layers without changing what the rest show.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Host, Volume } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import { KvmLayout } from './layout.js';
import { planLayers, KvmSnapshots } from './snapshots.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const MiB = 1024 * 1024;
const noQemuImg = spawnSync('sh', ['-c', 'command -v qemu-img'], { stdio: 'ignore' }).status !== 0 ? 'qemu-img is not installed' : false;
const noQemu = noQemuImg || (spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { stdio: 'ignore' }).status !== 0 ? 'qemu-system-x86_64 is not installed' : false);
const root = mkdtempSync(join(tmpdir(), 'rehost-kvm-snap-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Runs the driver's shell commands here, as KvmSsh would on the host. */
const localShell = {
  async exec(command: string): Promise<string> {
    const r = spawnSync('bash', ['-c', command], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`\`${command.slice(0, 120)}\` failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  },
};

function scribble(path: string, offsetMiB: number): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, randomBytes(MiB), 0, MiB, offsetMiB * MiB);
  closeSync(fd);
}

/** Guest-visible bytes of an image (raw or qcow2 chain), as one raw file for `cmp`. */
function flatten(image: string, out: string): string {
  execFileSync('qemu-img', ['convert', '-U', '-O', 'raw', image, out]);
  return out;
}

test('layer plan: unreachable layers go, a qcow2 layer only a later one needs is folded into it, a raw one never', () => {
  const layers = [
    { path: '/l/a.raw', backing: null },
    { path: '/l/b.qcow2', backing: '/l/a.raw' },
    { path: '/l/c.qcow2', backing: '/l/b.qcow2' },
    { path: '/l/orphan.qcow2', backing: '/l/c.qcow2' },
  ];
  assert.deepEqual(planLayers(layers, new Set(['/l/c.qcow2'])), {
    remove: ['/l/orphan.qcow2'],
    // Folding the raw base would copy the whole disk into b: it stays as b's base.
    fold: [{ layer: '/l/b.qcow2', child: '/l/c.qcow2', parent: '/l/a.raw' }],
  });
  assert.deepEqual(planLayers(layers, new Set(['/l/a.raw', '/l/orphan.qcow2'])).fold.length, 2, 'b and c only carry orphan');
  assert.deepEqual(planLayers(layers, new Set()), { remove: layers.map((l) => l.path), fold: [] });
});

test('snapshots are deltas, keep their data after later syncs, and survive removing older ones', { skip: noQemuImg }, async () => {
  const layout = new KvmLayout(join(root, 'kvm'));
  const hostId = randomUUID();
  mkdirSync(layout.hostDir(hostId), { recursive: true });
  const volumePath = layout.volume(hostId, 0);
  execFileSync('truncate', ['-s', `${32 * MiB}`, volumePath]);
  for (let i = 0; i < 32; i += 2) scribble(volumePath, i);
  const host = { id: hostId, name: 'h' } as Host;
  const volumes = [{ hostId, diskIndex: 0, ref: volumePath, sizeBytes: 32 * MiB } as Volume];
  const snaps = new KvmSnapshots(localShell, layout, quiet);
  const probe = join(root, 'probe');
  const reflink = spawnSync('cp', ['--reflink=always', volumePath, probe]).status === 0;

  const refs: string[] = [];
  const truth: string[] = [];
  for (const [n, offset] of [[1, 3], [2, 5], [3, 7]] as const) {
    const s = await snaps.create(host, volumes, `HyperMotion-2026010${n}T000000`, AbortSignal.timeout(60_000));
    refs.push(s.ref);
    truth.push(flatten(volumePath, join(root, `truth-${n}.raw`)));
    if (n > 1 && !reflink) assert.ok(s.sizeBytes < 4 * MiB, `snapshot ${n} holds only the changed MiB, not a copy (${s.sizeBytes} bytes)`);
    scribble(volumePath, offset); // the next sync
  }
  const disksOf = async (i: number) => (await snaps.disks(refs[i]!, AbortSignal.timeout(10_000)))[0]!;
  assert.equal((await disksOf(0)).format, 'raw');
  if (!reflink) assert.equal((await disksOf(2)).format, 'qcow2');
  const check = async (i: number) => execFileSync('cmp', [flatten((await disksOf(i)).path, join(root, `got-${i}.raw`)), truth[i]!]);
  for (const i of [0, 1, 2]) await check(i);

  await snaps.remove(refs[0]!, AbortSignal.timeout(60_000));
  const layers = () => readdirSync(layout.layersDir(hostId)).filter((f) => !f.startsWith('tip-'));
  assert.equal(layers().length, 3, `the first snapshot's raw layer stays as the base of the next delta: ${layers().join(', ')}`);
  for (const i of [1, 2]) await check(i);
  await snaps.remove(refs[2]!, AbortSignal.timeout(60_000));
  await check(1);
  assert.equal(layers().length, 3, 'the newest layer stays as the base of the next delta');
  const s4 = await snaps.create(host, volumes, 'HyperMotion-20260104T000000', AbortSignal.timeout(60_000));
  execFileSync('cmp', [flatten((await snaps.disks(s4.ref, AbortSignal.timeout(10_000)))[0]!.path, join(root, 'got-4.raw')), flatten(volumePath, join(root, 'truth-4.raw'))]);
  await check(1);
  assert.equal(layers().length, 3, 'the deleted newest snapshot\'s layer was folded once a new delta replaced it as the tip');
  assert.ok(statSync(volumePath).size === 32 * MiB);
});

test('a running machine on a later snapshot keeps the layers under it until it stops', { skip: noQemu, timeout: 120_000 }, async () => {
  const layout = new KvmLayout(join(root, 'kvm-lock'));
  const hostId = randomUUID();
  mkdirSync(layout.hostDir(hostId), { recursive: true });
  const volumePath = layout.volume(hostId, 0);
  execFileSync('truncate', ['-s', `${8 * MiB}`, volumePath]);
  const host = { id: hostId, name: 'h' } as Host;
  const volumes = [{ hostId, diskIndex: 0, ref: volumePath, sizeBytes: 8 * MiB } as Volume];
  const snaps = new KvmSnapshots(localShell, layout, quiet);
  const refs: string[] = [];
  for (const n of [1, 2, 3]) {
    scribble(volumePath, n);
    refs.push((await snaps.create(host, volumes, `HyperMotion-2026020${n}T000000`, AbortSignal.timeout(60_000))).ref);
  }
  const truth = flatten(volumePath, join(root, 'lock-truth.raw'));
  // A test boot's overlay over the newest snapshot, held open by a paused QEMU as on the KVM host.
  const top = (await snaps.disks(refs[2]!, AbortSignal.timeout(10_000)))[0]!;
  const overlay = join(layout.bootDir(hostId, randomUUID()), 'disk-0.qcow2');
  mkdirSync(join(overlay, '..'), { recursive: true });
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', top.format, '-b', top.path, overlay]);
  const pidFile = join(root, 'lock-qemu.pid');
  execFileSync('qemu-system-x86_64', ['-S', '-display', 'none', '-nodefaults', '-monitor', 'none', '-m', '16', '-drive', `file=${overlay},format=qcow2,if=virtio`, '-daemonize', '-pidfile', pidFile]);
  const layers = () => readdirSync(layout.layersDir(hostId)).filter((f) => !f.startsWith('tip-'));
  try {
    await snaps.remove(refs[0]!, AbortSignal.timeout(60_000));
    assert.equal(layers().length, 3, 'the first layer stays while the machine reads through it');
    execFileSync('cmp', [flatten(top.path, join(root, 'lock-got.raw')), truth]);
  } finally {
    process.kill(Number(execFileSync('cat', [pidFile], { encoding: 'utf8' })), 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
  }
  rmSync(join(overlay, '..'), { recursive: true, force: true });
  await snaps.remove(refs[1]!, AbortSignal.timeout(60_000));
  assert.equal(layers().length, 2, `once the machine is gone the unneeded qcow2 layer folds into the last, over the raw first one: ${layers().join(', ')}`);
  execFileSync('cmp', [flatten(top.path, join(root, 'lock-got2.raw')), truth]);
});

/** A sync's writes into the active qcow2 layer, as qemu-nbd would make them. */
function writeLayer(image: string, offsetMiB: number, pattern: number): void {
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pattern} ${offsetMiB}M 1M`, image], { stdio: 'ignore' });
}

test('qcow2 volumes: a snapshot freezes the active layer (no copy), old snapshots keep old data, removal merges layers', { skip: noQemuImg }, async () => {
  const layout = new KvmLayout(join(root, 'kvm-frozen'));
  const hostId = randomUUID();
  mkdirSync(layout.layersDir(hostId), { recursive: true });
  const active = layout.volume(hostId, 0, 'qcow2');
  const base = layout.base(hostId, 0);
  // As volumes.ts prepares it; the first sync writes the raw base directly.
  execFileSync('truncate', ['-s', `${64 * MiB}`, base]);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base, active, `${64 * MiB}`]);
  for (let i = 0; i < 48; i += 2) scribble(base, i);
  const host = { id: hostId, name: 'h' } as Host;
  const volumes = [{ hostId, diskIndex: 0, ref: active, sizeBytes: 64 * MiB, name: 'v0' } as Volume];
  let writing = false;
  const snaps = new KvmSnapshots(localShell, layout, quiet, () => writing);

  const s1 = await snaps.create(host, volumes, 'HyperMotion-20260301T000000', AbortSignal.timeout(60_000));
  const truth1 = flatten(active, join(root, 'frozen-truth-1.raw'));
  assert.ok(s1.sizeBytes >= 24 * MiB, `the first snapshot holds the base the first sync wrote (${s1.sizeBytes} bytes)`);
  writeLayer(active, 3, 0x11); // the second sync: one changed MiB
  writeLayer(active, 40, 0x22);
  const s2 = await snaps.create(host, volumes, 'HyperMotion-20260302T000000', AbortSignal.timeout(60_000));
  const truth2 = flatten(active, join(root, 'frozen-truth-2.raw'));
  assert.ok(s2.sizeBytes < 4 * MiB, `the second snapshot holds the 2 changed MiB, not a copy (${s2.sizeBytes} bytes)`);
  writeLayer(active, 3, 0x33); // a third sync, never snapshotted
  const truth3 = flatten(active, join(root, 'frozen-truth-3.raw'));

  const disk = async (ref: string) => (await snaps.disks(ref, AbortSignal.timeout(10_000)))[0]!;
  assert.equal((await disk(s1.ref)).format, 'qcow2');
  execFileSync('cmp', [flatten((await disk(s1.ref)).path, join(root, 'frozen-got-1.raw')), truth1], { stdio: 'ignore' });
  execFileSync('cmp', [flatten((await disk(s2.ref)).path, join(root, 'frozen-got-2.raw')), truth2], { stdio: 'ignore' });
  assert.notEqual(spawnSync('cmp', ['-s', truth3, truth2]).status, 0, 'the volume moved on; the snapshot did not');

  writing = true;
  await assert.rejects(snaps.create(host, volumes, 'HyperMotion-20260303T000000', AbortSignal.timeout(60_000)), /being written by a sync/);
  writing = false;

  await snaps.remove(s1.ref, AbortSignal.timeout(60_000));
  const layers = readdirSync(layout.layersDir(hostId)).sort();
  assert.equal(layers.length, 2, `the first frozen layer was merged into the second; the raw base stays: ${layers.join(', ')}`);
  assert.ok(layers.includes('base-disk-0.raw'));
  execFileSync('cmp', [flatten((await disk(s2.ref)).path, join(root, 'frozen-got-2b.raw')), truth2], { stdio: 'ignore' });
  execFileSync('cmp', [flatten(active, join(root, 'frozen-now.raw')), truth3], { stdio: 'ignore' });
});
