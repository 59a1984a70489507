import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Host, SyncStrategy } from './model.js';
import { currentSlot, isDue } from './scheduler.js';

const base: SyncStrategy = { doSnapshot: true, autoTrigger: true, interval: 2, intervalUnit: '1', quota: 3, startTime: 1_000_000 };
const MIN = 60_000;

test('slots start at snapshot_start_time and repeat every interval × unit', () => {
  assert.equal(currentSlot(base, 999_999), null, 'before the start time');
  assert.equal(currentSlot(base, 1_000_000), 1_000_000);
  assert.equal(currentSlot(base, 1_000_000 + 2 * MIN - 1), 1_000_000);
  assert.equal(currentSlot(base, 1_000_000 + 5 * MIN), 1_000_000 + 4 * MIN);
  assert.equal(currentSlot({ ...base, intervalUnit: '2', interval: 1 }, 1_000_000 + 3 * 3_600_000 + 5), 1_000_000 + 3 * 3_600_000);
  assert.equal(currentSlot({ ...base, intervalUnit: '3', interval: 1 }, 1_000_000 + 86_400_000), 1_000_000 + 86_400_000);
  assert.equal(currentSlot({ ...base, autoTrigger: false }, 2_000_000), null, 'schedule off');
  assert.equal(currentSlot({ ...base, startTime: null }, 2_000_000), null);
});

test('a slot is due until a sync finished at or after it began', () => {
  const host = { lastSyncAt: null } as Host;
  assert.equal(isDue(host, 5), true);
  assert.equal(isDue({ ...host, lastSyncAt: 4 }, 5), true);
  assert.equal(isDue({ ...host, lastSyncAt: 5 }, 5), false);
  assert.equal(isDue({ ...host, lastSyncAt: 9 }, 5), false);
});
