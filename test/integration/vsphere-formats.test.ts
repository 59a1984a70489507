/**
 * VMDK formats read through the datastore endpoint of the vCenter simulator: hosted sparse
 * extents (monolithicSparse, twoGbMaxExtentSparse made by qemu-img) read back byte for byte by
 * the driver's snapshot view.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SourceDriver } from '../../src-main/core/drivers.js';
import { createVsphereSource } from '../../src-main/sources/vsphere/index.js';
import { makeMixedDisk } from '../fixtures/disks.js';
import { removeDir, tempDir } from '../harness.js';
import { startVcsim, VcsimAdmin, type Vcsim } from '../peers/vcsim.js';

const MiB = 1024 * 1024;
const work = tempDir('vsphere-fmt');
let sim: Vcsim;
let admin: VcsimAdmin;
let driver: SourceDriver;
const quiet: any = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

after(async () => {
  await driver?.close();
  await admin?.close();
  await sim?.stop();
  removeDir(work);
});

async function readWhole(vmName: string): Promise<Buffer> {
  const ref = (await admin.vm(vmName)).instanceUuid;
  const view = await driver.openSnapshot(ref, { mode: 'full', markers: {} }, AbortSignal.timeout(60_000));
  try {
    const disk = view.disks[0]!;
    return Buffer.from(await disk.read(0, disk.sizeBytes, AbortSignal.timeout(60_000)));
  } finally {
    await view.close();
  }
}

test('monolithicSparse and twoGbMaxExtentSparse disks read back byte for byte', async () => {
  sim = await startVcsim();
  admin = await VcsimAdmin.open(sim);
  driver = createVsphereSource({ log: quiet, workDir: work, secret: { password: sim.password } }, { host: sim.host, port: sim.port, username: sim.username });
  await driver.connect(null, AbortSignal.timeout(10_000));
  const raw = join(work, 'disk.raw');
  makeMixedDisk(raw, 24, 11);
  const expected = readFileSync(raw);

  for (const [vm, subformat] of [
    ['DC0_H0_VM1', 'monolithicSparse'],
    ['DC0_C0_RP0_VM0', 'twoGbMaxExtentSparse'],
  ] as const) {
    await admin.resizeFirstDisk(vm, 24 * MiB);
    const dir = join(work, subformat);
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, raw, join(dir, 'disk1.vmdk')]);
    for (const name of readdirSync(dir)) await sim.put('LocalDS_0', `${vm}/${name}`, readFileSync(join(dir, name)));
    const got = await readWhole(vm);
    assert.equal(got.length, expected.length);
    assert.ok(got.equals(expected), `${subformat} disk differs from its source`);
  }
});
