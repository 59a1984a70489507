import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { xxh64 } from '@node-rs/xxhash';
import { xxh64Js } from './xxh64-js.js';

test('the pure-JS xxh64 equals the native one at every tail length', () => {
  for (let n = 0; n <= 80; n++) {
    const data = randomBytes(n);
    assert.equal(xxh64Js(data), xxh64(data), `length ${n}`);
  }
  const big = randomBytes(1024 * 1024 + 13);
  assert.equal(xxh64Js(big), xxh64(big));
  assert.equal(xxh64Js(big.subarray(7, 70_007)), xxh64(big.subarray(7, 70_007)), 'views at an offset');
});
