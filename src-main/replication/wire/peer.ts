/**
 * One end of a replication channel: sends requests and matches answers by id, and hands incoming
 * requests to a handler. Used by the engine (over an SSH exec channel) and by the agent (over its
 * stdin/stdout). Writes respect back-pressure; a closed channel fails every pending request.
 */
import type { Readable, Writable } from 'node:stream';
import { encodeFrameHeader, FrameReader, type Frame } from './frame.js';
import { decodeJson, encodeJson, Msg } from './messages.js';

/** Answers one incoming request with a frame type and payload; a throw becomes a Fail frame. */
/** `sent`: called once the payload has left for the stream's OS handle, so its buffers may be reused. */
export type RequestHandler = (frame: Frame) => Promise<{ type: number; payload: Uint8Array | Uint8Array[]; sent?: () => void }>;

/** A request failed at the far end (its message is the far end's reason). */
export class RemoteError extends Error {}

/** The channel itself ended (the far end stopped, the link dropped): a reconnect may cure it. */
export class ChannelClosedError extends Error {
  readonly code = 'ECHANNELCLOSED';
}

interface Pending {
  resolve: (frame: Frame) => void;
  reject: (err: Error) => void;
}

export class WirePeer {
  private readonly reader = new FrameReader();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedWith: Error | null = null;
  private handler: RequestHandler | null = null;
  private helloWaiter: ((frame: Frame) => void) | null = null;
  private helloFrame: Frame | null = null;

  constructor(
    input: Readable,
    private readonly output: Writable,
  ) {
    input.on('data', (data: Buffer) => this.receive(data));
    input.on('end', () => this.fail(new ChannelClosedError('the replication channel closed')));
    input.on('error', (err: Error) => this.fail(err));
    output.on('error', (err: Error) => this.fail(err));
  }

  /** Serves incoming requests (the agent side). */
  serve(handler: RequestHandler): void {
    this.handler = handler;
  }

  /** The first frame of type Hello. */
  hello(signal: AbortSignal): Promise<Frame> {
    if (this.helloFrame) return Promise.resolve(this.helloFrame);
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      this.helloWaiter = (f) => {
        signal.removeEventListener('abort', onAbort);
        resolve(f);
      };
      this.pending.set(0, { resolve: this.helloWaiter, reject });
    });
  }

  /**
   * Sends a frame that expects no answer. A payload given in parts is written part by part (no
   * 4 MiB concatenation); the stream is corked so the parts still leave together.
   */
  async send(type: number, id: number, payload: Uint8Array | Uint8Array[], sent?: () => void): Promise<void> {
    if (this.closedWith) throw this.closedWith;
    const parts = Array.isArray(payload) ? payload : [payload];
    const size = parts.reduce((n, p) => n + p.byteLength, 0);
    this.output.cork();
    let ok = this.output.write(encodeFrameHeader(type, id, size));
    // The stream calls back for its writes in order: the last part's callback covers them all.
    parts.forEach((p, i) => (ok = this.output.write(p, i === parts.length - 1 && sent ? () => sent() : undefined)));
    if (parts.length === 0) sent?.();
    process.nextTick(() => this.output.uncork());
    if (!ok) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.output.off('drain', done);
          this.output.off('close', done);
          resolve();
        };
        this.output.on('drain', done);
        this.output.on('close', done);
      });
    }
  }

  /** Sends a request and waits for its answer; a Fail answer rejects with a RemoteError. */
  async request(type: number, payload: Uint8Array | Uint8Array[], signal?: AbortSignal): Promise<Frame> {
    signal?.throwIfAborted();
    if (this.closedWith) throw this.closedWith;
    const id = this.nextId++;
    if (this.nextId > 0xfffffff0) this.nextId = 1;
    const answer = new Promise<Frame>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    await this.send(type, id, payload);
    const frame = await answer;
    if (frame.type === Msg.Fail) throw new RemoteError(decodeJson<{ message: string }>(frame.payload).message);
    return frame;
  }

  /** A JSON call: `{op, args}` → the decoded result. */
  async call<T>(op: string, args: Record<string, unknown> = {}, signal?: AbortSignal): Promise<T> {
    const frame = await this.request(Msg.Call, encodeJson({ op, args }), signal);
    return decodeJson<T>(frame.payload);
  }

  /**
   * Receives large payloads (chunks) into buffers from `alloc` (a pool) instead of fresh ones; the
   * receiver of such a frame gives its buffer back when done with it.
   */
  useAllocator(alloc: ((size: number) => Buffer) | null): void {
    this.reader.setAllocator(alloc);
  }

  /** Bytes per second at which large frames (chunks) arrive on this channel; null before the first. */
  get receiveRate(): number | null {
    return this.reader.receiveRate;
  }

  get closed(): Error | null {
    return this.closedWith;
  }

  /** Fails every pending request with `err`; later requests fail at once. */
  fail(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /**
   * Takes received bytes: called for the input's 'data' events, or directly by a connection that
   * reads into a reused buffer (`transient`: the bytes must not be kept past the call).
   */
  receive(data: Buffer, transient = false): void {
    let frames: Frame[];
    try {
      frames = this.reader.push(data, transient);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    for (const frame of frames) this.dispatch(frame);
  }

  private dispatch(frame: Frame): void {
    if (frame.type === Msg.Hello) {
      this.helloFrame = frame;
      this.pending.get(0)?.resolve(frame);
      this.pending.delete(0);
      return;
    }
    const waiting = this.pending.get(frame.id);
    if (waiting && this.isAnswer(frame.type)) {
      this.pending.delete(frame.id);
      waiting.resolve(frame);
      return;
    }
    if (this.handler) void this.answer(frame, this.handler);
  }

  private isAnswer(type: number): boolean {
    return type === Msg.Result || type === Msg.Fail || type === Msg.Data || type === Msg.Changed || type === Msg.Forwarded;
  }

  private async answer(frame: Frame, handler: RequestHandler): Promise<void> {
    let reply: Awaited<ReturnType<RequestHandler>>;
    try {
      reply = await handler(frame);
    } catch (err) {
      reply = { type: Msg.Fail, payload: encodeJson({ message: err instanceof Error ? err.message : String(err) }) };
    }
    // A reply that never leaves (the channel closed) keeps its buffers: the collector takes them.
    await this.send(reply.type, frame.id, reply.payload, reply.sent).catch(() => undefined);
  }
}
