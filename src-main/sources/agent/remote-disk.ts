/**
 * A disk read through the agent, over whichever channel the snapshot uses (the SSH relay or the
 * direct TLS connection), or forwarded by the agent to a sink agent (`forwardTo`, transport direct
 * to a gateway or KVM host): reads at offsets come back zstd-compressed when that pays, and
 * `changedChunks` compares digests at the source so unchanged chunks are never read across the
 * link. Chunks arrive in pooled buffers the replicator gives back through `release`.
 */
import { createRequire } from 'node:module';
import type { ByteRange } from '../../core/model.js';
import type { ChunkForwarder, DiskSink, SourceDisk } from '../../core/drivers.js';
import { DIRECT_ALIGN } from '../../replication/aligned.js';
import { BufferPool } from '../../replication/buffer-pool.js';
import { CHUNK_SIZE } from '../../replication/chunk-plan.js';
import { Codec, decodeDigestList, encodeCompare, encodeRead, Msg } from '../../replication/wire/messages.js';
import type { WirePeer } from '../../replication/wire/peer.js';

/** zstd-napi's native binding (a CommonJS addon): its context decompresses into a given buffer. */
const { DCtx } = createRequire(import.meta.url)('zstd-napi/binding') as typeof import('zstd-napi/binding');
type DCtx = InstanceType<typeof DCtx>;

/** Chunks compared per request: 64 × 4 MiB = 256 MiB of source reads per round trip. */
const COMPARE_BATCH = 64;
/**
 * Pooled chunk buffers kept per channel: the replicator's reads in flight plus the chunk being
 * written, each needing at most a received frame and a decompressed chunk.
 */
const POOL_FREE = 8;
/** Room for a frame's codec byte, its alignment and zstd's worst case on top of a chunk. */
const POOL_SLOT = CHUNK_SIZE + 64 * 1024;

/** One pool and one decompression context per channel (they are used on its thread only). */
const channels = new WeakMap<WirePeer, { pool: BufferPool; dctx: DCtx }>();

function channelOf(peer: WirePeer): { pool: BufferPool; dctx: DCtx } {
  let c = channels.get(peer);
  if (c === undefined) {
    const pool = new BufferPool(POOL_SLOT, POOL_FREE);
    c = { pool, dctx: new DCtx() };
    // A Data payload is `codec | chunk`: placed one byte before a page boundary, a raw chunk lands
    // page-aligned, so a sink writes it with O_DIRECT as it is instead of copying it first.
    peer.useAllocator((size) => pool.take(size + DIRECT_ALIGN - 1).subarray(DIRECT_ALIGN - 1));
    channels.set(peer, c);
  }
  return c;
}

/** Shared all-zero chunks by length: never written to, so one serves every zero answer. */
const zeroChunks = new Map<number, Buffer>();

function zeroChunk(length: number): Buffer {
  let z = zeroChunks.get(length);
  if (z === undefined) {
    z = Buffer.alloc(length);
    if (zeroChunks.size < 4) zeroChunks.set(length, z);
  }
  return z;
}

/** Links a source disk (its handle in the source agent) to a sink, for transport direct to sink agents. */
export type DiskLinker = (disk: { handle: number; zstd: boolean }, sink: DiskSink, signal: AbortSignal) => Promise<ChunkForwarder | null>;

export class RemoteDisk implements SourceDisk {
  private readonly pool: BufferPool;
  private readonly dctx: DCtx;

  constructor(
    readonly index: number,
    readonly sizeBytes: number,
    readonly path: string,
    private readonly handle: number,
    private readonly peer: WirePeer,
    private readonly zstd: boolean,
    /** Transport direct to the target's sink agents: links this disk to a sink (sink-link.ts). */
    private readonly linker: DiskLinker | null = null,
    /** A full sync: only the allocated ranges are worth reading (an incremental one compares digests). */
    private readonly full = false,
  ) {
    ({ pool: this.pool, dctx: this.dctx } = channelOf(peer));
  }

  /**
   * Full sync: the ranges that hold data, where the agent can tell (a file or a loop device: its
   * SEEK_DATA/SEEK_HOLE map), so holes are never read. Otherwise, and for incremental syncs, null:
   * which chunks hold data or changed is decided by digests at the source.
   */
  async areas(signal: AbortSignal): Promise<ByteRange[] | null> {
    if (!this.full) return null;
    const { ranges } = await this.peer.call<{ ranges: [number, number][] | null }>('areas', { handle: this.handle }, signal);
    return ranges === null ? null : ranges.map(([offset, length]) => ({ offset, length }));
  }

  async read(offset: number, length: number, signal: AbortSignal): Promise<Uint8Array> {
    const frame = await this.peer.request(Msg.Read, encodeRead({ handle: this.handle, offset, length, zstd: this.zstd, linkRate: this.peer.receiveRate ?? 0 }), signal);
    const codec = frame.payload.readUInt8(0);
    const body = frame.payload.subarray(1);
    if (codec === Codec.Raw) return body;
    if (codec === Codec.Zero) {
      this.pool.give(frame.payload);
      return zeroChunk(length);
    }
    if (codec !== Codec.Zstd) throw new Error(`the agent answered a read with unknown codec ${codec}`);
    const out = this.pool.take(length);
    try {
      const n = this.dctx.decompress(out, body);
      if (n !== length) throw new Error(`a compressed chunk at offset ${offset} holds ${n} bytes, not ${length}`);
    } finally {
      // Given back only now: the pool could otherwise hand the same buffer out as `out`.
      this.pool.give(frame.payload);
    }
    return out;
  }

  /** Null for relay and for direct to the engine: the data then comes through `read`. */
  async forwardTo(sink: DiskSink, signal: AbortSignal): Promise<ChunkForwarder | null> {
    return this.linker === null ? null : this.linker({ handle: this.handle, zstd: this.zstd }, sink, signal);
  }

  release(data: Uint8Array): void {
    this.pool.give(data);
  }

  async changedChunks(known: ReadonlyMap<number, bigint>, chunkSize: number, signal: AbortSignal): Promise<Map<number, bigint>> {
    const out = new Map<number, bigint>();
    const entries = [...known];
    for (let at = 0; at < entries.length; at += COMPARE_BATCH) {
      const batch = new Map(entries.slice(at, at + COMPARE_BATCH));
      const frame = await this.peer.request(Msg.Compare, encodeCompare({ handle: this.handle, chunkSize, known: batch }), signal);
      for (const [i, d] of decodeDigestList(frame.payload)) out.set(i, d);
    }
    return out;
  }

  marker(): string | null {
    return null;
  }

  async close(): Promise<void> {
    if (this.peer.closed === null) await this.peer.call('close', { handle: this.handle }).catch(() => undefined);
  }
}
