/**
 * The consistency planner without a host: which disks get an LVM snapshot, how big, the exact
 * lvcreate/lvremove commands, which file systems are frozen, and the converging-passes fallback
 * with its reason. (The LVM path itself needs device-mapper, which this sandbox's kernel lacks;
 * the fallback also runs for real in the agent integration tests.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describePlan, planSnapshot, snapshotSize, SNAPSHOT_MAX, SNAPSHOT_MIN, takeSnapshot, type HostFacts, type LvRow, type Runner } from './consistency.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const EXT = 4 * MiB;

function lv(name: string, vg: string, size: number, free: number, attr = '-wi-ao----'): LvRow {
  return { path: `/dev/${vg}/${name}`, real: `/dev/dm-${name.length}`, vg, name, sizeBytes: size, vgFreeBytes: free, extentBytes: EXT, attr };
}

function facts(over: Partial<HostFacts>): HostFacts {
  return { disks: [], lvs: [], mounts: [], deviceMapper: true, fsfreeze: true, ...over };
}

test('snapshot size: a fifth of the origin, at least 64 MiB, at most 16 GiB, whole extents, within the free space', () => {
  assert.equal(snapshotSize(10 * GiB, 100 * GiB, EXT, 1), 2 * GiB);
  assert.equal(snapshotSize(100 * MiB, 100 * GiB, EXT, 1), SNAPSHOT_MIN);
  assert.equal(snapshotSize(1000 * GiB, 100 * GiB, EXT, 1), SNAPSHOT_MAX);
  assert.equal(snapshotSize(10 * GiB, 10 * MiB, EXT, 1), 8 * MiB, 'bounded by the free extents');
  assert.equal(snapshotSize(10 * GiB, 10 * MiB, EXT, 0.5), 4 * MiB, 'two volumes share the free extents');
  assert.equal(snapshotSize(10 * GiB, 3 * MiB, EXT, 1), 0, 'less than one extent: none');
});

test('an LV with free extents gets an LVM snapshot; its mounted file system is frozen around it', () => {
  const root = lv('root', 'vg0', 10 * GiB, 50 * GiB);
  const plan = planSnapshot(facts({ disks: [{ path: '/dev/vg0/root', real: root.real }], lvs: [root, lv('swap', 'vg0', GiB, 50 * GiB)], mounts: [{ device: root.real, mountPoint: '/' }, { device: '/dev/vda1', mountPoint: '/boot' }] }), 'ab12');
  assert.equal(plan.kind, 'lvm-snapshot');
  if (plan.kind !== 'lvm-snapshot') return;
  assert.deepEqual(plan.freeze, ['/']);
  assert.deepEqual(plan.steps, [{
    disk: '/dev/vg0/root',
    lv: 'root',
    vg: 'vg0',
    snapshot: 'root-rehost-ab12',
    sizeBytes: 2 * GiB,
    readPath: '/dev/vg0/root-rehost-ab12',
    create: ['lvcreate', '--snapshot', '--name', 'root-rehost-ab12', '--size', `${2 * GiB}b`, '--yes', 'vg0/root'],
    remove: ['lvremove', '--force', '--yes', 'vg0/root-rehost-ab12'],
  }]);
  assert.equal(describePlan(plan), 'LVM snapshot: vg0/root → root-rehost-ab12 (2.0 GiB); fsfreeze on / around the snapshot moment');
  assert.equal(describePlan(plan, []), 'LVM snapshot: vg0/root → root-rehost-ab12 (2.0 GiB); no mounted file system to freeze');
});

test('without fsfreeze the snapshot is still taken, with nothing frozen', () => {
  const data = lv('data', 'vg1', GiB, GiB);
  const plan = planSnapshot(facts({ fsfreeze: false, disks: [{ path: '/dev/mapper/vg1-data', real: data.real }], lvs: [data], mounts: [{ device: data.real, mountPoint: '/srv' }] }), 'x');
  assert.equal(plan.kind, 'lvm-snapshot');
  assert.deepEqual(plan.kind === 'lvm-snapshot' && plan.freeze, []);
});

test('fallbacks to converging passes name their reason', () => {
  const root = lv('root', 'vg0', 10 * GiB, 0);
  const cases: [Partial<HostFacts>, RegExp][] = [
    [{ disks: [{ path: '/dev/loop3', real: '/dev/loop3' }] }, /\/dev\/loop3 is not an LVM logical volume/],
    [{ disks: [{ path: '/dev/vg0/root', real: root.real }], lvs: [root] }, /volume group vg0 has no free extents/],
    [{ disks: [{ path: '/dev/vg0/root', real: root.real }], lvs: [{ ...root, vgFreeBytes: 10 * GiB }], deviceMapper: false }, /no device-mapper/],
    [{ disks: [{ path: '/dev/vg0/s', real: '/dev/dm-1' }], lvs: [lv('s', 'vg0', GiB, GiB, 'swi-a-s---')] }, /is not an LVM logical volume/],
  ];
  for (const [f, reason] of cases) {
    const plan = planSnapshot(facts(f), 'id');
    assert.equal(plan.kind, 'converging-passes');
    assert.match(describePlan(plan), reason);
    assert.match(describePlan(plan), /^converging passes \(.*run the final pass with services stopped\)$/);
  }
});

test('one disk outside LVM means no partial snapshot: all disks are read the same way', () => {
  const root = lv('root', 'vg0', 10 * GiB, 50 * GiB);
  const plan = planSnapshot(facts({ disks: [{ path: '/dev/vg0/root', real: root.real }, { path: '/dev/sdb', real: '/dev/sdb' }], lvs: [root] }), 'id');
  assert.equal(plan.kind, 'converging-passes');
});

test('takeSnapshot on this host: a loop device is read live after a sync, and the method says why', () => {
  const { log, exec } = recorder();
  const taken = takeSnapshot(facts({ disks: [{ path: '/dev/loop7', real: '/dev/loop7' }] }), 'id', exec);
  assert.deepEqual(taken.reads, { '/dev/loop7': '/dev/loop7' });
  assert.deepEqual(taken.cleanup, []);
  assert.deepEqual(log, ['sync'], 'dirty pages reach the disk before a direct read of it');
  assert.match(taken.method, /^converging passes \(\/dev\/loop7 is not an LVM logical volume/);
});

/** A host whose commands are recorded, not run (this kernel has no device-mapper); `fail` decides which fail. */
function recorder(fail: (argv: string[]) => string | null = () => null): { log: string[]; exec: Runner } {
  const log: string[] = [];
  return {
    log,
    exec: (argv) => {
      log.push(argv.join(' '));
      const why = fail(argv);
      if (why !== null) throw Object.assign(new Error('failed'), { stderr: why });
      return '';
    },
  };
}

