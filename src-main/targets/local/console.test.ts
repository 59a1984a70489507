import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HypervisorFailure, readTail, watchConsole } from './console.js';

let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'rehost-console-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

const watch = (consolePath: string, extra: Partial<Parameters<typeof watchConsole>[0]> = {}) =>
  watchConsole({ consolePath, marker: /MIGRATION-BOOT-OK/, fail: /Kernel panic/, exited: new Promise(() => undefined), timeoutMs: 1500, signal: new AbortController().signal, ...extra });

test('a KVM internal error in QEMU\'s log is a HypervisorFailure; one logged before this machine started is not', async () => {
  const consolePath = join(dir, 'c1.log');
  const qemuLog = join(dir, 'q1.log');
  writeFileSync(consolePath, 'SeaBIOS\n');
  writeFileSync(qemuLog, 'KVM internal error. Suberror: 1\nemulation failure\n');
  await assert.rejects(watch(consolePath, { qemuLog: { path: qemuLog, from: 0 } }), (e: unknown) => e instanceof HypervisorFailure && /QEMU stopped the machine: KVM internal error\. Suberror: 1/.test(e.message));
  const from = statSync(qemuLog).size;
  await assert.rejects(watch(consolePath, { qemuLog: { path: qemuLog, from } }), (e: unknown) => !(e instanceof HypervisorFailure) && /within 2 s; console tail:\nSeaBIOS/.test((e as Error).message));
  appendFileSync(qemuLog, 'qemu-system-x86_64: terminating on signal 15\n');
  await assert.rejects(watch(consolePath, { qemuLog: { path: qemuLog, from } }), /no login prompt or boot marker/);
});

test('the marker line ends the watch; the tail reads the last bytes only', async () => {
  const consolePath = join(dir, 'c2.log');
  writeFileSync(consolePath, 'booting\nMIGRATION-BOOT-OK data=1\n');
  assert.equal(await watch(consolePath), 'MIGRATION-BOOT-OK data=1');
  assert.equal(await readTail(consolePath, 10), 'OK data=1\n');
  assert.equal(await readTail(join(dir, 'missing.log'), 10), '');
});
