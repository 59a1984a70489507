/**
 * Verification of what a copy wrote, as the copy goes: a checkpoint makes every chunk below its
 * cursor durable and no later write of the run touches them, so they are checked against the
 * digests taken from the source in the background while later chunks are still being copied.
 * The end of the copy checks the rest. Reading a whole volume back after the copy would add its
 * full read time to every sync; overlapped, most of it hides behind the transfer.
 */
import type { DiskSink } from '../core/drivers.js';
import { chunkDigest } from './digest.js';

/** Chunks per digest request to a sink that computes them itself (256 MiB of its reads). */
const DIGEST_BATCH = 64;
/** Target reads in flight while verifying by reading back. */
const READ_AHEAD = 2;

export interface VerifierOptions {
  sink: DiskSink;
  signal: AbortSignal;
  /** Byte range of chunk `i`. */
  range(i: number): { offset: number; length: number };
  /** True when this run wrote chunk `i` (only those need checking). */
  written(i: number): boolean;
  /** The digest the source had for chunk `i`. */
  expected(i: number): bigint;
}

export class ChunkVerifier {
  /** Chunks below this index are verified or being verified. */
  private upTo = 0;
  private running: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  private readonly bad: number[] = [];

  constructor(private readonly o: VerifierOptions) {}

  /** Starts verifying (behind any earlier verification) the written chunks below `cursor` not yet taken. */
  advance(cursor: number): void {
    if (cursor <= this.upTo || this.failure !== null) return;
    const from = this.upTo;
    this.upTo = cursor;
    this.running = this.running.then(() => this.check(from, cursor)).catch((err: unknown) => {
      this.failure ??= err instanceof Error ? err : new Error(String(err));
    });
  }

  /** Verifies everything below `end` and returns the chunks whose target copy differs. */
  async finish(end: number): Promise<number[]> {
    this.advance(end);
    await this.running;
    if (this.failure !== null) throw this.failure;
    return [...this.bad].sort((a, b) => a - b);
  }

  /** Waits for background verification to stop (the copy failed or was aborted). */
  async settle(): Promise<void> {
    await this.running;
  }

  private async check(from: number, to: number): Promise<void> {
    const chunks: number[] = [];
    for (let i = from; i < to; i++) if (this.o.written(i)) chunks.push(i);
    if (chunks.length === 0) return;
    if (this.o.sink.digests === undefined) await this.byReading(chunks);
    else await this.byDigests(chunks);
  }

  private async byDigests(chunks: number[]): Promise<void> {
    for (let at = 0; at < chunks.length; at += DIGEST_BATCH) {
      this.o.signal.throwIfAborted();
      const batch = chunks.slice(at, at + DIGEST_BATCH);
      const held = await this.o.sink.digests!(batch.map((i) => this.o.range(i)), this.o.signal);
      batch.forEach((i, k) => {
        if (held[k] !== this.o.expected(i)) this.bad.push(i);
      });
    }
  }

  /** READ_AHEAD reads in flight so the sink's latency overlaps the hashing. */
  private async byReading(chunks: number[]): Promise<void> {
    const reads: Promise<Uint8Array>[] = [];
    const readAt = (k: number) => {
      const { offset, length } = this.o.range(chunks[k]!);
      const read = this.o.sink.read(offset, length);
      read.catch(() => undefined);
      reads[k] = read;
    };
    try {
      for (let k = 0; k < chunks.length; k++) {
        this.o.signal.throwIfAborted();
        for (let j = k; j < Math.min(chunks.length, k + 1 + READ_AHEAD); j++) if (reads[j] === undefined) readAt(j);
        const data = await reads[k]!;
        delete reads[k];
        if (chunkDigest(data) !== this.o.expected(chunks[k]!)) this.bad.push(chunks[k]!);
      }
    } finally {
      await Promise.allSettled(reads.filter((r) => r !== undefined));
    }
  }
}