const root = lv('root', 'vg0', 10 * GiB, 50 * GiB);
const rootFacts = facts({ disks: [{ path: '/dev/vg0/root', real: root.real }], lvs: [root, { ...lv('root-rehost-old1', 'vg0', GiB, 50 * GiB, 'swi-a-s---'), real: '/dev/dm-9' }], mounts: [{ device: root.real, mountPoint: '/' }] });

test('LVM snapshot (commands recorded, not run: no device-mapper here): stale snapshot removed, freeze, create without metadata archive, thaw', () => {
  const { log, exec } = recorder();
  const taken = takeSnapshot(rootFacts, 'id1', exec);
  assert.deepEqual(log, [
    'lvremove --force --yes vg0/root-rehost-old1',
    'fsfreeze --freeze /',
    `lvcreate --config backup { backup = 0 archive = 0 } --snapshot --name root-rehost-id1 --size ${2 * GiB}b --yes vg0/root`,
    'fsfreeze --unfreeze /',
  ]);
  assert.deepEqual(taken.reads, { '/dev/vg0/root': '/dev/vg0/root-rehost-id1' });
  assert.deepEqual(taken.cleanup, [['lvremove', '--force', '--yes', 'vg0/root-rehost-id1']]);
  assert.equal(taken.method, 'LVM snapshot: vg0/root → root-rehost-id1 (2.0 GiB); fsfreeze on / around the snapshot moment');
});

test('LVM snapshot (commands recorded): a kernel that refuses suspend on a frozen file system gets the snapshot without fsfreeze', () => {
  const { log, exec } = recorder((argv) => (argv[0] === 'lvcreate' && argv.includes('--config') ? 'device-mapper: suspend ioctl failed: Device or resource busy' : null));
  const taken = takeSnapshot(rootFacts, 'id2', exec);
  assert.deepEqual(log.slice(1), [
    'fsfreeze --freeze /',
    `lvcreate --config backup { backup = 0 archive = 0 } --snapshot --name root-rehost-id2 --size ${2 * GiB}b --yes vg0/root`,
    'fsfreeze --unfreeze /',
    `lvcreate --snapshot --name root-rehost-id2 --size ${2 * GiB}b --yes vg0/root`,
  ]);
  assert.match(taken.method, /^LVM snapshot: vg0\/root → root-rehost-id2 .*fsfreeze first was refused: .*Device or resource busy; device-mapper froze the file systems/);
});

test('LVM snapshot (commands recorded): when the second volume fails, the first snapshot is removed and the reason names the volume', () => {
  const home = { ...lv('home', 'vg0', 4 * GiB, 50 * GiB), real: '/dev/dm-77' };
  const f = facts({ fsfreeze: false, disks: [{ path: '/dev/vg0/root', real: root.real }, { path: '/dev/vg0/home', real: home.real }], lvs: [root, home] });
  const { log, exec } = recorder((argv) => (argv[0] === 'lvcreate' && argv.at(-1) === 'vg0/home' ? 'Insufficient free space' : null));
  assert.throws(() => takeSnapshot(f, 'id3', exec), /LVM snapshot of vg0\/home failed: Insufficient free space/);
  assert.deepEqual(log.at(-1), 'lvremove --force --yes vg0/root-rehost-id3');
});
