import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BOOT_STATUSES, HOST_STATUSES, SNAPSHOT_STATUSES, TARGET_STATUSES } from '../../src-shared/states.js';
import { RehostError } from '../../src-shared/errors.js';
import { BOOT_MACHINE, HOST_MACHINE, SNAPSHOT_MACHINE, TARGET_MACHINE, assertTransition, canTransition, hostFlags } from './state-machines.js';
import { DEFAULT_STRATEGY } from './hosts.js';

test('every state of the seed enums is in its machine, and every edge stays inside the enum', () => {
  for (const [machine, states] of [
    [HOST_MACHINE, HOST_STATUSES],
    [BOOT_MACHINE, BOOT_STATUSES],
    [TARGET_MACHINE, TARGET_STATUSES],
    [SNAPSHOT_MACHINE, SNAPSHOT_STATUSES],
  ] as const) {
    assert.deepEqual(Object.keys(machine).sort(), [...states].sort());
    for (const targets of Object.values(machine) as string[][]) for (const t of targets) assert.ok((states as readonly string[]).includes(t), t);
  }
  assert.equal(HOST_STATUSES.length, 10);
  assert.equal(BOOT_STATUSES.length, 4);
  assert.equal(TARGET_STATUSES.length, 7);
  assert.equal(SNAPSHOT_STATUSES.length, 3);
});

test('h_host_status edges follow the seed diagram', () => {
  const allowed: [string, string][] = [
    ['host_register_done', 'sync_doing'],
    ['host_register_done', 'host_unregister_doing'],
    ['sync_doing', 'sync_failed'],
    ['sync_failed', 'sync_doing'],
    ['sync_failed', 'clean_doing'],
    ['sync_doing', 'sync_snapshot_done'],
    ['sync_snapshot_done', 'clean_doing'],
    ['sync_snapshot_done', 'sync_doing'],
    ['clean_doing', 'clean_failed'],
    ['clean_failed', 'clean_doing'],
    ['clean_doing', 'clean_done'],
    ['clean_done', 'host_unregister_doing'],
    ['host_unregister_doing', 'host_unregister_failed'],
    ['host_unregister_failed', 'host_unregister_doing'],
    ['host_unregister_doing', 'host_unregister_done'],
  ];
  let edges = 0;
  for (const targets of Object.values(HOST_MACHINE)) edges += targets.length;
  assert.equal(edges, allowed.length);
  for (const [from, to] of allowed) assert.ok(canTransition(HOST_MACHINE, from as never, to as never), `${from} → ${to}`);
  for (const [from, to] of [
    ['host_register_done', 'sync_snapshot_done'],
    ['sync_doing', 'clean_doing'],
    ['host_unregister_done', 'host_register_done'],
    ['clean_done', 'sync_doing'],
  ]) {
    assert.equal(canTransition(HOST_MACHINE, from as never, to as never), false, `${from} → ${to}`);
  }
});

test('a refused transition is a 409 naming both states', () => {
  assert.throws(
    () => assertTransition(BOOT_MACHINE, 'boot', 'not_boot', 'boot_done', 'h1'),
    (err: unknown) => err instanceof RehostError && err.status === 409 && /not_boot/.test(err.message) && /boot_done/.test(err.message),
  );
});

test('flags come from the states', () => {
  const base = { status: 'host_register_done', bootStatus: 'not_boot', step: '1', targetId: null, syncStrategy: DEFAULT_STRATEGY } as const;
  let f = hostFlags(base, false);
  assert.equal(f.isSync, false, 'no platform yet');
  assert.equal(f.isClean, true, 'a registered host can be cleaned (unregistered)');
  f = hostFlags({ ...base, step: '2', targetId: 't' }, false);
  assert.equal(f.isSync, true);
  assert.equal(f.isNextStep, false);
  f = hostFlags({ ...base, status: 'sync_doing', step: '2', targetId: 't' }, false);
  assert.deepEqual([f.isSync, f.isClean, f.isDoing, f.isStopSync], [false, false, true, true]);
  f = hostFlags({ ...base, status: 'sync_snapshot_done', step: '2', targetId: 't' }, true);
  assert.deepEqual([f.isSync, f.isClean, f.isNextStep, f.isDoing], [true, true, true, false]);
  f = hostFlags({ ...base, status: 'sync_snapshot_done', bootStatus: 'boot_doing', step: '4', targetId: 't' }, true);
  assert.deepEqual([f.isSync, f.isClean, f.isNextStep, f.isDoing], [false, false, false, true]);
});
