import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatClock, formatRemaining, formatSpeed, formatTimestamp, snapshotName } from './units.js';

test('seed shapes for detail_data', () => {
  assert.equal(formatBytes(512 * 1024 * 1024), '512MB');
  assert.equal(formatBytes(252 * 1024 * 1024), '252MB');
  assert.equal(formatBytes(1.5 * 1024 ** 3), '1.5GB');
  assert.equal(formatSpeed(1_750_000), '14Mbps');
  assert.equal(formatRemaining(139), '2Minute(s)19Sec(s)');
  assert.equal(formatClock(139), '0:2:19');
  assert.equal(formatTimestamp(Date.UTC(2019, 5, 27, 11, 5, 47, 123)), '2019-06-27T11:05:47Z');
  assert.equal(snapshotName(Date.UTC(2020, 0, 2, 11, 0, 11)), 'HyperMotion-20200102T110011');
});
