/**
 * The disks the agent has open: reads at offsets (source role), writes at offsets with fsync
 * (sink role), and digest comparison at the source so unchanged chunks never cross the link.
 */
import { closeSync, constants, fstatSync, fsyncSync, openSync, read, readSync, writeSync, ftruncateSync } from 'node:fs';
import { promisify } from 'node:util';
import { execFileSync } from 'node:child_process';
import { alignedBuffer, alignUp, DIRECT_ALIGN, isAligned } from '../replication/aligned.js';
import { BufferPool } from '../replication/buffer-pool.js';
import { NbdClient } from '../replication/nbd-client.js';
import { isAllZero, makeChunkDigest } from '../replication/digest-core.js';
import { Codec, type CompareRequest, type ReadRequest, type WriteRequest } from '../replication/wire/messages.js';
import type { Natives } from './native.js';

interface OpenDisk {
  fd: number;
  /**
   * The same disk opened with O_DIRECT, or null where the file system refuses it (tmpfs) or a
   * direct transfer failed once: whole-chunk reads and writes bypass the host's page cache.
   */
  direct: number | null;
  /** Direct descriptors given up on (closed with the disk). */
  retired: number[];
  /**
   * A qcow2 layer served by qemu-nbd on this host (sink role): writes, flushes and reads go
   * through the NBD client instead of `fd` (which is then -1).
   */
  nbd: NbdClient | null;
  path: string;
  size: number;
  writable: boolean;
}

/** Compressed output must save at least this share to be sent compressed (else raw: no decode cost). */
const MIN_SAVING = 0.1;
/** Bytes compressed to decide whether a chunk is worth compressing. */
const SAMPLE = 128 * 1024;
/**
 * Compression pays only where the compressor outpaces the link (it then shrinks what the link
 * carries without slowing the copy); on a link faster than that, such as loopback or a 10 GbE
 * LAN, it only costs CPU at both ends. This margin keeps a near tie on the side of sending raw.
 */
const PAYS_MARGIN = 1.25;
/** Weight of the newest sample in the compressor's speed (an exponential moving average). */
const SPEED_WEIGHT = 0.2;
const readAsync = promisify(read);

/** Size in bytes of a block device or a file. */
export function deviceSize(fd: number, path: string): number {
  const st = fstatSync(fd);
  if (st.isFile()) return st.size;
  const out = execFileSync('blockdev', ['--getsize64', path], { encoding: 'utf8' });
  return Number(out.trim());
}

/**
 * A read that failed below the file system: the disk was removed, detached, or its storage
 * failed. The message names the disk so the job's reason says which one.
 */
function diskError(path: string, offset: number, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const gone = code === 'EIO' || code === 'ENXIO' || code === 'ENODEV' || code === 'ENOENT';
  return new Error(`reading the disk ${path} at offset ${offset} failed (${code ?? (err as Error).message})${gone ? ': the disk was removed, detached or failed; attach it again and retry' : ''}`);
}

/** The disk opened again with O_DIRECT, or null where that is refused. */
function openDirect(path: string, writable: boolean): number | null {
  try {
    return openSync(path, (writable ? constants.O_RDWR : constants.O_RDONLY) | constants.O_DIRECT);
  } catch {
    return null;
  }
}

/**
 * Reads `buf.length` bytes at `offset`, asking for `ask` bytes (a direct read asks for whole
 * pages: the buffer's memory has room past its end). A read that ends early means the disk shrank.
 */
function readFully(d: OpenDisk, fd: number, buf: Buffer, offset: number, ask: number): void {
  let done = 0;
  while (done < buf.length) {
    let n: number;
    try {
      n = readSync(fd, new Uint8Array(buf.buffer, buf.byteOffset, ask), done, ask - done, offset + done);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EINVAL') throw err;
      throw diskError(d.path, offset + done, err);
    }
    if (n === 0) throw shrunk(d, offset + done);
    done += n;
  }
}

async function readFullyAsync(d: OpenDisk, fd: number, buf: Buffer, offset: number, ask: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await readAsync(fd, new Uint8Array(buf.buffer, buf.byteOffset, ask), done, ask - done, offset + done);
    if (bytesRead === 0) throw shrunk(d, offset + done);
    done += bytesRead;
  }
}

function shrunk(d: OpenDisk, at: number): Error {
  return new Error(`the disk ${d.path} ended at ${at} of ${d.size} bytes: it was removed, detached or shrunk; attach it again and retry`);
}

