import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { formatBytes, formatClock, formatRemaining, formatSpeed, formatTimestamp, snapshotName } from './units.js';

test('seed shapes for detail_data', () => {
  assert.equal(formatBytes(512 * 1024 * 1024), '512MB');
  assert.equal(formatBytes(252 * 1024 * 1024), '252MB');
  assert.equal(formatBytes(1.5 * 1024 ** 3), '1.5GB');
  assert.equal(formatSpeed(1_750_000), '14Mbps');
  assert.equal(formatRemaining(139), '2Minute(s)19Sec(s)');
  assert.equal(formatClock(139), '0:2:19');
  assert.equal(formatTimestamp(Date.UTC(2019, 5, 27, 11, 5, 47, 123)), '2019-06-27T11:05:47Z');
  assert.equal(snapshotName(new Date(2020, 0, 2, 11, 0, 11).getTime()), 'HyperMotion-20200102T110011');
});

test("snapshot names use the engine's local time, as seed 000's example (03:00:10Z → …T110011 at UTC+8)", () => {
  const script = `import('./src-shared/units.ts').then((u) => process.stdout.write(u.snapshotName(Date.UTC(2020, 0, 2, 3, 0, 11))))`;
  const inZone = (tz: string) => execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { env: { ...process.env, TZ: tz }, encoding: 'utf8' });
  assert.equal(inZone('Asia/Shanghai'), 'HyperMotion-20200102T110011');
  assert.equal(inZone('UTC'), 'HyperMotion-20200102T030011');
});
