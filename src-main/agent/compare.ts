/**
 * Digest comparison at the source with reads overlapped: a few chunk reads run on libuv's pool
 * while the previous chunk is hashed, instead of one blocking read after another. An incremental
 * sync of a disk that barely changed is exactly this loop over the whole disk.
 */
import { ZERO_DIGEST } from '../replication/digest-core.js';
import { Codec, type CompareRequest } from '../replication/wire/messages.js';
import type { ChunkRead, DiskTable } from './disks.js';

/** Chunk reads in flight per comparison. */
const IN_FLIGHT = 3;

/** Chunks whose digest differs from the one the target holds, with their current digest. */
export async function compareChunks(disks: DiskTable, diskSize: number, digest: (data: Uint8Array) => bigint, r: CompareRequest): Promise<Map<number, bigint>> {
  const entries = [...r.known];
  const changed = new Map<number, bigint>();
  const readAt = (index: number) => {
    const offset = index * r.chunkSize;
    const length = Math.max(0, Math.min(r.chunkSize, diskSize - offset));
    // The table's read tells an all-zero chunk apart already (the digest rule's zero value).
    return disks.read({ handle: r.handle, offset, length, zstd: false });
  };
  const reads: Promise<ChunkRead>[] = [];
  try {
    for (let k = 0; k < entries.length; k++) {
      for (let j = k; j < Math.min(entries.length, k + IN_FLIGHT); j++) {
        if (reads[j] === undefined) {
          reads[j] = readAt(entries[j]![0]);
          reads[j]!.catch(() => undefined);
        }
      }
      const { codec, data, release } = await reads[k]!;
      delete reads[k];
      const [index, known] = entries[k]!;
      const now = codec === Codec.Zero ? ZERO_DIGEST : digest(data);
      release();
      if (now !== known) changed.set(index, now);
    }
  } finally {
    // Reads still in flight after a failure: their buffers go back once they land.
    for (const settled of await Promise.allSettled(reads.filter((p) => p !== undefined))) if (settled.status === 'fulfilled') settled.value.release();
  }
  return changed;
}
