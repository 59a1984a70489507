/**
 * Chunk digests: xxh64 (fast, non-cryptographic: it detects change, it does not defend against an
 * adversary who controls both ends) with two reserved values so one 8-byte entry per chunk also
 * says "all zeros" and "unknown". The rule itself lives in digest-core.ts (shared with the agent).
 */
import { xxh64 } from '@node-rs/xxhash';
import { makeChunkDigest } from './digest-core.js';

export { isAllZero, UNKNOWN_DIGEST, ZERO_DIGEST } from './digest-core.js';

/** The digest of a chunk's bytes (native xxh64). */
export const chunkDigest: (data: Uint8Array) => bigint = makeChunkDigest((data) => xxh64(data));

/** One digest over a whole digest list: "the disk as the target holds it", for logs and reports. */
export function diskDigest(digests: BigUint64Array): string {
  const bytes = new Uint8Array(digests.buffer, digests.byteOffset, digests.byteLength);
  return xxh64(bytes).toString(16).padStart(16, '0');
}
