/**
 * Message types and payload codecs of the replication wire protocol. Control messages are JSON;
 * the hot ones (reads, writes, digest comparisons) are binary so a 4 MiB chunk is never copied
 * into a string. Version 1.
 */
export const PROTOCOL_VERSION = 1;

export const Msg = {
  /** agent → engine, once, id 0: {@link Hello}. */
  Hello: 1,
  /** JSON `{op, args}` → Result | Fail. */
  Call: 2,
  Result: 3,
  /** JSON `{message}`: the request failed. */
  Fail: 4,
  /** {@link ReadRequest} → Data | Fail. */
  Read: 5,
  /** u8 codec | bytes. */
  Data: 6,
  /** {@link CompareRequest} → Changed | Fail. */
  Compare: 7,
  /** u32 count | count × (u32 index, u64 digest). */
  Changed: 8,
  /** u32 handle | f64 offset | u8 codec | bytes → Result | Fail (sink role). `Zero`: bytes = u32 length. */
  Write: 9,
  /** {@link ForwardRequest} → Forwarded | Fail (source role, over a link to a sink agent). */
  Forward: 10,
  /** {@link ForwardAnswer}. */
  Forwarded: 11,
} as const;

/** How a chunk's bytes travel; `Zero` carries no bytes: the range is all zeros. */
export const Codec = { Raw: 0, Zstd: 1, Zero: 2 } as const;

