/**
 * A disk read through the agent (relay transport): reads at offsets come back over the SSH
 * channel, zstd-compressed when that pays, and `changedChunks` compares digests at the source so
 * unchanged chunks are never read across the link.
 */
import { decompress } from 'zstd-napi';
import type { ByteRange } from '../../core/model.js';
import type { SourceDisk } from '../../core/drivers.js';
import { Codec, decodeDigestList, encodeCompare, encodeRead, Msg } from '../../replication/wire/messages.js';
import type { WirePeer } from '../../replication/wire/peer.js';

/** Chunks compared per request: 64 × 4 MiB = 256 MiB of source reads per round trip. */
const COMPARE_BATCH = 64;

export class RemoteDisk implements SourceDisk {
  constructor(
    readonly index: number,
    readonly sizeBytes: number,
    readonly path: string,
    private readonly handle: number,
    private readonly peer: WirePeer,
    private readonly zstd: boolean,
  ) {}

  /** The whole disk: which chunks hold data or changed is decided by digests at the source. */
  async areas(_signal: AbortSignal): Promise<ByteRange[] | null> {
    return null;
  }

  async read(offset: number, length: number, signal: AbortSignal): Promise<Uint8Array> {
    const frame = await this.peer.request(Msg.Read, encodeRead({ handle: this.handle, offset, length, zstd: this.zstd }), signal);
    const codec = frame.payload.readUInt8(0);
    const body = frame.payload.subarray(1);
    if (codec === Codec.Zero) return Buffer.alloc(length);
    return codec === Codec.Zstd ? decompress(body) : body;
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
