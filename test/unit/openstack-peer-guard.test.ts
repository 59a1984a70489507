// The OpenStack tests' guard for a missing peer: a skip on a developer machine, a failure in CI
// (CI=true), so CI never passes without having tested OpenStack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inCi, skipOrFail } from '../peers/openstack.js';

function recorder() {
  const skipped: (string | undefined)[] = [];
  return { skipped, t: { skip: (m?: string) => void skipped.push(m) } };
}

test('OpenStack peer guard: outside CI a missing peer skips with the reason', () => {
  const { skipped, t } = recorder();
  skipOrFail(t, 'the OpenStack peer needs root', {});
  assert.deepEqual(skipped, ['the OpenStack peer needs root']);
  assert.equal(inCi({ CI: 'false' }), false);
});

test('OpenStack peer guard: with CI=true a missing peer fails the test, naming why', () => {
  const { skipped, t } = recorder();
  assert.throws(() => skipOrFail(t, 'OpenStack peer cannot start: setup.sh all failed', { CI: 'true' }), /CI=true: the OpenStack tests must run here, but OpenStack peer cannot start: setup\.sh all failed/);
  assert.deepEqual(skipped, []);
  assert.equal(inCi({ CI: '1' }), true);
});
