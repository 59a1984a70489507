/**
 * A DiskSink over SFTP: positional writes and reads into a raw volume file on the KVM host;
 * `flush()` uses OpenSSH's fsync extension so a checkpoint is durable on the remote disk.
 * Verification digests are computed on the KVM host by the agent (sink role), started on first
 * use: reading the volume back over SSH would move every written byte a second time. With
 * transport direct that agent also takes the chunks from the source agent (`direct`), and then
 * fsyncs the volume for checkpoints.
 */
import type { SFTPWrapper } from 'ssh2';
import { RehostError } from '../../../src-shared/errors.js';
import type { DirectSinkPort, DiskSink } from '../../core/drivers.js';
import type { ByteRange } from '../../core/model.js';
import type { AgentSession } from '../../sources/agent/session.js';
import { AgentSinkPort } from '../../sources/agent/sink-port.js';
import type { KvmSsh } from './ssh.js';
import { sh } from './ssh.js';

/** Starts an agent in the sink role on the KVM host. */
export type StartAgent = (signal: AbortSignal) => Promise<AgentSession>;

/** Where a source agent reaches the KVM host (`config.direct_address`, else the SSH connection's far end). */
export type DirectAddress = (signal: AbortSignal) => Promise<string>;

export class SftpSink implements DiskSink {
  private closed = false;
  private agent: Promise<{ session: AgentSession; handle: number }> | null = null;
  /** The source agent writes through the sink agent (transport direct): checkpoints fsync there. */
  private agentWrites = false;
  readonly direct: DirectSinkPort;

  private constructor(
    private readonly sftp: SFTPWrapper,
    private readonly handle: Buffer,
    readonly sizeBytes: number,
    private readonly path: string,
    private readonly ssh: KvmSsh,
    private readonly startAgent: StartAgent,
    directAddress: DirectAddress,
  ) {
    const opener = async (signal: AbortSignal) => {
      const { session, handle } = await this.agentHandle(signal);
      this.agentWrites = true;
      return { peer: session.peer, handle };
    };
    this.direct = new AgentSinkPort(opener, directAddress, `the sink agent on the KVM host ${ssh.where}`);
  }

  static async open(ssh: KvmSsh, path: string, startAgent: StartAgent, directAddress: DirectAddress): Promise<SftpSink> {
    const sftp = await ssh.sftp();
    const size = await new Promise<number>((resolve, reject) => sftp.stat(path, (err, st) => (err ? reject(err) : resolve(st.size))));
    const handle = await new Promise<Buffer>((resolve, reject) => sftp.open(path, 'r+', (err, h) => (err ? reject(err) : resolve(h))));
    return new SftpSink(sftp, handle, size, path, ssh, startAgent, directAddress);
  }

  async digests(ranges: readonly ByteRange[], signal: AbortSignal): Promise<bigint[]> {
    for (const r of ranges) this.check(r.offset, r.length);
    const { session, handle } = await this.agentHandle(signal);
    const answer = await session.peer.call<{ digests: string[] }>('digests', { handle, ranges: ranges.map((r) => [r.offset, r.length]) }, signal);
    return answer.digests.map((d) => BigInt(d));
  }

  /** The sink agent with the volume open, started on first use. */
  private async agentHandle(signal: AbortSignal): Promise<{ session: AgentSession; handle: number }> {
    if (this.closed) throw new RehostError('CONFLICT', `volume ${this.path} is closed`);
    this.agent ??= this.startAgent(signal).then(async (session) => {
      const opened = await session.peer.call<{ handle: number }>('open', { path: this.path }, signal).catch(async (err: unknown) => {
        await session.close();
        throw err;
      });
      return { session, handle: opened.handle };
    });
    // A failed start is not kept: the next call (a retried verification) starts again.
    return this.agent.catch((err: unknown) => {
      this.agent = null;
      throw err;
    });
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
    if (this.agentWrites) {
      const { session, handle } = await this.agentHandle(new AbortController().signal);
      await session.peer.call('flush', { handle }).catch((err: unknown) => {
        throw new RehostError('UNAVAILABLE', `the sink agent on the KVM host ${this.ssh.where} could not fsync ${this.path}: ${err instanceof Error ? err.message : String(err)}; a retried sync resumes from the last checkpoint`, {}, { cause: err });
      });
      return;
    }
    await new Promise<void>((resolve, reject) => this.sftp.ext_openssh_fsync(this.handle, (err) => (err ? reject(err) : resolve())));
  }

  /** No allocated block on the remote file system: a fresh sparse volume. */
  async isBlank(): Promise<boolean> {
    return (await this.ssh.exec(`stat -c %b ${sh(this.path)}`)).trim() === '0';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const agent = await this.agent?.catch(() => null);
    await agent?.session.close();
    await new Promise<void>((resolve) => this.sftp.close(this.handle, () => resolve()));
  }

  private check(offset: number, length: number): void {
    if (this.closed) throw new RehostError('CONFLICT', `volume ${this.path} is closed`);
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.sizeBytes) {
      throw new RehostError('DRIVER', `volume ${this.path}: range ${offset}+${length} is outside its ${this.sizeBytes} bytes`);
    }
  }
}
