import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RehostError } from '../../src-shared/errors.js';
import { isLinkFailure, withRetry } from './retry.js';

test('a link failure is told apart from an answer of the far end, through wrapped causes', () => {
  const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  const closed = Object.assign(new Error('the replication channel closed'), { code: 'ECHANNELCLOSED' });
  assert.equal(isLinkFailure(reset), true);
  assert.equal(isLinkFailure(closed), true);
  assert.equal(isLinkFailure(new RehostError('UNAVAILABLE', 'the agent on the host stopped')), true);
  assert.equal(isLinkFailure(new RehostError('DRIVER', 'writing failed: channel closed', {}, { cause: closed })), true);
  assert.equal(isLinkFailure(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })), false);
  assert.equal(isLinkFailure(new Error('reading the disk /dev/loop3 at offset 0 failed (EIO)')), false);
  assert.equal(isLinkFailure(new RehostError('DRIVER', 'verification failed', {}, { cause: new Error('x') })), false);
  assert.equal(isLinkFailure('ECONNRESET'), false);
});

test('withRetry tells each retry before waiting, doubles the wait, and gives up after its attempts', async () => {
  const told: [number, number][] = [];
  let calls = 0;
  const link = new RehostError('UNAVAILABLE', 'down');
  await assert.rejects(
    withRetry(async () => {
      calls++;
      throw link;
    }, { attempts: 3, delayMs: 5, retryable: isLinkFailure, onRetry: (_err, attempt, delay) => told.push([attempt, delay]) }),
    (err) => err === link,
  );
  assert.equal(calls, 3);
  assert.deepEqual(told, [[1, 5], [2, 10]]);
  // A refusal is not retried at all.
  calls = 0;
  await assert.rejects(withRetry(async () => (calls++, Promise.reject(new RehostError('CONFLICT', 'no'))), { attempts: 3, delayMs: 5, retryable: isLinkFailure }));
  assert.equal(calls, 1);
  assert.equal(await withRetry(async () => (++calls === 3 ? 'ok' : Promise.reject(link)), { attempts: 4, delayMs: 1, retryable: isLinkFailure }), 'ok');
});

test('an abort during the wait ends the retries at once, with no further attempt', async () => {
  const controller = new AbortController();
  let calls = 0;
  const started = Date.now();
  setTimeout(() => controller.abort(new RehostError('CONFLICT', 'sync stopped by user')), 30);
  await assert.rejects(withRetry(async () => (calls++, Promise.reject(new RehostError('UNAVAILABLE', 'down'))), { attempts: 4, delayMs: 5000, retryable: isLinkFailure, signal: controller.signal }), /down/);
  assert.equal(calls, 1);
  assert.ok(Date.now() - started < 2000);
});
