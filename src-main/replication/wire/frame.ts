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

/** Reassembles frames from a byte stream cut anywhere. */
export class FrameReader {
  private parts: Buffer[] = [];
  private size = 0;

  /** Adds received bytes; returns every frame now complete. Throws on a corrupt length. */
  push(data: Buffer): Frame[] {
    this.parts.push(data);
    this.size += data.length;
    const out: Frame[] = [];
    for (;;) {
      if (this.size < 4) return out;
      const first = this.parts[0]!.length >= 4 ? this.parts[0]! : this.flatten();
      const length = first.readUInt32BE(0);
      if (length < 5 || length - 5 > MAX_PAYLOAD) throw new Error(`corrupt frame length ${length} on the replication channel`);
      if (this.size < length + 4) return out;
      const all = this.flatten();
      out.push({ type: all.readUInt8(4), id: all.readUInt32BE(5), payload: all.subarray(HEADER, length + 4) });
      const rest = all.subarray(length + 4);
      this.parts = rest.length > 0 ? [rest] : [];
      this.size = rest.length;
    }
  }

  private flatten(): Buffer {
    if (this.parts.length > 1) this.parts = [Buffer.concat(this.parts, this.size)];
    return this.parts[0]!;
  }
}
