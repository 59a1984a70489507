/**
 * The chunk digest rule without a hash implementation bound to it, so the agent (which cannot
 * bundle native addons) applies the very same rule with whichever xxh64 it loaded.
 */

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
 * The chunk digest function over a given xxh64. A real xxh64 that happens to equal a reserved
 * value is moved next to it: a 2^-64 chance of a false "unchanged", like any other collision.
 */
export function makeChunkDigest(xxh64: (data: Uint8Array) => bigint): (data: Uint8Array) => bigint {
  return (data) => {
    if (isAllZero(data)) return ZERO_DIGEST;
    const h = xxh64(data);
    if (h === ZERO_DIGEST) return 1n;
    if (h === UNKNOWN_DIGEST) return UNKNOWN_DIGEST - 1n;
    return h;
  };
}
