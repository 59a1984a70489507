/**
 * A DiskSink over a raw volume file: positional writes and reads, `flush()` = fdatasync (data
 * blocks durable; the size never changes, so metadata need not be). Whole-page writes and reads
 * go through a second handle opened with O_DIRECT where the file system allows it: a full sync
 * then neither pays the page cache's copy nor leaves gigabytes of dirty pages on this machine.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { RehostError } from '../../../src-shared/errors.js';
import type { DiskSink } from '../../core/drivers.js';
import type { ByteRange } from '../../core/model.js';
import { alignUp, DIRECT_ALIGN, isAligned } from '../../replication/aligned.js';
import { BufferPool } from '../../replication/buffer-pool.js';
import { CHUNK_SIZE } from '../../replication/chunk-plan.js';
import { digestsByReading } from '../../replication/sink-digests.js';

/** Page-aligned copies of chunks that arrived in unaligned buffers, one per write in flight. */
const STAGING_FREE = 4;

/** The sink `LocalTarget.openSink` returns. */
export class FileSink implements DiskSink {
  private closed = false;
  /** The direct handle after the file system refused a transfer on it, closed with the sink. */
  private retired: FileHandle | null = null;
  private readonly staging = new BufferPool(CHUNK_SIZE, STAGING_FREE);

  private constructor(
    private readonly fh: FileHandle,
    /** The same file opened with O_DIRECT, or null where that is refused (tmpfs) or failed once. */
    private directHandle: FileHandle | null,
    readonly sizeBytes: number,
    private readonly path: string,
    private readonly onClose: (sink: FileSink) => void,
  ) {}

  /** Opens an existing volume file for reading and writing; its current size is the disk size. */
  static async open(path: string, onClose: (sink: FileSink) => void = () => {}): Promise<FileSink> {
    const fh = await open(path, 'r+');
    try {
      const { size } = await fh.stat();
      const direct = await open(path, constants.O_RDWR | constants.O_DIRECT).catch(() => null);
      return new FileSink(fh, direct, size, path, onClose);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check(offset, data.byteLength);
    if (this.directHandle !== null && offset % DIRECT_ALIGN === 0 && data.byteLength % DIRECT_ALIGN === 0 && data.byteLength <= CHUNK_SIZE) {
      // A memory copy into an aligned buffer costs far less than the page cache's copy.
      const staged = isAligned(data) ? data : this.staging.take(data.byteLength);
      try {
        if (staged !== data) staged.set(data);
        if (await this.directly(() => this.writeAll(this.directHandle!, staged, offset))) return;
      } finally {
        if (staged !== data) this.staging.give(staged);
      }
    }
    await this.writeAll(this.fh, data, offset);
  }

  /** A positional write may be short (signals, quotas): loops until every byte is in. */
  private async writeAll(fh: FileHandle, data: Uint8Array, offset: number): Promise<void> {
    let done = 0;
    while (done < data.byteLength) {
      const { bytesWritten } = await fh.write(data, done, data.byteLength - done, offset + done);
      if (bytesWritten === 0) throw new RehostError('DRIVER', `volume ${this.path}: write at offset ${offset + done} made no progress`);
      done += bytesWritten;
    }
  }

  /** Runs a direct transfer; false when the file system refused it (EINVAL): direct I/O is then off. */
  private async directly(transfer: () => Promise<void>): Promise<boolean> {
    try {
      await transfer();
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      // Not closed yet: other transfers may still be under way on it; `close()` closes it.
      if (this.directHandle !== null) this.retired = this.directHandle;
      this.directHandle = null;
      return false;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.check(offset, length);
    return this.readInto(Buffer.alloc(length), offset);
  }

  async digests(ranges: readonly ByteRange[], signal: AbortSignal): Promise<bigint[]> {
    for (const r of ranges) this.check(r.offset, r.length);
    return digestsByReading(ranges, (buf, offset) => this.readInto(buf, offset), signal);
  }

  private async readInto(buf: Buffer, offset: number): Promise<Buffer> {
    // Direct where the buffer is aligned with room for whole pages (verification reads what the
    // disk holds, not what the page cache remembers).
    const direct = this.directHandle;
    if (direct !== null && offset % DIRECT_ALIGN === 0 && isAligned(buf) && buf.byteOffset + alignUp(buf.length) <= buf.buffer.byteLength) {
      const whole = new Uint8Array(buf.buffer, buf.byteOffset, alignUp(buf.length));
      if (await this.directly(() => this.readAll(direct, whole, buf.length, offset))) return buf;
    }
    await this.readAll(this.fh, buf, buf.length, offset);
    return buf;
  }

  /** Fills the first `length` bytes of `buf` (which may be larger: a direct read asks for whole pages). */
  private async readAll(fh: FileHandle, buf: Uint8Array, length: number, offset: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, buf.length - done, offset + done);
      if (bytesRead === 0) {
        buf.fill(0, done, length); // past the end of a file that shrank under us: the rest reads as zeros
        break;
      }
      done += bytesRead;
    }
  }

  /** A file with no allocated block is all zeros (a sparse volume nothing was written to). */
  async isBlank(): Promise<boolean> {
    return (await this.fh.stat()).blocks === 0;
  }

  async flush(): Promise<void> {
    if (!this.closed) await this.fh.datasync();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
    await this.directHandle?.close();
    await this.retired?.close();
    await this.fh.close();
  }

  private check(offset: number, length: number): void {
    if (this.closed) throw new RehostError('CONFLICT', `volume ${this.path} is closed`);
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.sizeBytes) {
      throw new RehostError('DRIVER', `volume ${this.path}: range ${offset}+${length} is outside its ${this.sizeBytes} bytes`);
    }
  }
}
