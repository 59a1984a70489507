/**
 * A DiskSink over a raw volume file: positional writes and reads through one FileHandle,
 * `flush()` = fdatasync (data blocks durable; the size never changes, so metadata need not be).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { RehostError } from '../../../src-shared/errors.js';
import type { DiskSink } from '../../core/drivers.js';
import type { ByteRange } from '../../core/model.js';
import { digestsByReading } from '../../replication/sink-digests.js';

/** The sink `LocalTarget.openSink` returns. */
export class FileSink implements DiskSink {
  private closed = false;

  private constructor(
    private readonly fh: FileHandle,
    readonly sizeBytes: number,
    private readonly path: string,
    private readonly onClose: (sink: FileSink) => void,
  ) {}

  /** Opens an existing volume file for reading and writing; its current size is the disk size. */
  static async open(path: string, onClose: (sink: FileSink) => void = () => {}): Promise<FileSink> {
    const fh = await open(path, 'r+');
    try {
      const { size } = await fh.stat();
      return new FileSink(fh, size, path, onClose);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check(offset, data.byteLength);
    // A positional write may be short (signals, quotas): loop until every byte is in.
    let done = 0;
    while (done < data.byteLength) {
      const { bytesWritten } = await this.fh.write(data, done, data.byteLength - done, offset + done);
      if (bytesWritten === 0) throw new RehostError('DRIVER', `volume ${this.path}: write at offset ${offset + done} made no progress`);
      done += bytesWritten;
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
    const length = buf.length;
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) {
        buf.fill(0, done); // past the end of a file that shrank under us: the rest reads as zeros
        break;
      }
      done += bytesRead;
    }
    return buf;
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
    await this.fh.close();
  }

  private check(offset: number, length: number): void {
    if (this.closed) throw new RehostError('CONFLICT', `volume ${this.path} is closed`);
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.sizeBytes) {
      throw new RehostError('DRIVER', `volume ${this.path}: range ${offset}+${length} is outside its ${this.sizeBytes} bytes`);
    }
  }
}