export interface Hello {
  version: number;
  role: 'source' | 'sink';
  pid: number;
  node: string;
  /** `native` (the xxhash addon loaded) or `js` (the pure-JS fallback): both give xxh64. */
  digest: 'native' | 'js';
  /** Codecs the agent can compress with. */
  codecs: string[];
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export function decodeJson<T>(payload: Buffer): T {
  return JSON.parse(payload.toString('utf8')) as T;
}

export interface ReadRequest {
  handle: number;
  offset: number;
  length: number;
  /** The engine accepts zstd-compressed answers. */
  zstd: boolean;
  /**
   * Bytes per second at which chunks reach the engine over this channel (0 = not measured yet):
   * the agent compresses only when its compressor outpaces that, i.e. where compression pays.
   */
  linkRate?: number;
}

/** `u32 handle | f64 offset | u32 length | u8 zstd | f64 linkRate`. */
export function encodeRead(r: ReadRequest): Buffer {
  const b = Buffer.allocUnsafe(25);
  b.writeUInt32BE(r.handle, 0);
  b.writeDoubleBE(r.offset, 4);
  b.writeUInt32BE(r.length, 12);
  b.writeUInt8(r.zstd ? 1 : 0, 16);
  b.writeDoubleBE(r.linkRate ?? 0, 17);
  return b;
}

export function decodeRead(b: Buffer): ReadRequest {
  const linkRate = b.length >= 25 ? b.readDoubleBE(17) : 0;
  return { handle: b.readUInt32BE(0), offset: b.readDoubleBE(4), length: b.readUInt32BE(12), zstd: b.readUInt8(16) === 1, linkRate: Number.isFinite(linkRate) && linkRate > 0 ? linkRate : 0 };
}

export interface CompareRequest {
  handle: number;
  chunkSize: number;
  /** Chunk index → the digest the target holds. */
  known: Map<number, bigint>;
}

export function encodeCompare(r: CompareRequest): Buffer {
  const b = Buffer.allocUnsafe(12 + r.known.size * 12);
  b.writeUInt32BE(r.handle, 0);
  b.writeUInt32BE(r.chunkSize, 4);
  b.writeUInt32BE(r.known.size, 8);
  let at = 12;
  for (const [index, digest] of r.known) {
    b.writeUInt32BE(index, at);
    b.writeBigUInt64BE(digest, at + 4);
    at += 12;
  }
  return b;
}

export function decodeCompare(b: Buffer): CompareRequest {
  return { handle: b.readUInt32BE(0), chunkSize: b.readUInt32BE(4), known: decodeDigestList(b.subarray(8)) };
}

/** `u32 count | count × (u32 index, u64 digest)`: the Changed payload and Compare's tail. */
export function encodeDigestList(digests: Map<number, bigint>): Buffer {
  const b = Buffer.allocUnsafe(4 + digests.size * 12);
  b.writeUInt32BE(digests.size, 0);
  let at = 4;
  for (const [index, digest] of digests) {
    b.writeUInt32BE(index, at);
    b.writeBigUInt64BE(digest, at + 4);
    at += 12;
  }
  return b;
}

export function decodeDigestList(b: Buffer): Map<number, bigint> {
  const count = b.readUInt32BE(0);
  if (b.length < 4 + count * 12) throw new Error(`digest list of ${count} entries is truncated`);
  const out = new Map<number, bigint>();
  for (let i = 0, at = 4; i < count; i++, at += 12) out.set(b.readUInt32BE(at), b.readBigUInt64BE(at + 4));
  return out;
}

export interface WriteRequest {
  handle: number;
  offset: number;
  codec: number;
  data: Buffer;
}

export function encodeWrite(r: WriteRequest): Buffer {
  return Buffer.concat(encodeWriteParts(r));
}

/** A Write payload as parts, so a chunk is sent without being copied into the frame. */
export function encodeWriteParts(r: WriteRequest): Uint8Array[] {
  const head = Buffer.allocUnsafe(13);
  head.writeUInt32BE(r.handle, 0);
  head.writeDoubleBE(r.offset, 4);
  head.writeUInt8(r.codec, 12);
  return [head, r.data];
}

export function decodeWrite(b: Buffer): WriteRequest {
  return { handle: b.readUInt32BE(0), offset: b.readDoubleBE(4), codec: b.readUInt8(12), data: b.subarray(13) };
}

/** Data payload: `u8 codec | bytes`, as parts so the chunk is not copied. */
export function encodeData(codec: number, data: Uint8Array): Uint8Array[] {
  return [Buffer.from([codec]), data];
}

/** The payload of a Zero write: the length of the zero range. */
export function encodeZeroLength(length: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(length, 0);
  return b;
}

/**
 * Transport direct to a sink agent: the engine asks the source agent to read a chunk, hash it,
 * and unless the target already holds it (`held`), write it to the sink agent over their link.
 */
export interface ForwardRequest {
  /** The link to the sink agent (the `link` call's answer). */
  link: number;
  /** The source disk handle. */
  handle: number;
  offset: number;
  length: number;
  /** The volume's handle in the sink agent. */
  sinkHandle: number;
  /** The digest the target holds for this chunk (replication's rule). */
  held: bigint;
  /** The engine allows zstd on the link (the sink agent must also have it). */
  zstd: boolean;
  /** The chunk is known to be all zeros: write zeros without reading it. */
  zero: boolean;
}

export function encodeForward(r: ForwardRequest): Buffer {
  const b = Buffer.allocUnsafe(33);
  b.writeUInt32BE(r.link, 0);
  b.writeUInt32BE(r.handle, 4);
  b.writeDoubleBE(r.offset, 8);
  b.writeUInt32BE(r.length, 16);
  b.writeUInt32BE(r.sinkHandle, 20);
  b.writeBigUInt64BE(r.held, 24);
  b.writeUInt8((r.zstd ? 1 : 0) | (r.zero ? 2 : 0), 32);
  return b;
}

export function decodeForward(b: Buffer): ForwardRequest {
  const flags = b.readUInt8(32);
  return {
    link: b.readUInt32BE(0),
    handle: b.readUInt32BE(4),
    offset: b.readDoubleBE(8),
    length: b.readUInt32BE(16),
    sinkHandle: b.readUInt32BE(20),
    held: b.readBigUInt64BE(24),
    zstd: (flags & 1) !== 0,
    zero: (flags & 2) !== 0,
  };
}

/** What a forwarded chunk gave: its digest, whether it was written, and its bytes on the link. */
export interface ForwardAnswer {
  digest: bigint;
  /** False: the digest equals `held`, nothing was sent. */
  written: boolean;
  /** Bytes of the write frame sent to the sink agent (compressed size, headers included). */
  linkBytes: number;
}

export function encodeForwarded(a: ForwardAnswer): Buffer {
  const b = Buffer.allocUnsafe(13);
  b.writeUInt8(a.written ? 1 : 0, 0);
  b.writeBigUInt64BE(a.digest, 1);
  b.writeUInt32BE(a.linkBytes, 9);
  return b;
}

export function decodeForwarded(b: Buffer): ForwardAnswer {
  return { written: b.readUInt8(0) === 1, digest: b.readBigUInt64BE(1), linkBytes: b.readUInt32BE(9) };
}
