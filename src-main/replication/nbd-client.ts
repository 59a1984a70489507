/**
 * A small NBD client (the network block device protocol, fixed newstyle handshake) over a unix
 * socket, enough to write a qcow2 volume through `qemu-nbd`: NBD_OPT_GO, then READ, WRITE,
 * FLUSH, TRIM and DISCONNECT with simple replies. Requests may overlap; replies are matched by
 * handle. Structured replies are never negotiated, so every reply is the simple kind.
 */
import { connect, type Socket } from 'node:net';
import { RehostError } from '../../src-shared/errors.js';

const NBDMAGIC = 0x4e42444d41474943n;
const IHAVEOPT = 0x49484156454f5054n;
const REPLY_MAGIC_OPT = 0x3e889045565a9n;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;

const FLAG_FIXED_NEWSTYLE = 1;
const FLAG_NO_ZEROES = 2;
const OPT_GO = 7;
const REP_ACK = 1;
const REP_INFO = 3;
const INFO_EXPORT = 0;
const REP_ERROR_BIT = 0x80000000;

/** Transmission flags the server announces for the export. */
export const NbdFlags = { readOnly: 2, sendFlush: 4, sendTrim: 32 } as const;

const enum Cmd {
  Read = 0,
  Write = 1,
  Disconnect = 2,
  Flush = 3,
  Trim = 4,
}

/** qemu-nbd refuses requests above 32 MiB; larger reads and writes are split. */
const MAX_REQUEST = 16 * 1024 * 1024;

interface Pending {
  length: number;
  /** Where a read reply's payload lands: the caller's buffer, else a new one. */
  into?: Buffer;
  resolve: (data: Buffer) => void;
  reject: (err: Error) => void;
}

/** Reads exactly the bytes asked for from a socket during the handshake. */
class Reader {
  private buffered = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private failure: Error | null = null;

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.once('error', (err) => this.fail(err));
    socket.once('close', () => this.fail(new Error('the NBD server closed the connection')));
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    this.waiter?.();
  };

  private fail(err: Error): void {
    this.failure ??= err;
    this.waiter?.();
  }

  async take(n: number): Promise<Buffer> {
    while (this.buffered.length < n) {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = null;
    }
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return out;
  }

  /** Hands over the socket (and anything read past the handshake) to the transmission phase. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    return this.buffered;
  }
}

/** The answer to a command without payload (write, flush, trim). */
const EMPTY = Buffer.alloc(0);

/** One connected export. */
export class NbdClient {
  private nextHandle = 1n;
  private readonly pending = new Map<bigint, Pending>();
  /** Bytes of a reply header received so far. */
  private readonly head = Buffer.alloc(16);
  private headFilled = 0;
  /** The read reply whose payload is arriving: copied once into its own buffer. */
  private payload: { pending: Pending; data: Buffer; filled: number } | null = null;
  private failure: Error | null = null;
  private closing = false;
  private readonly inflight = new Set<Promise<Buffer>>();

