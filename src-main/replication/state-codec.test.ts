import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkDigest, isAllZero, UNKNOWN_DIGEST, ZERO_DIGEST } from './digest.js';
import { beginRun, clearBit, decodeState, encodeState, freshState, getBit, markSuspects, resizeState, setBit } from './state-codec.js';

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
