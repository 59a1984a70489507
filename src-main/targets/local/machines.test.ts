import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { Host, Snapshot, Volume } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import { Layout } from './layout.js';
import { LocalMachines } from './machines.js';

const GiB = 1024 ** 3;
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'rehost-machines-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

const host = { id: randomUUID(), name: 'web01' } as Host;
const volume = (sizeBytes: number) => ({ diskIndex: 0, sizeBytes, ref: join(dir, host.id, 'disk-0.raw') }) as Volume;

test('check refuses unknown and too-small flavors and bad markers; picks a fitting default', async () => {
  const m = new LocalMachines(new Layout(dir), quiet);
  await m.check(host, [volume(GiB / 2)], { flavor_id: 'local.tiny' });
  await m.check(host, [volume(30 * GiB)], {});
  const is400 = (field: string) => (e: unknown) => RehostError.is(e, 'VALIDATION') && e.context.field === field;
  await assert.rejects(m.check(host, [volume(2 * GiB)], { flavor_id: 'local.tiny' }), is400('boot.flavor_id'));
  await assert.rejects(m.check(host, [volume(GiB)], { flavor_id: 'm1.nope' }), /is not a Local flavor/);
  await assert.rejects(m.check(host, [volume(500 * GiB)], {}), /no Local flavor holds/);
  await assert.rejects(m.check(host, [volume(GiB)], { boot_marker: '(' }), is400('boot.boot_marker'));
});

test('a missing emulator fails the boot with a clear reason; no machine, no console', async () => {
  const m = new LocalMachines(new Layout(dir), quiet);
  const saved = process.env.REHOST_QEMU;
  process.env.REHOST_QEMU = join(dir, 'no-such-qemu');
  try {
    const snapshot = { ref: join(dir, host.id, 'snapshots', 'HyperMotion-20250101T000000') } as Snapshot;
    await assert.rejects(
      m.boot(host, [volume(GiB)], { backupType: 'volume_snapshot', snapshot, options: {}, signal: new AbortController().signal }),
      (e: unknown) => RehostError.is(e, 'UNPROCESSABLE') && /QEMU is missing: .*no-such-qemu was not found/.test(e.message),
    );
  } finally {
    if (saved === undefined) delete process.env.REHOST_QEMU;
    else process.env.REHOST_QEMU = saved;
  }
  assert.equal(await m.console(host), null);
});
