/**
 * The consistency planner without a host: which disks get an LVM snapshot, how big, the exact
 * lvcreate/lvremove commands, which file systems are frozen, and the converging-passes fallback
 * with its reason; a whole disk holding a PV read through a device-mapper view whose table maps
 * each LV's extents (from `lvs --segments` seg_pe_ranges and `pvs` pe_start) to its snapshot. (The LVM path itself needs device-mapper, which this sandbox's kernel lacks;
 * the fallback also runs for real in the agent integration tests.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describePlan, planSnapshot, snapshotSize, SNAPSHOT_MAX, SNAPSHOT_MIN, takeSnapshot, type HostFacts, type LvRow, type Runner } from './consistency.js';
import { viewTable } from './consistency-pv.js';

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

// ---------------------------------------------------------------- a whole disk holding a PV

const PART = GiB + MiB; // /dev/sda2 starts here on /dev/sda (after a 1 GiB /boot)
const disk = { path: '/dev/sda', real: '/dev/sda', sizeBytes: 40 * GiB };
const pvRoot = { ...lv('root', 'vg0', 10 * GiB, 20 * GiB), real: '/dev/dm-0' };
const pvHome = { ...lv('home', 'vg0', 4 * GiB, 20 * GiB), real: '/dev/dm-1' };
const pvFactsOf = (over: Partial<HostFacts> = {}): HostFacts =>
  facts({
    disks: [disk],
    lvs: [pvRoot, pvHome],
    mounts: [{ device: '/dev/dm-0', mountPoint: '/' }, { device: '/dev/dm-1', mountPoint: '/home' }, { device: '/dev/sda1', mountPoint: '/boot' }],
    pvs: [{ name: '/dev/sda2', vg: 'vg0', peStart: MiB, extentBytes: EXT, disk: '/dev/sda', offsetInDisk: PART }],
    segments: [
      { vg: 'vg0', lv: 'root', segtype: 'linear', lvOffset: 0, size: 10 * GiB, peRanges: '/dev/sda2:0-2559' },
      { vg: 'vg0', lv: 'home', segtype: 'linear', lvOffset: 0, size: 2 * GiB, peRanges: '/dev/sda2:2560-3071' },
      // home grew later, past 2 GiB of free extents.
      { vg: 'vg0', lv: 'home', segtype: 'linear', lvOffset: 2 * GiB, size: 2 * GiB, peRanges: '/dev/sda2:3584-4095' },
    ],
    ...over,
  });

test('a whole disk holding a PV: every LV on it gets a snapshot, and a view reads their extents from the snapshots', () => {
  const plan = planSnapshot(pvFactsOf(), 'pv1');
  assert.equal(plan.kind, 'lvm-snapshot', plan.kind === 'converging-passes' ? plan.reason : '');
  if (plan.kind !== 'lvm-snapshot') return;
  assert.deepEqual(plan.steps.map((s) => [s.disk, s.lv, s.readPath, s.sizeBytes]), [[null, 'root', '/dev/vg0/root-rehost-pv1', 2 * GiB], [null, 'home', '/dev/vg0/home-rehost-pv1', 816 * MiB]]);
  assert.deepEqual(plan.freeze, ['/', '/home']);
  const view = plan.views[0]!;
  assert.deepEqual([view.disk, view.readPath, view.lvs], ['/dev/sda', '/dev/mapper/rehost-view-pv1-0', ['vg0/root', 'vg0/home']]);
  const s = (b: number) => b / 512;
  const pe = (n: number) => PART + MiB + n * EXT;
  assert.equal(
    viewTable(view, { disk: '/dev/sda', metadata: '/dev/loop9', snapshot: (k) => `/dev/${k}-rehost-pv1` }),
    [
      `0 ${s(PART)} linear /dev/sda 0`,
      `${s(PART)} ${s(MiB)} linear /dev/loop9 0`,
      `${s(pe(0))} ${s(10 * GiB)} linear /dev/vg0/root-rehost-pv1 0`,
      `${s(pe(2560))} ${s(2 * GiB)} linear /dev/vg0/home-rehost-pv1 0`,
      `${s(pe(3072))} ${s(2 * GiB)} linear /dev/sda ${s(pe(3072))}`,
      `${s(pe(3584))} ${s(2 * GiB)} linear /dev/vg0/home-rehost-pv1 ${s(2 * GiB)}`,
      `${s(pe(4096))} ${s(40 * GiB - pe(4096))} linear /dev/sda ${s(pe(4096))}`,
    ].join('\n'),
  );
  assert.match(describePlan(plan), /\/dev\/sda read through a device-mapper view: vg0\/root, vg0\/home from their snapshots, the LVM metadata of \/dev\/sda2 as before the snapshots/);
});

test('a PV disk whose LVs cannot be served from snapshots falls back to converging passes, naming why', () => {
  const cases: [Partial<HostFacts>, RegExp][] = [
    [{ segments: [{ vg: 'vg0', lv: 'root', segtype: 'striped', lvOffset: 0, size: 10 * GiB, peRanges: '/dev/sda2:0-1279 /dev/sdb:0-1279' }] }, /vg0\/root has a striped segment on \/dev\/sda2/],
    [{ segments: [] }, /the physical volume \/dev\/sda2 on \/dev\/sda carries no logical volume/],
    [{ pvs: [] }, /\/dev\/sda is not an LVM logical volume nor holds a physical volume/],
    [{ disks: [{ ...disk, sizeBytes: 0 }] }, /size of \/dev\/sda is unknown/],
    [{ deviceMapper: false }, /no device-mapper/],
    [{ lvs: [{ ...pvRoot, vgFreeBytes: 0 }, { ...pvHome, vgFreeBytes: 0 }] }, /vg0 has no free extents/],
  ];
  for (const [over, reason] of cases) {
    const plan = planSnapshot(pvFactsOf(over), 'x');
    assert.equal(plan.kind, 'converging-passes');
    assert.match(describePlan(plan), reason);
  }
});

function viewRecorder(fail: (argv: string[]) => string | null = () => null) {
  const rec = recorder(fail);
  const files = new Map<string, string>();
  const exec: Runner = (argv) => {
    rec.exec(argv);
    return argv[0] === 'losetup' && argv.includes('--show') ? '/dev/loop9\n' : '';
  };
  return { log: rec.log, exec, files, io: { workDir: '/run/rehost-test', writeFile: (p: string, t: string) => void files.set(p, t) } };
}

test('PV disk view (commands recorded, not run: no device-mapper here): metadata saved, freeze, snapshots, thaw, view created; released in reverse', () => {
  const { log, exec, files, io } = viewRecorder();
  const taken = takeSnapshot(pvFactsOf(), 'pv2', exec, io);
  assert.deepEqual(log, [
    'dd if=/dev/sda2 of=/run/rehost-test/rehost-view-pv2-0.pvmeta bs=1048576 count=1 iflag=fullblock status=none',
    'losetup --find --show --read-only /run/rehost-test/rehost-view-pv2-0.pvmeta',
    'fsfreeze --freeze /',
    'fsfreeze --freeze /home',
    `lvcreate --config backup { backup = 0 archive = 0 } --snapshot --name root-rehost-pv2 --size ${2 * GiB}b --yes vg0/root`,
    `lvcreate --config backup { backup = 0 archive = 0 } --snapshot --name home-rehost-pv2 --size ${816 * MiB}b --yes vg0/home`,
    'fsfreeze --unfreeze /',
    'fsfreeze --unfreeze /home',
    'dmsetup create rehost-view-pv2-0 --readonly /run/rehost-test/rehost-view-pv2-0.table',
  ]);
  assert.deepEqual(taken.reads, { '/dev/sda': '/dev/mapper/rehost-view-pv2-0' });
  const table = files.get('/run/rehost-test/rehost-view-pv2-0.table')!;
  assert.match(table, /^0 \d+ linear \/dev\/sda 0\n\d+ 2048 linear \/dev\/loop9 0\n\d+ \d+ linear \/dev\/vg0\/root-rehost-pv2 0\n/);
  assert.deepEqual(taken.cleanup.map((c) => c.join(' ')), [
    'dmsetup remove --retry rehost-view-pv2-0',
    'lvremove --force --yes vg0/root-rehost-pv2',
    'lvremove --force --yes vg0/home-rehost-pv2',
    'losetup --detach /dev/loop9',
    'rm -f /run/rehost-test/rehost-view-pv2-0.pvmeta /run/rehost-test/rehost-view-pv2-0.table',
  ]);
  assert.match(taken.method, /^LVM snapshot: vg0\/root → root-rehost-pv2 \(2\.0 GiB\), vg0\/home → home-rehost-pv2 \(816 MiB\); fsfreeze on \/, \/home around the snapshot moment; \/dev\/sda read through a device-mapper view/);
});

test('PV disk view (commands recorded): a failed view removes the snapshots and the metadata loop', () => {
  const { log, exec, io } = viewRecorder((argv) => (argv[0] === 'dmsetup' ? 'device-mapper: reload ioctl failed' : null));
  assert.throws(() => takeSnapshot(pvFactsOf({ fsfreeze: false }), 'pv3', exec, io), /the device-mapper view of \/dev\/sda failed: device-mapper: reload ioctl failed/);
  assert.deepEqual(log.slice(log.indexOf('dmsetup create rehost-view-pv3-0 --readonly /run/rehost-test/rehost-view-pv3-0.table') + 1), [
    'losetup --detach /dev/loop9',
    'rm -f /run/rehost-test/rehost-view-pv3-0.pvmeta /run/rehost-test/rehost-view-pv3-0.table',
    'lvremove --force --yes vg0/root-rehost-pv3',
    'lvremove --force --yes vg0/home-rehost-pv3',
  ]);
});
