import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mbpsToBytesPerSecond, throttleFor, TokenBucket, UNLIMITED } from './throttle.js';

test('Mbps are megabits', () => {
  assert.equal(mbpsToBytesPerSecond(8), 1_000_000);
  assert.equal(throttleFor(null), UNLIMITED);
  assert.equal(throttleFor(0), UNLIMITED);
  assert.ok(throttleFor(10) instanceof TokenBucket);
});

test('token bucket holds the rate over many small takes', async () => {
  const rate = 2_000_000;
  const bucket = new TokenBucket(rate);
  const signal = new AbortController().signal;
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < 1000) {
    await bucket.take(64 * 1024, signal);
    sent += 64 * 1024;
  }
  const seconds = (performance.now() - started) / 1000;
  const achieved = sent / seconds;
  assert.ok(Math.abs(achieved - rate) / rate < 0.1, `achieved ${achieved} B/s for a limit of ${rate}`);
});

test('token bucket wait is abortable', async () => {
  const bucket = new TokenBucket(1000);
  const controller = new AbortController();
  const pending = bucket.take(1_000_000, controller.signal);
  controller.abort();
  await assert.rejects(pending, { name: 'AbortError' });
});