function writeAll(fd: number, data: Uint8Array, offset: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, offset + done);
}

/** A chunk read for the engine; `release` gives its buffer back once it was sent (or hashed). */
export interface ChunkRead {
  codec: number;
  data: Buffer;
  release(): void;
}

/** Room for a 4 MiB chunk or its zstd frame (the bound is 4 MiB + 16 KiB). */
const POOL_SLOT = 4 * 1024 * 1024 + 64 * 1024;
/**
 * Chunk buffers kept for reuse: the engine's reads in flight, each needing a read buffer and
 * maybe a zstd frame. A new 4 MiB buffer per chunk made glibc's heap grow past 200 MB of RSS
 * before the collector freed the old ones.
 */
const POOL_FREE = 6;
const EMPTY = Buffer.alloc(0);
const NOTHING = () => undefined;

export class DiskTable {
  private readonly open = new Map<number, OpenDisk>();
  private next = 1;
  private readonly digest: (data: Uint8Array) => bigint;
  private readonly pool = new BufferPool(POOL_SLOT, POOL_FREE);
  /** The sample's zstd frame, reused for every chunk (its bound is a little over SAMPLE). */
  private readonly sampleFrame = Buffer.allocUnsafeSlow(SAMPLE + 64 * 1024);
  /** Bytes per second this host's zstd compresses, measured on the samples. */
  private compressSpeed: number | null = null;
  /** The transfer speed limit in bytes per second, when one is set: the link then runs no faster. */
  linkLimit: number | null = null;
  private zeroBuffer = Buffer.alloc(0);

  constructor(private readonly natives: Natives) {
    this.digest = makeChunkDigest(natives.xxh64);
  }

  /** Opens a disk for reading (source) or writing (sink; a file is created and sized). */
  openDisk(path: string, writable: boolean, size?: number): { handle: number; size: number } {
    let fd: number;
    try {
      fd = openSync(path, writable ? constants.O_RDWR | constants.O_CREAT : constants.O_RDONLY);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENXIO' || code === 'ENODEV') throw new Error(`the disk ${path} is gone (${code}): it was removed or detached; attach it again and retry`);
      throw new Error(`cannot open the disk ${path}: ${(err as Error).message}`);
    }
    let actual = deviceSize(fd, path);
    if (writable && size !== undefined && actual < size && fstatSync(fd).isFile()) {
      ftruncateSync(fd, size);
      actual = size;
    }
    const handle = this.next++;
    this.open.set(handle, { fd, direct: openDirect(path, writable), retired: [], nbd: null, path, size: actual, writable });
    return { handle, size: actual };
  }

  /**
   * Opens the image `path` that qemu-nbd serves on the unix socket `socket` for writing (a qcow2
   * layer on a KVM host: the layer's format stays qemu's business).
   */
  async openNbd(socket: string, path: string): Promise<{ handle: number; size: number }> {
    const nbd = await NbdClient.connect(socket).catch((err: unknown) => {
      throw new Error(`cannot reach qemu-nbd serving ${path} on ${socket}: ${err instanceof Error ? err.message : String(err)}`);
    });
    const handle = this.next++;
    this.open.set(handle, { fd: -1, direct: null, retired: [], nbd, path, size: nbd.sizeBytes, writable: true });
    return { handle, size: nbd.sizeBytes };
  }

  close(handle: number): void {
    const d = this.open.get(handle);
    if (!d) return;
    this.open.delete(handle);
    if (d.nbd !== null) {
      void d.nbd.close().catch(() => undefined);
      return;
    }
    closeSync(d.fd);
    for (const fd of [d.direct, ...d.retired]) if (fd !== null) closeSync(fd);
  }

  closeAll(): void {
    for (const h of [...this.open.keys()]) this.close(h);
  }

  /**
   * Reads a chunk into a pooled buffer off the event loop (libuv's pool, so the next read overlaps
   * sending this one); the caller calls `release` when done with it.
   */
  async read(r: ReadRequest): Promise<ChunkRead> {
    const raw = await this.readPooled(r.handle, r.offset, r.length);
    if (isAllZero(raw.data)) {
      raw.release();
      return { codec: Codec.Zero, data: EMPTY, release: NOTHING };
    }
    return this.pack(raw, r.zstd, r.linkRate ?? 0);
  }

