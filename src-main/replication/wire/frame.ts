/**
 * Framing of the replication wire protocol (engine ↔ agent over an SSH channel's stdin/stdout):
 * every frame is `u32 length | u8 type | u32 id | payload`, big-endian, where `length` counts the
 * type, id and payload. Requests carry a fresh id and their answer carries the same id, so several
 * reads can be in flight on one channel.
 */

/** Largest payload accepted: a 4 MiB chunk plus headers, with room to spare. */
export const MAX_PAYLOAD = 16 * 1024 * 1024;
const HEADER = 9;

export interface Frame {
  type: number;
  id: number;
  payload: Buffer;
}

/** The header of a frame whose payload is `size` bytes (the payload follows it on the stream). */
export function encodeFrameHeader(type: number, id: number, size: number): Buffer {
  if (size > MAX_PAYLOAD) throw new RangeError(`frame payload of ${size} bytes exceeds ${MAX_PAYLOAD}`);
  const head = Buffer.allocUnsafe(HEADER);
  head.writeUInt32BE(size + 5, 0);
  head.writeUInt8(type, 4);
  head.writeUInt32BE(id >>> 0, 5);
  return head;
}

/** The bytes of one frame. */
export function encodeFrame(type: number, id: number, payload: Uint8Array): Buffer {
  return Buffer.concat([encodeFrameHeader(type, id, payload.byteLength), payload]);
}

/** The frame length field, checked. */
function readLength(head: Buffer): number {
  const length = head.readUInt32BE(0);
  if (length < 5 || length - 5 > MAX_PAYLOAD) throw new Error(`corrupt frame length ${length} on the replication channel`);
  return length;
}

/** Payloads at least this large are received straight into a buffer from the reader's allocator. */
const LARGE_PAYLOAD = 64 * 1024;
const EMPTY = Buffer.alloc(0);
/** Weight of the newest large frame in the receive rate (an exponential moving average). */
const RATE_WEIGHT = 0.25;
/**
 * A frame that arrived in one piece took no measurable time: it waited whole in the socket's
 * buffer, so the link outpaces this end. Its time counts as this much instead of zero.
 */
const MIN_ARRIVAL_MS = 0.05;

/**
 * Reassembles frames from a byte stream cut anywhere. With an allocator, a large payload (a
 * chunk) is copied once into a buffer the allocator gives (a pooled one) as its bytes arrive,
 * instead of being gathered and concatenated into a fresh buffer per frame.
 */
export class FrameReader {
  private parts: Buffer[] = [];
  private size = 0;
  private large: { type: number; id: number; body: Buffer; filled: number; startedAt: number } | null = null;
  private rate: number | null = null;

  constructor(private alloc: ((size: number) => Buffer) | null = null) {}

  /**
   * Bytes per second at which large frames arrive, from a frame's first byte to its last: what
   * the link (and this end's reading) delivers while the sender has data to send, whatever time
   * the sender spent preparing it. Null before the first large frame.
   */
  get receiveRate(): number | null {
    return this.rate;
  }

  /** Sets (or clears) the allocator for large payloads; applies from the next frame on. */
  setAllocator(alloc: ((size: number) => Buffer) | null): void {
    this.alloc = alloc;
  }

  /**
   * Adds received bytes; returns every frame now complete. Throws on a corrupt length.
   * `transient`: `data` is a read buffer the caller reuses after this call (a socket's `onread`
   * buffer), so every byte kept past the call is copied out of it.
   */
  push(data: Buffer, transient = false): Frame[] {
    const out: Frame[] = [];
    let input = data;
    for (;;) {
      if (this.large !== null) {
        const l = this.large;
        const n = Math.min(input.length, l.body.length - l.filled);
        input.copy(l.body, l.filled, 0, n);
        l.filled += n;
        input = input.subarray(n);
        if (l.filled < l.body.length) return out;
        out.push({ type: l.type, id: l.id, payload: l.body });
        this.large = null;
        const rate = l.body.length / (Math.max(MIN_ARRIVAL_MS, performance.now() - l.startedAt) / 1000);
        this.rate = this.rate === null ? rate : this.rate + RATE_WEIGHT * (rate - this.rate);
        continue;
      }
      // Nothing gathered yet: read the header straight from the input (no copy when it fits).
      if (this.size === 0 && input.length >= HEADER) {
        const length = readLength(input);
        if (this.alloc !== null && length - 5 >= LARGE_PAYLOAD) {
          this.large = { type: input.readUInt8(4), id: input.readUInt32BE(5), body: this.alloc(length - 5), filled: 0, startedAt: performance.now() };
          input = input.subarray(HEADER);
          continue;
        }
        if (input.length >= length + 4) {
          const payload = input.subarray(HEADER, length + 4);
          out.push({ type: input.readUInt8(4), id: input.readUInt32BE(5), payload: transient ? Buffer.from(payload) : payload });
          input = input.subarray(length + 4);
          continue;
        }
      }
      if (input.length > 0) {
        this.parts.push(transient ? Buffer.from(input) : input);
        this.size += input.length;
        input = EMPTY;
      }
      if (this.size < 4) return out;
      const all = this.flatten();
      if (this.size < HEADER) {
        readLength(all);
        return out;
      }
      const length = readLength(all);
      if (this.alloc !== null && length - 5 >= LARGE_PAYLOAD) {
        this.large = { type: all.readUInt8(4), id: all.readUInt32BE(5), body: this.alloc(length - 5), filled: 0, startedAt: performance.now() };
        input = all.subarray(HEADER);
        this.parts = [];
        this.size = 0;
        continue;
      }
      if (this.size < length + 4) return out;
      out.push({ type: all.readUInt8(4), id: all.readUInt32BE(5), payload: all.subarray(HEADER, length + 4) });
      // The rest goes round again as input (it is already a copy when the data was transient).
      input = all.subarray(length + 4);
      this.parts = [];
      this.size = 0;
      if (input.length === 0) return out;
      transient = false;
    }
  }

  private flatten(): Buffer {
    if (this.parts.length > 1) this.parts = [Buffer.concat(this.parts, this.size)];
    return this.parts[0]!;
  }
}
