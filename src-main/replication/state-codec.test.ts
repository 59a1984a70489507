import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkDigest, isAllZero, UNKNOWN_DIGEST, ZERO_DIGEST } from './digest.js';
import { beginRun, checkpointView, clearBit, decodeState, encodeState, freshState, getBit, markSuspects, resizeState, setBit } from './state-codec.js';

const CS = 1024;

test('digests: zero chunks get the zero value, data gets xxh64, reserved values never collide', () => {
  assert.equal(isAllZero(new Uint8Array(10_000)), true);
  const data = new Uint8Array(10_000);
  data[9_999] = 1;
  assert.equal(isAllZero(data), false);
  assert.equal(isAllZero(data.subarray(3, 50)), true);
  assert.equal(chunkDigest(new Uint8Array(64)), ZERO_DIGEST);
  const d = chunkDigest(data);
  assert.notEqual(d, ZERO_DIGEST);
  assert.notEqual(d, UNKNOWN_DIGEST);
  assert.equal(chunkDigest(Uint8Array.from(data)), d);
});

test('state round-trips through the binary form', () => {
  const state = freshState(10 * CS + 5, CS, ZERO_DIGEST);
  state.digests[3] = 0x1234_5678_9abc_def0n;
  state.digests[10] = UNKNOWN_DIGEST;
  beginRun(state, { id: 'run-1', fingerprint: 'fp', cursor: 4, writeLimit: 9 });
  setBit(state.done, 2);
  setBit(state.written, 10);
  const back = decodeState(encodeState(state));
  assert.equal(back.digests.length, 11);
  assert.equal(back.digests[3], 0x1234_5678_9abc_def0n);
  assert.equal(back.digests[10], UNKNOWN_DIGEST);
  assert.deepEqual(back.run, { id: 'run-1', fingerprint: 'fp', cursor: 4, writeLimit: 9 });
  assert.equal(getBit(back.done, 2), true);
  assert.equal(getBit(back.done, 3), false);
  assert.equal(getBit(back.written, 10), true);
  clearBit(back.done, 2);
  assert.equal(getBit(back.done, 2), false);
});

test('a damaged state file is rejected', () => {
  const buf = encodeState(freshState(4 * CS, CS, ZERO_DIGEST));
  buf.writeUInt8(buf.readUInt8(buf.length - 20) ^ 0xff, buf.length - 20);
  assert.throws(() => decodeState(buf), /checksum/);
  assert.throws(() => decodeState(Buffer.from('garbage')), /not a replication state/);
});

test('markSuspects: chunks between the cursor and the write limit that are not done become unknown', () => {
  const state = freshState(8 * CS, CS, 7n);
  beginRun(state, { id: 'r', fingerprint: 'f', cursor: 2, writeLimit: 5 });
  setBit(state.done, 3);
  markSuspects(state);
  assert.deepEqual([...state.digests], [7n, 7n, UNKNOWN_DIGEST, 7n, UNKNOWN_DIGEST, 7n, 7n, 7n]);
});

test('resizeState keeps whole chunks, makes a moved boundary unknown and new chunks zero', () => {
  const state = freshState(2 * CS + 100, CS, 9n);
  const grown = resizeState(state, 4 * CS, ZERO_DIGEST);
  assert.deepEqual([...grown.digests], [9n, 9n, UNKNOWN_DIGEST, ZERO_DIGEST]);
  const aligned = resizeState(freshState(2 * CS, CS, 9n), 3 * CS, ZERO_DIGEST);
  assert.deepEqual([...aligned.digests], [9n, 9n, ZERO_DIGEST]);
  assert.equal(grown.run, null);
});

test('a checkpoint claims no chunk at or past its cursor: written during the flush, they come back suspect', () => {
  const state = freshState(12 * CS, CS, ZERO_DIGEST);
  beginRun(state, { id: 'run-2', fingerprint: 'fp', cursor: 5, writeLimit: 10 });
  // chunks 0..7 written and marked done; 5..7 only after the flush began
  for (let i = 0; i < 8; i++) {
    state.digests[i] = BigInt(100 + i);
    setBit(state.done, i);
  }
  const saved = checkpointView(state, 5);
  assert.equal(getBit(state.done, 6), true, 'the live state is left alone');
  const back = decodeState(encodeState(saved));
  markSuspects(back);
  for (let i = 0; i < 5; i++) assert.equal(back.digests[i], BigInt(100 + i), `chunk ${i} below the cursor is trusted`);
  for (let i = 5; i < 8; i++) assert.equal(back.digests[i], UNKNOWN_DIGEST, `chunk ${i} past the cursor is rewritten`);
  assert.equal(back.digests[10], ZERO_DIGEST, 'past the write limit nothing was written');
});
