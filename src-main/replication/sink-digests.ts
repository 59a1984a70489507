/**
 * Chunk digests of what a sink holds, for sinks that read their own storage (a file, an NBD
 * export): a ring of `depth` page-aligned buffers (a sink may read them with O_DIRECT) reused for every range, the next reads in flight while one
 * range is hashed, so verification allocates nothing per chunk and waits little on the storage.
 */
import type { ByteRange } from '../core/model.js';
import { alignUp } from './aligned.js';
import { BufferPool } from './buffer-pool.js';
import { CHUNK_SIZE } from './chunk-plan.js';
import { chunkDigest } from './digest.js';

/** The rings' buffers, shared by every verification (each batch would otherwise map fresh ones). */
const ringBuffers = new BufferPool(CHUNK_SIZE, 4);

/** `readInto(buf, offset)` fills all of `buf` from `offset` and resolves with it. */
export async function digestsByReading(ranges: readonly ByteRange[], readInto: (buf: Buffer, offset: number) => Promise<Buffer>, signal: AbortSignal, depth = 2): Promise<bigint[]> {
  const size = ranges.reduce((max, r) => Math.max(max, r.length), 0);
  const ring = Array.from({ length: Math.max(1, Math.min(depth, ranges.length)) }, () => ringBuffers.take(alignUp(size)));
  const reads: Promise<Buffer>[] = [];
  const readAt = (k: number) => {
    const read = readInto(ring[k % ring.length]!.subarray(0, ranges[k]!.length), ranges[k]!.offset);
    read.catch(() => undefined);
    reads[k] = read;
  };
  const out: bigint[] = [];
  try {
    for (let k = 0; k < Math.min(ring.length, ranges.length); k++) readAt(k);
    for (let k = 0; k < ranges.length; k++) {
      signal.throwIfAborted();
      out.push(chunkDigest(await reads[k]!));
      delete reads[k];
      // Its buffer is free again: the read that reuses it starts now.
      if (k + ring.length < ranges.length) readAt(k + ring.length);
    }
  } finally {
    // Reads still in flight after a failure must land before their buffers are let go.
    await Promise.allSettled(reads.filter((r) => r !== undefined));
    for (const buf of ring) ringBuffers.give(buf);
  }
  return out;
}
