import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { encodeFrame, FrameReader } from './frame.js';
import { decodeCompare, decodeDigestList, decodeRead, encodeCompare, encodeDigestList, encodeJson, encodeRead, Msg } from './messages.js';
import { RemoteError, WirePeer } from './peer.js';

test('frames survive being cut at every byte', () => {
  const bytes = Buffer.concat([encodeFrame(Msg.Call, 7, Buffer.from('hello')), encodeFrame(Msg.Data, 8, Buffer.alloc(1000, 3))]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const r = new FrameReader();
    const frames = [...r.push(bytes.subarray(0, cut)), ...r.push(bytes.subarray(cut))];
    assert.equal(frames.length, 2);
    assert.deepEqual([frames[0]!.type, frames[0]!.id, frames[0]!.payload.toString()], [Msg.Call, 7, 'hello']);
    assert.equal(frames[1]!.payload.length, 1000);
  }
  assert.throws(() => new FrameReader().push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1])), /corrupt frame length/);
});

test('binary payloads round-trip', () => {
  assert.deepEqual(decodeRead(encodeRead({ handle: 3, offset: 2 ** 40 + 4096, length: 4 << 20, zstd: true })), { handle: 3, offset: 2 ** 40 + 4096, length: 4 << 20, zstd: true, linkRate: 0 });
  assert.equal(decodeRead(encodeRead({ handle: 3, offset: 0, length: 1, zstd: true, linkRate: 117e6 })).linkRate, 117e6, 'the link rate travels with the request');
  const known = new Map([[0, 0n], [5, 0xffff_ffff_ffff_ffffn], [70_000, 12345678901234567n]]);
  const c = decodeCompare(encodeCompare({ handle: 1, chunkSize: 4 << 20, known }));
  assert.deepEqual([c.handle, c.chunkSize, [...c.known]], [1, 4 << 20, [...known]]);
  assert.deepEqual([...decodeDigestList(encodeDigestList(known))], [...known]);
});

test('a peer matches answers to requests and fails pending ones when the channel closes', async () => {
  const aToB = new PassThrough();
  const bToA = new PassThrough();
  const a = new WirePeer(bToA, aToB);
  const b = new WirePeer(aToB, bToA);
  b.serve(async (f) => {
    if (f.type === Msg.Call && f.payload.toString().includes('boom')) throw new Error('it broke');
    await new Promise((r) => setTimeout(r, f.payload.length % 7));
    return { type: Msg.Result, payload: f.payload };
  });
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => a.call<{ op: string; args: { i: number } }>('echo', { i })));
  assert.deepEqual(answers.map((x) => x.args.i), Array.from({ length: 20 }, (_, i) => i));
  await assert.rejects(a.call('boom'), (err: unknown) => err instanceof RemoteError && /it broke/.test(err.message));
  const pending = a.request(Msg.Call, encodeJson({ op: 'never' }));
  b.serve(() => new Promise(() => undefined));
  bToA.end();
  await assert.rejects(pending, /channel closed/);
  await assert.rejects(a.call('after'), /channel closed/);
});

test('with an allocator, large payloads land in its buffers; transient input is copied out', () => {
  const big = Buffer.alloc(200 * 1024, 9);
  big.writeUInt32BE(0xdeadbeef, 1000);
  const bytes = Buffer.concat([encodeFrame(Msg.Data, 1, Buffer.from('small')), encodeFrame(Msg.Data, 2, big), encodeFrame(Msg.Result, 3, Buffer.from('tail'))]);
  for (const cut of [1, 7, 9, 14, 15, 16 * 1024, 64 * 1024 + 3]) {
    const given: Buffer[] = [];
    const r = new FrameReader((size) => {
      const b = Buffer.alloc(size);
      given.push(b);
      return b;
    });
    const scratch = Buffer.alloc(cut);
    const frames = [];
    for (let at = 0; at < bytes.length; at += cut) {
      // The same scratch buffer every time, overwritten after each push, like a socket's onread buffer.
      const n = bytes.copy(scratch, 0, at, Math.min(bytes.length, at + cut));
      frames.push(...r.push(scratch.subarray(0, n), true));
      scratch.fill(0xee);
    }
    assert.deepEqual(frames.map((f) => [f.type, f.id, f.payload.length]), [[Msg.Data, 1, 5], [Msg.Data, 2, big.length], [Msg.Result, 3, 4]], `cut ${cut}`);
    assert.equal(frames[0]!.payload.toString(), 'small');
    assert.ok(frames[1]!.payload.equals(big), `cut ${cut}`);
    assert.equal(frames[1]!.payload, given[0], 'the large payload is the allocator buffer itself');
    assert.equal(frames[2]!.payload.toString(), 'tail');
  }
});

test("a reply's `sent` callback runs once its parts have been written, after the answer is on its way", async () => {
  const aToB = new PassThrough();
  // A slow reader on the answer side: the callback must wait for the stream, not fire at once.
  const bToA = new PassThrough({ highWaterMark: 1024 });
  const a = new WirePeer(bToA, aToB);
  const b = new WirePeer(aToB, bToA);
  const sent: number[] = [];
  const payload = Buffer.alloc(256 * 1024, 9);
  b.serve(async (f) => ({ type: Msg.Data, payload: [Buffer.from([1]), payload], sent: () => sent.push(f.id) }));
  const frame = await a.request(Msg.Read, encodeRead({ handle: 1, offset: 0, length: payload.length, zstd: false }));
  assert.equal(frame.payload.length, payload.length + 1);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sent, [frame.id]);
});
