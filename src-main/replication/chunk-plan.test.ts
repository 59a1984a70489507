import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHUNK_SIZE, ChunkAction, chunkCount, chunkLength, chunksTouching, formatMiB, mergeRanges, planChunks, plannedBytes } from './chunk-plan.js';

const MiB = 1024 * 1024;

test('chunk grid covers the disk, the last chunk may be short', () => {
  assert.equal(chunkCount(0), 0);
  assert.equal(chunkCount(CHUNK_SIZE), 1);
  assert.equal(chunkCount(CHUNK_SIZE + 1), 2);
  assert.equal(chunkLength(0, 10 * MiB), CHUNK_SIZE);
  assert.equal(chunkLength(2, 10 * MiB), 2 * MiB);
  assert.equal(chunkLength(3, 10 * MiB), 0);
});

test('mergeRanges sorts, clips, drops empty and merges touching ranges', () => {
  const merged = mergeRanges(
    [
      { offset: 100, length: 50 },
      { offset: 0, length: 10 },
      { offset: 10, length: 5 },
      { offset: 120, length: 100 },
      { offset: 500, length: 0 },
      { offset: 900, length: 500 },
      { offset: -5, length: 3 },
    ],
    1000,
  );
  assert.deepEqual(merged, [
    { offset: 0, length: 15 },
    { offset: 100, length: 120 },
    { offset: 900, length: 100 },
  ]);
});

test('chunksTouching marks every chunk a range overlaps, even by one byte', () => {
  const size = 5 * CHUNK_SIZE;
  const mask = chunksTouching(
    [
      { offset: CHUNK_SIZE - 1, length: 2 },
      { offset: 4 * CHUNK_SIZE, length: 1 },
    ],
    size,
  );
  assert.deepEqual([...mask], [1, 1, 0, 0, 1]);
});

test('planChunks: null areas read everything', () => {
  const plan = planChunks({ diskSize: 3 * CHUNK_SIZE, chunkSize: CHUNK_SIZE, mode: 'incremental', areas: null, targetMayHoldData: () => false });
  assert.deepEqual([...plan], [ChunkAction.Read, ChunkAction.Read, ChunkAction.Read]);
});

test('planChunks: full sync zero-fills unallocated chunks only where the target may hold data', () => {
  const plan = planChunks({
    diskSize: 4 * CHUNK_SIZE,
    chunkSize: CHUNK_SIZE,
    mode: 'full',
    areas: [{ offset: CHUNK_SIZE, length: 10 }],
    targetMayHoldData: (i) => i === 3,
  });
  assert.deepEqual([...plan], [ChunkAction.None, ChunkAction.Read, ChunkAction.None, ChunkAction.Zero]);
  assert.equal(plannedBytes(plan, 4 * CHUNK_SIZE), 2 * CHUNK_SIZE);
});

test('planChunks: incremental areas leave the unchanged rest alone', () => {
  const plan = planChunks({
    diskSize: 3 * CHUNK_SIZE,
    chunkSize: CHUNK_SIZE,
    mode: 'incremental',
    areas: [{ offset: 2 * CHUNK_SIZE, length: CHUNK_SIZE }],
    targetMayHoldData: () => true,
  });
  assert.deepEqual([...plan], [ChunkAction.None, ChunkAction.None, ChunkAction.Read]);
});

test('formatMiB shows one decimal', () => {
  assert.equal(formatMiB(64 * MiB), '64.0MB');
  assert.equal(formatMiB(1.5 * MiB), '1.5MB');
});
