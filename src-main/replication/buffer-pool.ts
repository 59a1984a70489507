/**
 * A bounded pool of chunk-sized buffers. Allocating a fresh 4 MiB buffer per chunk (several per
 * chunk: the received frame, the decompressed data) made V8 collect garbage for a third of a full
 * sync's CPU time and pushed the engine's RSS up; chunks that pass through the copy are instead
 * taken from here and given back once written. Buffers are dedicated allocations (not slices of
 * Node's shared slab), so a returned one is recognised by its ArrayBuffer; they are page-aligned
 * (aligned.ts), so a pooled chunk may be read or written with O_DIRECT.
 */
import { alignedBuffer } from './aligned.js';

export class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly owned = new WeakSet<ArrayBufferLike>();

  /**
   * @param slotSize bytes per pooled buffer; larger requests are allocated and never pooled.
   * @param maxFree buffers kept for reuse; more returned ones are left to the collector.
   */
  constructor(
    readonly slotSize: number,
    private readonly maxFree: number,
  ) {}

  /** A buffer of exactly `length` bytes (contents undefined), page-aligned when it is a pooled slot. */
  take(length: number): Buffer {
    if (length > this.slotSize) return Buffer.allocUnsafeSlow(length);
    let slot = this.free.pop();
    if (slot === undefined) {
      slot = alignedBuffer(this.slotSize);
      this.owned.add(slot.buffer);
    }
    return slot.subarray(0, length);
  }

  /** Gives a buffer from `take` back; anything else (or a second return) is ignored. */
  give(data: Uint8Array): void {
    if (!this.owned.has(data.buffer) || this.free.length >= this.maxFree) return;
    if (this.free.some((b) => b.buffer === data.buffer)) return;
    this.free.push(Buffer.from(data.buffer, 0, this.slotSize));
  }

  /** Buffers waiting for reuse (tests). */
  get idle(): number {
    return this.free.length;
  }
}