  /** A chunk's raw bytes in a pooled buffer (no zero detection, no compression). */
  async readPooled(handle: number, offset: number, length: number): Promise<ChunkRead> {
    const d = this.get(handle);
    if (offset + length > d.size) throw new Error(`read of ${length} bytes at ${offset} is past the end of ${d.path} (${d.size} bytes)`);
    // Room for a direct read rounded up to whole pages; the chunk is the first `length` bytes.
    const data = this.pool.take(alignUp(length)).subarray(0, length);
    try {
      await this.readAt(d, data, offset);
    } catch (err) {
      this.pool.give(data);
      throw err;
    }
    return { codec: Codec.Raw, data, release: () => this.pool.give(data) };
  }

  /**
   * The zstd frame of a raw chunk when `zstd` is allowed, the chunk compresses, and compressing
   * pays on a link delivering `linkRate` bytes per second (0: not measured); the raw buffer is
   * then released. Otherwise the chunk itself.
   */
  pack(raw: ChunkRead, zstd: boolean, linkRate = 0): ChunkRead {
    if (zstd && this.natives.zstd && this.compressible(raw.data) && this.compressionPays(linkRate)) {
      const frame = this.pool.take(POOL_SLOT);
      const packed = this.natives.zstd(raw.data, frame);
      if (packed.length <= raw.data.length * (1 - MIN_SAVING)) {
        raw.release();
        return { codec: Codec.Zstd, data: packed, release: () => this.pool.give(frame) };
      }
      this.pool.give(frame);
    }
    return raw;
  }

  /**
   * Compresses a sample first: random data (encrypted, already compressed) is sent as is at once.
   * The sample's time also measures how fast this host compresses.
   */
  private compressible(data: Buffer): boolean {
    const sample = data.subarray(0, Math.min(data.length, SAMPLE));
    const started = performance.now();
    const packed = this.natives.zstd!(sample, this.sampleFrame).length;
    const speed = sample.length / (Math.max(0.001, performance.now() - started) / 1000);
    this.compressSpeed = this.compressSpeed === null ? speed : this.compressSpeed + SPEED_WEIGHT * (speed - this.compressSpeed);
    return packed <= sample.length * (1 - MIN_SAVING);
  }

  /** Whether compressing beats sending raw on a link delivering `linkRate` bytes per second (0: not known yet). */
  private compressionPays(linkRate: number): boolean {
    const link = this.linkLimit !== null && (linkRate === 0 || this.linkLimit < linkRate) ? this.linkLimit : linkRate;
    return link === 0 || this.compressSpeed === null || this.compressSpeed > link * PAYS_MARGIN;
  }

  /** Chunks whose digest differs from the one the target holds, with their current digest. */
  compare(r: CompareRequest): Map<number, bigint> {
    const d = this.get(r.handle);
    const changed = new Map<number, bigint>();
    const buf = alignedBuffer(alignUp(r.chunkSize));
    for (const [index, known] of r.known) {
      const offset = index * r.chunkSize;
      const length = Math.max(0, Math.min(r.chunkSize, d.size - offset));
      const data = this.readRaw(d, offset, length, buf);
      const now = this.digest(data);
      if (now !== known) changed.set(index, now);
    }
    return changed;
  }

  /** Writes a chunk; a disk served over NBD answers once qemu-nbd took it. */
  write(w: WriteRequest): void | Promise<void> {
    const d = this.get(w.handle);
    if (!d.writable) throw new Error(`${d.path} is open read-only`);
    const data = w.codec === Codec.Zstd ? this.unzstd(w.data) : w.codec === Codec.Zero ? this.zeros(w.data.readUInt32BE(0)) : w.data;
    // A write past the end would grow a file volume (or fail late on a device): refused up front.
    if (w.offset + data.length > d.size) throw new Error(`write of ${data.length} bytes at ${w.offset} is past the end of ${d.path} (${d.size} bytes)`);
    // Zeros go over NBD as written zeros: qemu-nbd (--detect-zeroes=unmap) leaves those clusters unallocated.
    if (d.nbd !== null) return d.nbd.write(w.offset, w.codec === Codec.Zero ? Buffer.from(data) : data);
    if (d.direct !== null && w.offset % DIRECT_ALIGN === 0 && data.length % DIRECT_ALIGN === 0) {
      // Staged into a page-aligned buffer (a memory copy costs less than the page cache's).
      const staged = isAligned(data) ? data : this.pool.take(data.length);
      try {
        if (staged !== data) data.copy(staged);
        if (this.transferDirect(d, () => writeAll(d.direct!, staged, w.offset))) return;
      } finally {
        if (staged !== data) this.pool.give(staged);
      }
    }
    writeAll(d.fd, data, w.offset);
  }

