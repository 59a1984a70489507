/**
 * Page-aligned buffers for direct I/O (O_DIRECT). Reading a disk through the page cache costs a
 * kernel copy per byte and fills the source server's cache with data it will never read again
 * (evicting its applications' working set); writing a volume through it costs another copy and
 * dirty pages the flush then waits for. O_DIRECT moves the bytes between the device and the
 * buffer, but only into memory aligned to the device's logical block size, which Node's heap
 * buffers are not. A WebAssembly memory is: its backing store is mapped whole and page-aligned.
 */

/** Alignment of offsets, lengths and addresses for direct I/O: a page covers every logical block size. */
export const DIRECT_ALIGN = 4096;
const WASM_PAGE = 64 * 1024;

/** WebAssembly's memory constructor (the project's TypeScript libraries declare no DOM or wasm globals). */
const { Memory } = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer } } }).WebAssembly;

/** The ArrayBuffers that start on a page boundary (a view is aligned when its offset is too). */
const alignedStores = new WeakSet<ArrayBufferLike>();

/**
 * A buffer of `size` bytes whose first byte is page-aligned; a plain heap buffer (not aligned)
 * when no WebAssembly memory can be had, so callers must check `isAligned` before direct I/O.
 */
export function alignedBuffer(size: number): Buffer {
  const pages = Math.max(1, Math.ceil(size / WASM_PAGE));
  try {
    const memory = new Memory({ initial: pages, maximum: pages });
    alignedStores.add(memory.buffer);
    return Buffer.from(memory.buffer, 0, size);
  } catch {
    return Buffer.allocUnsafeSlow(size);
  }
}

/** True when `data` starts on a page boundary, so it may be read or written with O_DIRECT. */
export function isAligned(data: Uint8Array): boolean {
  return alignedStores.has(data.buffer) && data.byteOffset % DIRECT_ALIGN === 0;
}

/** `n` rounded up to a multiple of DIRECT_ALIGN. */
export function alignUp(n: number): number {
  return Math.ceil(n / DIRECT_ALIGN) * DIRECT_ALIGN;
}
