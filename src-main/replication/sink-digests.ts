/**
 * Chunk digests of what a sink holds, for sinks that read their own storage (a file, an NBD
 * export, an SFTP file): two buffers reused for every range, the next range read while this one
 * is hashed, so verification allocates nothing per chunk.
 */
import type { ByteRange } from '../core/model.js';
import { chunkDigest } from './digest.js';

/** `readInto(buf, offset)` fills all of `buf` from `offset` and resolves with it. */
export async function digestsByReading(ranges: readonly ByteRange[], readInto: (buf: Buffer, offset: number) => Promise<Buffer>, signal: AbortSignal): Promise<bigint[]> {
  const size = ranges.reduce((max, r) => Math.max(max, r.length), 0);
  const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
  const readAt = (k: number) => readInto(buffers[k % 2]!.subarray(0, ranges[k]!.length), ranges[k]!.offset);
  const out: bigint[] = [];
  let next: Promise<Buffer> | null = ranges.length > 0 ? readAt(0) : null;
  try {
    for (let k = 0; k < ranges.length; k++) {
      signal.throwIfAborted();
      const data = await next!;
      next = k + 1 < ranges.length ? readAt(k + 1) : null;
      out.push(chunkDigest(data));
    }
  } finally {
    // A read still in flight after a failure must land before its buffer is let go.
    await next?.catch(() => undefined);
  }
  return out;
}
