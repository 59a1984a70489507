import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from './buffer-pool.js';
import { alignedBuffer, alignUp, isAligned } from './aligned.js';

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

test('pooled slots are page-aligned for direct I/O; oversized requests are not pooled', () => {
  const pool = new BufferPool(4 * 1024 * 1024 + 64 * 1024, 1);
  assert.ok(isAligned(pool.take(4 * 1024 * 1024)), 'a slot starts on a page boundary');
  assert.ok(!isAligned(pool.take(8 * 1024 * 1024)), 'an oversized request is a plain buffer');
  assert.ok(!isAligned(Buffer.alloc(4096)), 'heap buffers are not taken for aligned ones');
  assert.ok(!isAligned(alignedBuffer(8192).subarray(1)), 'a view off the page boundary is not aligned');
  assert.equal(alignUp(1), 4096);
  assert.equal(alignUp(8192), 8192);
});