  /** A shared zero buffer of at least `length` bytes (a Zero write carries only its length). */
  private zeros(length: number): Buffer {
    if (this.zeroBuffer.length < length) this.zeroBuffer = Buffer.alloc(length);
    return this.zeroBuffer.subarray(0, length);
  }

  /** Makes the writes durable: a sink acknowledges a checkpoint only after this. */
  flush(handle: number): void | Promise<void> {
    const d = this.get(handle);
    if (d.nbd !== null) return d.nbd.flush();
    fsyncSync(d.fd);
  }

  /** Digests of `[offset, length]` ranges as the disk holds them (sink role: verification). */
  digests(handle: number, ranges: [number, number][]): bigint[] | Promise<bigint[]> {
    const d = this.get(handle);
    if (d.nbd !== null) return this.nbdDigests(d, d.nbd, ranges);
    const buf = alignedBuffer(alignUp(ranges.reduce((max, [, length]) => Math.max(max, length), 0)));
    return ranges.map(([offset, length]) => this.digest(this.readRaw(d, offset, length, buf)));
  }

  private async nbdDigests(d: OpenDisk, nbd: NbdClient, ranges: [number, number][]): Promise<bigint[]> {
    const out: bigint[] = [];
    for (const [offset, length] of ranges) {
      if (offset + length > d.size) throw new Error(`read of ${length} bytes at ${offset} is past the end of ${d.path} (${d.size} bytes)`);
      out.push(this.digest(await nbd.read(offset, length)));
    }
    return out;
  }

  private unzstd(data: Buffer): Buffer {
    if (!this.natives.unzstd) throw new Error('zstd data received but this agent has no zstd');
    return this.natives.unzstd(data, 16 * 1024 * 1024);
  }

  private readRaw(d: OpenDisk, offset: number, length: number, into?: Buffer): Buffer {
    if (offset + length > d.size) throw new Error(`read of ${length} bytes at ${offset} is past the end of ${d.path} (${d.size} bytes)`);
    // A disk behind qemu-nbd is read asynchronously (readAt), never here.
    if (d.nbd !== null) throw new Error(`${d.path} is written through qemu-nbd: it has no synchronous reads`);
    const buf = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    if (this.canDirect(d, buf, offset) && this.transferDirect(d, () => readFully(d, d.direct!, buf, offset, alignUp(length)))) return buf;
    readFully(d, d.fd, buf, offset, length);
    return buf;
  }

  /** Fills `data` from `offset`: directly where the disk and buffer allow it, else through the page cache. */
  private async readAt(d: OpenDisk, data: Buffer, offset: number): Promise<void> {
    if (d.nbd !== null) {
      await d.nbd.read(offset, data.length, data);
      return;
    }
    if (this.canDirect(d, data, offset)) {
      try {
        await readFullyAsync(d, d.direct!, data, offset, alignUp(data.length));
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === undefined) throw err;
        if (code !== 'EINVAL') throw diskError(d.path, offset, err);
        this.dropDirect(d);
      }
    }
    await readFullyAsync(d, d.fd, data, offset, data.length).catch((err: unknown) => {
      throw (err as NodeJS.ErrnoException).code === undefined ? err : diskError(d.path, offset, err);
    });
  }

  /** A direct transfer needs a page-aligned offset and buffer, with the buffer's memory room for whole pages. */
  private canDirect(d: OpenDisk, buf: Buffer, offset: number): boolean {
    return d.direct !== null && offset % DIRECT_ALIGN === 0 && isAligned(buf) && buf.byteOffset + alignUp(buf.length) <= buf.buffer.byteLength;
  }

  /** Runs a direct transfer; false when the disk refused it (EINVAL), which turns direct I/O off for it. */
  private transferDirect(d: OpenDisk, transfer: () => void): boolean {
    try {
      transfer();
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      this.dropDirect(d);
      return false;
    }
  }

  /** Stops direct I/O on a disk; its descriptor stays open until the disk is closed (reads may still be under way on it). */
  private dropDirect(d: OpenDisk): void {
    if (d.direct === null) return;
    d.retired.push(d.direct);
    d.direct = null;
  }

  private get(handle: number): OpenDisk {
    const d = this.open.get(handle);
    if (!d) throw new Error(`no open disk with handle ${handle}`);
    return d;
  }
}
