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
  /** u32 handle | f64 offset | u8 codec | bytes → Result | Fail (sink role). */
  Write: 9,
} as const;

/** How a chunk's bytes travel. */
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
  const head = Buffer.allocUnsafe(13);
  head.writeUInt32BE(r.handle, 0);
  head.writeDoubleBE(r.offset, 4);
  head.writeUInt8(r.codec, 12);
  return Buffer.concat([head, r.data]);
}

export function decodeWrite(b: Buffer): WriteRequest {
  return { handle: b.readUInt32BE(0), offset: b.readDoubleBE(4), codec: b.readUInt8(12), data: b.subarray(13) };
}

/** Data payload: `u8 codec | bytes`, as parts so the chunk is not copied. */
export function encodeData(codec: number, data: Uint8Array): Uint8Array[] {
  return [Buffer.from([codec]), data];
}
