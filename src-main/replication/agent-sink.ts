/**
 * A DiskSink held by an agent in the sink role (on an OpenStack gateway, on a KVM host): the agent
 * holds the volume open, and writes, reads and fsyncs arrive over the replication wire protocol
 * on its SSH channel. Writes are pipelined: `write()` resolves once the chunk is encoded and
 * handed to the channel (a bounded window of answers may still be outstanding), so link latency
 * does not stall the copy; `flush()` waits for every answer, surfaces any failure, then fsyncs on
 * the agent's host, which is what a checkpoint needs. Chunks travel zstd-compressed when the
 * agent has zstd and it pays.
 */
import { compress, decompress } from 'zstd-napi';
import { RehostError } from '../../src-shared/errors.js';
import type { DirectSinkPort, DiskSink } from '../core/drivers.js';
import type { ByteRange } from '../core/model.js';
import { AgentSinkPort } from './agent-sink-port.js';
import { Codec, encodeRead, encodeWrite, Msg } from './wire/messages.js';
import type { WirePeer } from './wire/peer.js';

/** What the sink needs of a running sink agent (sources/agent/session.ts's AgentSession). */
export interface SinkAgent {
  readonly peer: WirePeer;
  readonly hello: { readonly codecs: readonly string[] };
}

/** Where source agents reach the sink agent's host for transport direct. */
export type DirectAddress = (signal: AbortSignal) => Promise<string>;

/** Writes in flight: 8 × 4 MiB chunks. */
const WINDOW = 8;
/** Compress only when it saves at least this share (else the agent's decode cost buys nothing). */
const MIN_SAVING = 0.1;
/** Bytes compressed first to decide whether a chunk is worth compressing. */
const SAMPLE = 128 * 1024;

export class AgentSink implements DiskSink {
  private readonly inflight = new Set<Promise<unknown>>();
  private failure: Error | null = null;
  private closed = false;
  /** Transport direct (with a direct address): the source agent writes to this volume through the sink agent itself. */
  readonly direct?: DirectSinkPort;

  private constructor(
    private readonly session: SinkAgent,
    private readonly handle: number,
    readonly sizeBytes: number,
    private readonly path: string,
    private readonly blank: boolean,
    private readonly zstd: boolean,
    /** Where the agent runs, for messages ("the gateway", "the KVM host"). */
    private readonly where: string,
    private readonly onClose: () => Promise<void>,
    directAddress: DirectAddress | undefined,
  ) {
    if (directAddress === undefined) return;
    const opener = async () => {
      if (this.closed) throw new RehostError('CONFLICT', `volume device ${this.path} on ${this.where} is closed`);
      return { peer: this.session.peer, handle: this.handle };
    };
    this.direct = new AgentSinkPort(opener, directAddress, `the sink agent on ${this.where}`);
  }

  /**
   * Opens `path` for writing through the agent. `blank`: the volume is known to hold only zeros
   * (Rehost created it and never wrote to it). `onClose` runs after the volume is closed (a
   * caller that started the agent for this sink stops it there). `directAddress`: where source
   * agents reach this sink agent for transport direct (without it the sink takes no direct link).
   * `nbd`: a unix socket on the agent's host where qemu-nbd serves `path` (a qcow2 layer).
   */
  static async open(session: SinkAgent, path: string, expectedBytes: number, blank: boolean, signal: AbortSignal, options: { where?: string; onClose?: () => Promise<void>; directAddress?: DirectAddress; nbd?: string } = {}): Promise<AgentSink> {
    const where = options.where ?? 'the gateway';
    const opened = await session.peer.call<{ handle: number; size: number }>('open', { path, size: expectedBytes, ...(options.nbd === undefined ? {} : { nbd: options.nbd }) }, signal);
    if (opened.size < expectedBytes) {
      await session.peer.call('close', { handle: opened.handle }).catch(() => undefined);
      throw new RehostError('CONFLICT', `the device ${path} on ${where} holds ${opened.size} bytes, less than the volume's ${expectedBytes}: wrong device or volume not extended`);
    }
    return new AgentSink(session, opened.handle, opened.size, path, blank, session.hello.codecs.includes('zstd'), where, options.onClose ?? (async () => undefined), options.directAddress);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check(offset, data.byteLength);
    const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const packed = this.pack(raw);
    // encodeWrite copies the bytes into the frame: the caller may reuse `data` once this returns
    const frame = encodeWrite({ handle: this.handle, offset, codec: packed === null ? Codec.Raw : Codec.Zstd, data: packed ?? raw });
    const answer = this.session.peer.request(Msg.Write, frame).catch((err: unknown) => {
      this.failure ??= new RehostError('DRIVER', `writing ${this.path} on ${this.where} at offset ${offset} failed: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
    });
    this.inflight.add(answer);
    void answer.finally(() => this.inflight.delete(answer));
    while (this.inflight.size >= WINDOW) await Promise.race(this.inflight);
    if (this.failure) throw this.failure;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.check(offset, length);
    await this.settle();
    const frame = await this.session.peer.request(Msg.Read, encodeRead({ handle: this.handle, offset, length, zstd: this.zstd }));
    const codec = frame.payload.readUInt8(0);
    const body = frame.payload.subarray(1);
    if (codec === Codec.Zero) return Buffer.alloc(length);
    return codec === Codec.Zstd ? decompress(body) : body;
  }

  /** Computed by the agent from the volume where it lives: verification moves 8 bytes per chunk. */
  async digests(ranges: readonly ByteRange[], signal: AbortSignal): Promise<bigint[]> {
    for (const r of ranges) this.check(r.offset, r.length);
    await this.settle();
    signal.throwIfAborted();
    const answer = await this.session.peer.call<{ digests: string[] }>('digests', { handle: this.handle, ranges: ranges.map((r) => [r.offset, r.length]) });
    return answer.digests.map((d) => BigInt(d));
  }

  /** Every write answered, then fsync where the volume lives. */
  async flush(): Promise<void> {
    if (this.closed) return;
    await this.settle();
    await this.session.peer.call('flush', { handle: this.handle });
  }

  async isBlank(): Promise<boolean> {
    return this.blank;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.inflight);
    if (this.session.peer.closed === null) await this.session.peer.call('close', { handle: this.handle }).catch(() => undefined);
    await this.onClose();
  }

  private async settle(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
    if (this.failure) throw this.failure;
  }

  /** The zstd frame of `raw` when the agent can decode it and it saves enough; else null. */
  private pack(raw: Buffer): Buffer | null {
    if (!this.zstd || raw.length < 4096) return null;
    const sample = raw.subarray(0, Math.min(raw.length, SAMPLE));
    if (compress(sample).length > sample.length * (1 - MIN_SAVING)) return null;
    const packed = compress(raw);
    return packed.length <= raw.length * (1 - MIN_SAVING) ? packed : null;
  }

  private check(offset: number, length: number): void {
    if (this.closed) throw new RehostError('CONFLICT', `volume device ${this.path} on ${this.where} is closed`);
    if (this.failure) throw this.failure;
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.sizeBytes) {
      throw new RehostError('DRIVER', `volume device ${this.path}: range ${offset}+${length} is outside its ${this.sizeBytes} bytes`);
    }
  }
}
