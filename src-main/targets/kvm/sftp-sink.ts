/**
 * A DiskSink over SFTP: positional writes and reads into a raw volume file on the KVM host;
 * `flush()` uses OpenSSH's fsync extension so a checkpoint is durable on the remote disk.
 */
import type { SFTPWrapper } from 'ssh2';
import { RehostError } from '../../../src-shared/errors.js';
import type { DiskSink } from '../../core/drivers.js';
import type { KvmSsh } from './ssh.js';
import { sh } from './ssh.js';

export class SftpSink implements DiskSink {
  private closed = false;

  private constructor(
    private readonly sftp: SFTPWrapper,
    private readonly handle: Buffer,
    readonly sizeBytes: number,
    private readonly path: string,
    private readonly ssh: KvmSsh,
  ) {}

  static async open(ssh: KvmSsh, path: string): Promise<SftpSink> {
    const sftp = await ssh.sftp();
    const size = await new Promise<number>((resolve, reject) => sftp.stat(path, (err, st) => (err ? reject(err) : resolve(st.size))));
    const handle = await new Promise<Buffer>((resolve, reject) => sftp.open(path, 'r+', (err, h) => (err ? reject(err) : resolve(h))));
    return new SftpSink(sftp, handle, size, path, ssh);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check(offset, data.byteLength);
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await new Promise<void>((resolve, reject) => this.sftp.write(this.handle, buf, 0, buf.length, offset, (err) => (err ? reject(err) : resolve())));
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.check(offset, length);
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = await new Promise<number>((resolve, reject) =>
        this.sftp.read(this.handle, buf, done, length - done, offset + done, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))),
      );
      if (n === 0) break;
      done += n;
    }
    return buf;
  }

  async flush(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve, reject) => this.sftp.ext_openssh_fsync(this.handle, (err) => (err ? reject(err) : resolve())));
  }

  /** No allocated block on the remote file system: a fresh sparse volume. */
  async isBlank(): Promise<boolean> {
    return (await this.ssh.exec(`stat -c %b ${sh(this.path)}`)).trim() === '0';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => this.sftp.close(this.handle, () => resolve()));
  }

  private check(offset: number, length: number): void {
    if (this.closed) throw new RehostError('CONFLICT', `volume ${this.path} is closed`);
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.sizeBytes) {
      throw new RehostError('DRIVER', `volume ${this.path}: range ${offset}+${length} is outside its ${this.sizeBytes} bytes`);
    }
  }
}
