/**
 * Chunk digests: xxh64 (fast, non-cryptographic: it detects change, it does not defend against an
 * adversary who controls both ends) with two reserved values so one 8-byte entry per chunk also
 * says "all zeros" and "unknown".
 */
import { xxh64 } from '@node-rs/xxhash';

/** The chunk holds only zero bytes (a fresh sparse volume holds this everywhere). */
export const ZERO_DIGEST = 0n;
/** Nobody knows what the target holds there (an interrupted write, lost state): always rewrite. */
export const UNKNOWN_DIGEST = 0xffff_ffff_ffff_ffffn;

/** Compared against with memcmp (Buffer.equals), far faster than a JavaScript loop over 4 MiB. */
const ZEROS = Buffer.alloc(64 * 1024);

/** True when every byte is zero. */
export function isAllZero(data: Uint8Array): boolean {
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let at = 0; at < view.length; at += ZEROS.length) {
    const part = view.subarray(at, Math.min(view.length, at + ZEROS.length));
    if (!part.equals(ZEROS.subarray(0, part.length))) return false;
  }
  return true;
}

/**
 * The digest of a chunk's bytes. A real xxh64 that happens to equal a reserved value is moved
 * next to it: a 2^-64 chance of a false "unchanged", the same as any other collision.
 */
export function chunkDigest(data: Uint8Array): bigint {
  if (isAllZero(data)) return ZERO_DIGEST;
  const h = xxh64(data);
  if (h === ZERO_DIGEST) return 1n;
  if (h === UNKNOWN_DIGEST) return UNKNOWN_DIGEST - 1n;
  return h;
}

/** One digest over a whole digest list: "the disk as the target holds it", for logs and reports. */
export function diskDigest(digests: BigUint64Array): string {
  const bytes = new Uint8Array(digests.buffer, digests.byteOffset, digests.byteLength);
  return xxh64(bytes).toString(16).padStart(16, '0');
}
