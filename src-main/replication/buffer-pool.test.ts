import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from './buffer-pool.js';

test('the pool hands buffers back out, keeps at most maxFree, and ignores foreign ones', () => {
  const pool = new BufferPool(1024, 2);
  const a = pool.take(1000);
  const b = pool.take(10);
  const c = pool.take(1024);
  assert.equal(a.length, 1000);
  assert.notEqual(a.buffer, b.buffer);
  pool.give(a.subarray(3, 7));
  pool.give(b);
  pool.give(c);
  assert.equal(pool.idle, 2, 'no more than maxFree are kept');
  pool.give(Buffer.alloc(1024));
  pool.give(b);
  assert.equal(pool.idle, 2, 'foreign buffers and second returns are ignored');
  const again = pool.take(512);
  assert.ok(again.buffer === b.buffer || again.buffer === a.buffer, 'a returned buffer is reused');
  assert.equal(pool.take(4096).length, 4096, 'larger than a slot: allocated, not pooled');
});