  private constructor(
    private readonly socket: Socket,
    /** The export's size in bytes. */
    readonly sizeBytes: number,
    /** NbdFlags bits. */
    readonly flags: number,
    leftover: Buffer,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.failAll(err));
    socket.on('close', () => this.failAll(new Error('the NBD server closed the connection')));
    if (leftover.length > 0) this.onData(leftover);
  }

  /** Connects to `socketPath` and negotiates `exportName` with NBD_OPT_GO. */
  static async connect(socketPath: string, exportName = '', signal?: AbortSignal): Promise<NbdClient> {
    const socket = connect({ path: socketPath });
    const abort = () => socket.destroy(new Error('NBD connect aborted'));
    signal?.addEventListener('abort', abort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      const reader = new Reader(socket);
      const hello = await reader.take(18);
      if (hello.readBigUInt64BE(0) !== NBDMAGIC || hello.readBigUInt64BE(8) !== IHAVEOPT) throw protocolError('the server is not a newstyle NBD server');
      const serverFlags = hello.readUInt16BE(16);
      if ((serverFlags & FLAG_FIXED_NEWSTYLE) === 0) throw protocolError('the server does not speak fixed newstyle');
      const clientFlags = Buffer.alloc(4);
      clientFlags.writeUInt32BE(FLAG_FIXED_NEWSTYLE | (serverFlags & FLAG_NO_ZEROES));
      socket.write(clientFlags);
      const { size, flags } = await negotiateGo(socket, reader, exportName);
      socket.setNoDelay(true);
      return new NbdClient(socket, size, flags, reader.detach());
    } catch (err) {
      socket.destroy();
      throw err instanceof RehostError ? err : protocolError(`cannot connect to ${socketPath}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  /** `into`: a buffer of at least `length` bytes the caller reuses; the bytes land there. */
  async read(offset: number, length: number, into?: Buffer): Promise<Buffer> {
    if (into !== undefined && into.length < length) throw protocolError(`a ${into.length}-byte buffer cannot hold a ${length}-byte read`);
    const target = into?.subarray(0, length);
    if (length <= MAX_REQUEST) return this.request(Cmd.Read, offset, length, undefined, target);
    const parts: Promise<Buffer>[] = [];
    for (let at = 0; at < length; at += MAX_REQUEST) {
      const n = Math.min(MAX_REQUEST, length - at);
      parts.push(this.request(Cmd.Read, offset + at, n, undefined, target?.subarray(at, at + n)));
    }
    const got = await Promise.all(parts);
    return target ?? Buffer.concat(got);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.flags & NbdFlags.readOnly) throw protocolError('the export is read-only');
    const parts: Promise<Buffer>[] = [];
    for (let at = 0; at < data.byteLength; at += MAX_REQUEST) {
      const piece = data.subarray(at, Math.min(data.byteLength, at + MAX_REQUEST));
      parts.push(this.request(Cmd.Write, offset + at, piece.byteLength, piece));
    }
    await Promise.all(parts);
  }

  async flush(): Promise<void> {
    if (this.flags & NbdFlags.sendFlush) await this.request(Cmd.Flush, 0, 0);
  }

  /** Tells the server the range holds nothing worth keeping (it reads back as zeros on qcow2 without backing). */
  async trim(offset: number, length: number): Promise<void> {
    if (!(this.flags & NbdFlags.sendTrim)) return;
    for (let at = 0; at < length; at += MAX_REQUEST) await this.request(Cmd.Trim, offset + at, Math.min(MAX_REQUEST, length - at));
  }

  /** Waits for outstanding requests, sends NBD_CMD_DISC and closes the socket. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await Promise.allSettled(this.inflight);
    if (!this.failure) {
      const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
      this.socket.end(header(Cmd.Disconnect, this.nextHandle++, 0, 0));
      await Promise.race([closed, new Promise((r) => setTimeout(r, 5000).unref())]);
    }
    this.socket.destroy();
  }

  private request(cmd: Cmd, offset: number, length: number, data?: Uint8Array, into?: Buffer): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing && cmd !== Cmd.Disconnect) return Promise.reject(protocolError('the NBD connection is closing'));
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.sizeBytes) {
      return Promise.reject(protocolError(`range ${offset}+${length} is outside the export's ${this.sizeBytes} bytes`));
    }
    const handle = this.nextHandle++;
    const done = new Promise<Buffer>((resolve, reject) => {
      this.pending.set(handle, { length: cmd === Cmd.Read ? length : 0, into, resolve, reject });
      this.socket.write(header(cmd, handle, offset, length));
      if (data) this.socket.write(data);
    });
    this.inflight.add(done);
    const forget = () => this.inflight.delete(done);
    done.then(forget, forget);
    return done;
  }

  private onData(chunk: Buffer): void {
    // Each read reply's payload is copied once, as it arrives, into a buffer of its own: joining
    // the arrivals (64 KiB each) would copy a 4 MiB reply again and make garbage on every chunk.
    let at = 0;
    while (at < chunk.length) {
      if (this.payload) {
        const { data } = this.payload;
        const n = Math.min(chunk.length - at, data.length - this.payload.filled);
        chunk.copy(data, this.payload.filled, at, at + n);
        this.payload.filled += n;
        at += n;
        if (this.payload.filled === data.length) {
          const { pending } = this.payload;
          this.payload = null;
          pending.resolve(data);
        }
        continue;
      }
      const n = Math.min(chunk.length - at, 16 - this.headFilled);
      chunk.copy(this.head, this.headFilled, at, at + n);
      this.headFilled += n;
      at += n;
      if (this.headFilled < 16) return;
      this.headFilled = 0;
      const magic = this.head.readUInt32BE(0);
      if (magic !== SIMPLE_REPLY_MAGIC) return this.failAll(protocolError(`unexpected reply magic 0x${magic.toString(16)}`));
      const error = this.head.readUInt32BE(4);
      const handle = this.head.readBigUInt64BE(8);
      const p = this.pending.get(handle);
      if (!p) return this.failAll(protocolError(`reply for unknown handle ${handle}`));
      this.pending.delete(handle);
      // A failed read carries no payload.
      if (error !== 0) p.reject(protocolError(`the NBD server answered error ${error} (${errnoName(error)})`));
      else if (p.length === 0) p.resolve(EMPTY);
      else this.payload = { pending: p, data: p.into ?? Buffer.allocUnsafe(p.length), filled: 0 };
    }
  }

  private failAll(err: Error): void {
    this.failure ??= err;
    this.payload?.pending.reject(this.failure);
    this.payload = null;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}

async function negotiateGo(socket: Socket, reader: Reader, exportName: string): Promise<{ size: number; flags: number }> {
  const name = Buffer.from(exportName, 'utf8');
  const data = Buffer.alloc(4 + name.length + 2);
  data.writeUInt32BE(name.length, 0);
  name.copy(data, 4);
  data.writeUInt16BE(0, 4 + name.length); // no extra info requests: NBD_INFO_EXPORT always comes
  const opt = Buffer.alloc(16);
  opt.writeBigUInt64BE(IHAVEOPT, 0);
  opt.writeUInt32BE(OPT_GO, 8);
  opt.writeUInt32BE(data.length, 12);
  socket.write(Buffer.concat([opt, data]));
  let info: { size: number; flags: number } | null = null;
  for (;;) {
    const head = await reader.take(20);
    if (head.readBigUInt64BE(0) !== REPLY_MAGIC_OPT) throw protocolError('bad option reply magic');
    const type = head.readUInt32BE(12);
    const body = await reader.take(head.readUInt32BE(16));
    if (type & REP_ERROR_BIT) throw protocolError(`the server refused export ${JSON.stringify(exportName)} (reply 0x${type.toString(16)}${body.length ? `: ${body.toString('utf8')}` : ''})`);
    if (type === REP_INFO && body.length >= 12 && body.readUInt16BE(0) === INFO_EXPORT) {
      info = { size: Number(body.readBigUInt64BE(2)), flags: body.readUInt16BE(10) };
    } else if (type === REP_ACK) {
      if (!info) throw protocolError('the server acknowledged NBD_OPT_GO without describing the export');
      return info;
    }
  }
}

function header(cmd: Cmd, handle: bigint, offset: number, length: number): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt32BE(REQUEST_MAGIC, 0);
  b.writeUInt16BE(0, 4);
  b.writeUInt16BE(cmd, 6);
  b.writeBigUInt64BE(handle, 8);
  b.writeBigUInt64BE(BigInt(offset), 16);
  b.writeUInt32BE(length, 24);
  return b;
}

function errnoName(code: number): string {
  return ({ 1: 'EPERM', 5: 'EIO', 12: 'ENOMEM', 22: 'EINVAL', 28: 'ENOSPC', 75: 'EOVERFLOW', 95: 'ENOTSUP', 108: 'ESHUTDOWN' } as Record<number, string>)[code] ?? 'unknown';
}

function protocolError(message: string): RehostError {
  return new RehostError('DRIVER', `NBD: ${message}`);
}
