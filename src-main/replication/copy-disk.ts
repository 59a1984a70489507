/**
 * One disk copy: plan the chunks, stream them from the source through the throttle into the
 * sink (zero and unchanged chunks are not written), checkpoint, verify, and mark the run done.
 * Memory stays bounded: the chunk being written, READ_AHEAD prefetched chunks, one zero buffer.
 */
import { randomUUID } from 'node:crypto';
import { RehostError } from '../../src-shared/errors.js';
import type { ChunkForwarder } from '../core/drivers.js';
import type { ByteRange } from '../core/model.js';
import type { Logger } from '../core/ports.js';
import type { DiskCopyRequest, DiskCopyResult } from '../core/replicator.js';
import { CHUNK_SIZE, ChunkAction, chunkLength, formatMiB, mergeRanges, planChunks, plannedBytes } from './chunk-plan.js';
import { chunkDigest, diskDigest, UNKNOWN_DIGEST, ZERO_DIGEST } from './digest.js';
import { partialPlan, readPartialChunk, type FetchedChunk } from './partial-chunk.js';
import { beginRun, checkpointView, clearBit, getBit, setBit, type ReplicaState } from './state-codec.js';
import type { StateStore } from './state-store.js';
import { throttleFor, UNLIMITED, type Throttle } from './throttle.js';
import { ChunkVerifier } from './verifier.js';

/**
 * A checkpoint after this many bytes written… Checkpoints run in the background (the copy goes
 * on while the sink makes earlier writes durable), so their fsyncs overlap the transfer.
 */
const CHECKPOINT_BYTES = 256 * 1024 * 1024;
/** …or after this long, so a slow or skip-only run still records its progress. */
const CHECKPOINT_MS = 2000;
/**
 * Chunks past the checkpoint's cursor the run may write before it must checkpoint again. Bounds
 * what a crash leaves in doubt: at most this many chunks (768 MiB) are rewritten by the resumed
 * run. Larger than CHECKPOINT_BYTES so a background checkpoint has room to finish before the copy
 * has to wait for it.
 */
const WRITE_WINDOW = 192;
/** Reads issued ahead of the chunk being written, so source latency overlaps sink latency. */
const READ_AHEAD = 2;
/**
 * Sink writes in flight: the next chunk is received and hashed while the sink stores this one (a
 * file sink's writes run on libuv's threads, so they overlap the main thread's work).
 */
const WRITES_AHEAD = 2;
const PROGRESS_MS = 250;
/**
 * Chunks forwarded at once (transport direct to a sink agent): each is a source read, maybe a
 * compression, and a round trip to the sink, so several overlap.
 */
const FORWARDS_AHEAD = 4;
/** Throttled writes go out in slices so the rate is smooth and progress moves within a chunk. */
const THROTTLED_SLICE = 256 * 1024;
/** Chunks per digest comparison at the source: 256 MiB of source reads per round trip. */
const COMPARE_BATCH = 64;

/** One run of `Replicator.copyDisk`; construct, call `run()` once. */
export class DiskCopy {
  private state!: ReplicaState;
  private plan!: Uint8Array;
  private readonly throttle: Throttle;
  private readonly chunkSize = CHUNK_SIZE;
  private zeros: Buffer | null = null;
  /** Incremental runs with changed areas: the areas, merged, for partial chunk reads; else null. */
  private changedAreas: ByteRange[] | null = null;
  private planned = 0;
  private done = 0;
  private resumedFrom = 0;
  private readBytes = 0;
  private sentBytes = 0;
  private chunksSent = 0;
  private chunksSkipped = 0;
  private sinceCheckpoint = 0;
  private lastCheckpoint = 0;
  /** The write limit of the last saved checkpoint (the state's own may be ahead while one is saved). */
  private writeLimit = 0;
  /** The checkpoint running or last run: checkpoints are chained, never concurrent. */
  private checkpoints: Promise<void> = Promise.resolve();
  /** A background checkpoint or write failed: the copy stops with it. */
  private backgroundFailure: Error | null = null;
  /** Sink writes not yet finished (at most WRITES_AHEAD + 1). */
  private readonly writes = new Set<Promise<void>>();
  /** Chunks forwarded to a sink agent and not answered yet (transport direct). */
  private readonly forwarding = new Set<number>();
  /** Checks what each checkpoint made durable while the copy goes on (verifier.ts). */
  private verifier: ChunkVerifier | null = null;
  /** Set when the source disk sends chunks to the sink itself (transport direct to a sink agent). */
  private forwarder: ChunkForwarder | null = null;
  /** Bytes the forwarder put on the source → sink link (they never passed through the engine). */
  private forwardedBytes = 0;

  constructor(
    private readonly req: DiskCopyRequest,
    private readonly store: StateStore,
    private readonly log: Logger,
  ) {
    this.throttle = throttleFor(req.limitMbps);
  }

  async run(): Promise<DiskCopyResult> {
    const { disk, sink, signal } = this.req;
    if (sink.sizeBytes < disk.sizeBytes) {
      throw new RehostError('CONFLICT', `target volume holds ${sink.sizeBytes} bytes but source disk ${disk.index} has ${disk.sizeBytes}`);
    }
    signal.throwIfAborted();
    await this.prepare();
    const ticker = setInterval(() => this.report(), PROGRESS_MS);
    try {
      this.report();
      this.forwarder = (await disk.forwardTo?.(sink, signal)) ?? null;
      await this.copyChunks();
      await this.checkpoint(this.plan.length);
      await this.verify();
      await this.complete();
    } finally {
      clearInterval(ticker);
      // A failed copy's background verification must not outlive it (it reads the sink).
      await this.verifier?.settle();
      await this.forwarder?.close().catch(() => undefined);
    }
    this.report();
    return this.result();
  }

  /** Loads the state, decides between resuming and a new run, plans, and records the run start. */
  private async prepare(): Promise<void> {
    const { disk, key, mode, signal, sink } = this.req;
    const recorded = await this.store.exists(key);
    const blank = await sink.isBlank();
    this.state = await this.store.load(key, disk.sizeBytes, this.chunkSize, blank);
    if (!blank) await this.store.rebuildFromTarget(key, this.state, sink, signal);
    const fingerprint = `${disk.sizeBytes}/${this.chunkSize}/${disk.marker() ?? ''}`;
    const resuming = this.state.run !== null && this.state.run.fingerprint === fingerprint;
    if (!resuming) beginRun(this.state, { id: randomUUID(), fingerprint, cursor: 0, writeLimit: 0 });
    const areas = await disk.areas(signal);
    // Partial reads trust the target's copy of a chunk's unchanged rest: only where a state file
    // recorded it (a fresh state's "zero" merely means a blank volume).
    if (mode === 'incremental' && areas !== null && recorded) this.changedAreas = mergeRanges(areas, disk.sizeBytes);
    const digests = this.state.digests;
    this.plan = planChunks({ diskSize: disk.sizeBytes, chunkSize: this.chunkSize, mode, areas, targetMayHoldData: (i) => digests[i] !== ZERO_DIGEST });
    this.planned = plannedBytes(this.plan, disk.sizeBytes, this.chunkSize);
    for (let i = 0; i < this.plan.length; i++) {
      if (this.plan[i] !== ChunkAction.None && getBit(this.state.done, i)) this.resumedFrom += this.len(i);
    }
    this.done = this.resumedFrom;
    if (resuming) this.log.info({ key, run: this.state.run?.id, resumedFromBytes: this.resumedFrom }, 'resuming an interrupted disk copy');
    this.verifier = new ChunkVerifier({
      sink,
      signal,
      range: (i) => ({ offset: i * this.chunkSize, length: this.len(i) }),
      written: (i) => getBit(this.state.written, i),
      expected: (i) => this.state.digests[i]!,
    });
    await this.checkpoint(0);
  }

  /**
   * Walks the plan in disk order. A source that can compare digests where the data lives is asked
   * first, a batch at a time, so only changed chunks are read across the link.
   */
  private async copyChunks(): Promise<void> {
    const todo: number[] = [];
    for (let i = 0; i < this.plan.length; i++) if (this.plan[i] !== ChunkAction.None && !getBit(this.state.done, i)) todo.push(i);
    if (this.req.disk.changedChunks === undefined) return this.copyList(todo);
    for (let at = 0; at < todo.length; at += COMPARE_BATCH) {
      await this.copyList(await this.compareAtSource(todo.slice(at, at + COMPARE_BATCH)));
    }
  }

  /**
   * Marks the batch's unchanged chunks done without reading them and returns those still to copy;
   * a chunk that became all zeros is zero-filled without a read.
   */
  private async compareAtSource(batch: number[]): Promise<number[]> {
    const { disk, signal } = this.req;
    const known = new Map<number, bigint>();
    // Where the target holds zeros, comparing saves nothing: the chunk is read, and a zero chunk
    // costs the source a few bytes on the wire.
    for (const i of batch) if (this.plan[i] === ChunkAction.Read && this.state.digests[i] !== ZERO_DIGEST) known.set(i, this.state.digests[i]!);
    let changed: Map<number, bigint>;
    try {
      changed = known.size === 0 ? new Map() : await disk.changedChunks!(known, this.chunkSize, signal);
    } catch (err) {
      await this.checkpointAfterFailure(batch[0] ?? 0, err);
      throw signal.aborted ? signal.reason : err;
    }
    const rest: number[] = [];
    for (const i of batch) {
      const digest = changed.get(i);
      if (known.has(i) && digest === undefined) {
        this.chunksSkipped++;
        this.done += this.len(i);
        setBit(this.state.done, i);
        continue;
      }
      if (digest === ZERO_DIGEST) this.plan[i] = ChunkAction.Zero;
      rest.push(i);
    }
    if (Date.now() - this.lastCheckpoint >= CHECKPOINT_MS) await this.checkpoint(rest[0] ?? batch[batch.length - 1]! + 1);
    return rest;
  }

  /** Copies the listed chunks in order, keeping READ_AHEAD source reads in flight. */
  private async copyList(todo: number[]): Promise<void> {
    const { signal } = this.req;
    const reads = new Map<number, Promise<FetchedChunk>>();
    let current = 0;
    try {
      for (let pos = 0; pos < todo.length; pos++) {
        current = todo[pos]!;
        signal.throwIfAborted();
        if (this.forwarder !== null) {
          await this.forwardChunk(current, this.forwarder);
          continue;
        }
        for (let k = pos; k < Math.min(todo.length, pos + 1 + READ_AHEAD); k++) this.prefetch(todo[k]!, reads);
        const pending = reads.get(current);
        reads.delete(current);
        const fetched = pending === undefined ? null : await pending;
        const stored = await this.processChunk(current, fetched);
        if (fetched !== null) {
          // Written (or skipped) and hashed: a source that pools its chunk buffers may reuse this one.
          const release = () => this.req.disk.release?.(fetched.data);
          if (stored === null) release();
          else stored.write.then(release, release);
        }
      }
      // The last writes may still fail: the copy is not over before they are in.
      await Promise.allSettled([...this.writes]);
      if (this.backgroundFailure !== null) throw this.backgroundFailure;
    } catch (err) {
      // `current` was not finished: it stays inside the suspect window of this checkpoint.
      await this.checkpointAfterFailure(current, err);
      throw signal.aborted ? signal.reason : err;
    } finally {
      await Promise.allSettled([...reads.values(), ...this.writes]);
    }
  }

  private prefetch(index: number, reads: Map<number, Promise<FetchedChunk>>): void {
    if (this.plan[index] !== ChunkAction.Read || reads.has(index)) return;
    const read = this.fetchChunk(index);
    // Observed now so a failure while an earlier chunk is still being written is not "unhandled".
    read.catch(() => undefined);
    reads.set(index, read);
  }

  /**
   * A chunk only partly covered by an incremental run's changed areas, whose target copy is known,
   * is assembled from the changed pieces and the target's copy; any other chunk is read whole.
   */
  private async fetchChunk(index: number): Promise<FetchedChunk> {
    const { disk, sink, signal, key } = this.req;
    const expected = this.state.digests[index]!;
    const pieces = this.changedAreas === null || expected === UNKNOWN_DIGEST ? null : partialPlan(this.changedAreas, index * this.chunkSize, this.len(index));
    if (pieces !== null) {
      const got = await readPartialChunk({ disk, sink, signal }, index * this.chunkSize, this.len(index), pieces, expected);
      if (got !== null) return got;
      this.log.warn({ key, chunk: index }, 'the target chunk no longer matches its recorded digest; reading it whole');
    }
    const data = await this.readChunk(index);
    return { data, readBytes: data.byteLength, writeRanges: null };
  }

  private async readChunk(index: number): Promise<Uint8Array> {
    const length = this.len(index);
    const offset = index * this.chunkSize;
    const data = await this.req.disk.read(offset, length, this.req.signal);
    if (data.byteLength !== length) {
      throw new RehostError('DRIVER', `source disk ${this.req.disk.index} returned ${data.byteLength} bytes at offset ${offset} (asked for ${length})`);
    }
    return data;
  }

  /**
   * Skips a chunk the target already holds (null); otherwise starts its write, returned (boxed:
   * an async function would wait for a promise it returns), and checkpoints when due.
   */
  private async processChunk(index: number, fetched: FetchedChunk | null): Promise<{ write: Promise<void> } | null> {
    if (this.backgroundFailure !== null) throw this.backgroundFailure;
    const length = this.len(index);
    const data = fetched?.data ?? null;
    this.readBytes += fetched?.readBytes ?? 0;
    const digest = data === null ? ZERO_DIGEST : chunkDigest(data);
    if (digest === this.state.digests[index]) {
      this.chunksSkipped++;
      this.done += length;
      setBit(this.state.done, index);
      if (Date.now() - this.lastCheckpoint >= CHECKPOINT_MS) await this.checkpoint(index + 1);
      return null;
    }
    if (index >= this.writeLimit) await this.checkpoint(index);
    const stored = this.startWrite(index, data ?? this.zeroChunk(length), fetched?.writeRanges ?? null, digest);
    this.chunksSent++;
    this.sinceCheckpoint += length;
    if (this.sinceCheckpoint >= CHECKPOINT_BYTES || Date.now() - this.lastCheckpoint >= CHECKPOINT_MS) this.checkpointInBackground(index + 1);
    // Throttled copies write one chunk at a time, so the rate stays smooth.
    const ahead = this.throttle === UNLIMITED ? WRITES_AHEAD : 0;
    while (this.writes.size > ahead) await Promise.race(this.writes).catch(() => undefined);
    if (this.backgroundFailure !== null) throw this.backgroundFailure;
    return { write: stored };
  }

  /**
   * Starts writing chunk `index` and records it as done: a checkpoint waits for every write
   * started before it, so it never claims one still in flight. A failed write makes the chunk
   * unknown again and stops the copy.
   */
  private startWrite(index: number, data: Uint8Array, ranges: readonly ByteRange[] | null, digest: bigint): Promise<void> {
    this.state.digests[index] = digest;
    setBit(this.state.written, index);
    setBit(this.state.done, index);
    const write = this.send(index, data, ranges).catch((err: unknown) => {
      this.state.digests[index] = UNKNOWN_DIGEST;
      clearBit(this.state.done, index);
      this.backgroundFailure ??= err instanceof Error ? err : new Error(String(err));
      throw err;
    });
    return this.track(write);
  }

  /** Holds `write` among the writes a checkpoint waits for, until it settles. */
  private track(write: Promise<void>): Promise<void> {
    const forget = () => void this.writes.delete(write);
    write.then(forget, forget);
    this.writes.add(write);
    return write;
  }

  /** Writes the chunk, or only `ranges` of it (chunk-relative) when the rest already matches the target. */
  private async send(index: number, data: Uint8Array, ranges: readonly ByteRange[] | null): Promise<void> {
    const { sink, signal } = this.req;
    const offset = index * this.chunkSize;
    const slice = this.throttle === UNLIMITED ? data.byteLength : THROTTLED_SLICE;
    let sent = 0;
    for (const r of ranges ?? [{ offset: 0, length: data.byteLength }]) {
      for (let at = r.offset; at < r.offset + r.length; at += slice) {
        const part = data.subarray(at, Math.min(r.offset + r.length, at + slice));
        await this.throttle.take(part.byteLength, signal);
        await sink.write(offset + at, part);
        this.sentBytes += part.byteLength;
        this.done += part.byteLength;
        sent += part.byteLength;
      }
    }
    this.done += data.byteLength - sent;
  }

  /**
   * Transport direct to a sink agent: the source reads the chunk, skips it when it matches what
   * the target holds, else writes it to the sink itself; only its digest comes back. Tracked with
   * the writes, so a checkpoint waits for its answer as for a write.
   */
  private async forwardChunk(index: number, forwarder: ChunkForwarder): Promise<void> {
    if (this.backgroundFailure !== null) throw this.backgroundFailure;
    if (index >= this.writeLimit) await this.checkpoint(index);
    const { signal } = this.req;
    const length = this.len(index);
    const held = this.state.digests[index]!;
    // In doubt until the sink has answered.
    this.state.digests[index] = UNKNOWN_DIGEST;
    setBit(this.state.done, index);
    const chunk = { offset: index * this.chunkSize, length, held, zero: this.plan[index] === ChunkAction.Zero };
    this.forwarding.add(index);
    const write = forwarder.forward(chunk, signal).then(
      async (got) => {
        this.state.digests[index] = got.digest;
        this.forwarding.delete(index);
        this.done += length;
        // Answers may come long after their dispatch (a paced source): checkpoints keep to the clock.
        if (Date.now() - this.lastCheckpoint >= CHECKPOINT_MS) this.checkpointForwards(index + 1);
        if (!got.written) return void this.chunksSkipped++;
        setBit(this.state.written, index);
        this.chunksSent++;
        this.sentBytes += length;
        this.sinceCheckpoint += length;
        this.forwardedBytes += got.linkBytes;
        // The bytes have left already: the limit holds over the run, one chunk at a time.
        await this.throttle.take(got.linkBytes, signal);
      },
      (err: unknown) => {
        clearBit(this.state.done, index);
        this.backgroundFailure ??= err instanceof Error ? err : new Error(String(err));
        throw err;
      },
    );
    this.track(write);
    if (this.sinceCheckpoint >= CHECKPOINT_BYTES || Date.now() - this.lastCheckpoint >= CHECKPOINT_MS) this.checkpointForwards(index + 1);
    const ahead = this.throttle === UNLIMITED ? FORWARDS_AHEAD : 0;
    while (this.writes.size > ahead) await Promise.race(this.writes).catch(() => undefined);
    if (this.backgroundFailure !== null) throw this.backgroundFailure;
  }

  /**
   * Makes everything written so far durable, then records it: chunks below `cursor` are done,
   * and nothing at or past `cursor + WRITE_WINDOW` will be written before the next checkpoint.
   */
  private checkpoint(cursor: number, writes: Promise<void>[] = [...this.writes]): Promise<void> {
    // Writes started so far end before the flush (a failed one already made its chunk unknown,
    // so the rest is still worth keeping); one checkpoint at a time, in order.
    const next = this.checkpoints.then(async () => {
      await Promise.allSettled(writes);
      await this.checkpointNow(cursor);
    });
    this.checkpoints = next.catch(() => undefined);
    return next;
  }

  /**
   * A checkpoint the copy does not wait for. Safe because the state it saves claims only chunks
   * below `cursor` (all written before the flush began); chunks written meanwhile stay below the
   * write limit the previous checkpoint recorded, so a crash leaves them suspect, not trusted.
   */
  private checkpointInBackground(cursor: number, writes: Promise<void>[] = [...this.writes]): void {
    this.sinceCheckpoint = 0;
    this.lastCheckpoint = Date.now();
    this.checkpoint(cursor, writes).catch((err: unknown) => (this.backgroundFailure ??= err instanceof Error ? err : new Error(String(err))));
  }

  /**
   * A background checkpoint while chunks are forwarded: it claims only the chunks below the
   * first unanswered one (at most `limit`), all answered, so it waits for no forward in flight
   * (one to a sink that is going away may never end) and a sink lost meanwhile costs only those.
   */
  private checkpointForwards(limit: number): void {
    this.checkpointInBackground(Math.min(limit, ...this.forwarding), []);
  }

  private async checkpointNow(cursor: number): Promise<void> {
    await this.req.sink.flush();
    const run = this.state.run!;
    run.cursor = cursor;
    run.writeLimit = cursor + WRITE_WINDOW;
    await this.store.save(this.req.key, checkpointView(this.state, cursor));
    // Only a saved limit may be written up to (a crash before the save leaves the older one).
    this.writeLimit = run.writeLimit;
    this.lastCheckpoint = Date.now();
    this.sinceCheckpoint = 0;
    // Durable now, and no later write of this run goes below the cursor: check them meanwhile.
    this.verifier?.advance(cursor);
  }

  /** On abort or failure, keeps what is durable; a broken sink may refuse, and then the last checkpoint stands. */
  private async checkpointAfterFailure(cursor: number, err: unknown): Promise<void> {
    try {
      await this.checkpoint(cursor);
    } catch (again) {
      this.log.warn({ key: this.req.key, err: String(again), cause: String(err) }, 'could not checkpoint after the copy stopped');
    }
  }

  /**
   * Compares what the target holds in every chunk this run wrote with the digest taken from the
   * source; most of it was checked behind the copy already (verifier.ts), this waits for the rest.
   */
  private async verify(): Promise<void> {
    const { key } = this.req;
    const bad = await this.verifier!.finish(this.plan.length);
    if (bad.length === 0) return;
    for (const i of bad) {
      this.state.digests[i] = UNKNOWN_DIGEST;
      clearBit(this.state.done, i);
    }
    await this.store.save(key, this.state);
    const offsets = bad.slice(0, 8).map((i) => `0x${(i * this.chunkSize).toString(16)}`);
    const more = bad.length > 8 ? ` and ${bad.length - 8} more` : '';
    throw new RehostError('DRIVER', `verification failed for disk ${this.req.disk.index}: the target differs from the source in ${bad.length} chunk(s) of ${formatMiB(this.chunkSize)} at offset(s) ${offsets.join(', ')}${more}`);
  }

  private async complete(): Promise<void> {
    const runId = this.state.run?.id;
    this.state.run = null;
    this.state.done.fill(0);
    this.state.written.fill(0);
    await this.store.save(this.req.key, this.state);
    this.log.info({ key: this.req.key, run: runId, diskDigest: diskDigest(this.state.digests), sentBytes: this.sentBytes }, 'disk copy verified');
  }

  private result(): DiskCopyResult {
    const resumed = this.resumedFrom > 0 ? `, resumed from ${formatMiB(this.resumedFrom)}` : '';
    const forwarded = this.forwarder === null ? '' : `; forwarded ${formatMiB(this.forwardedBytes)} on the link ${this.forwarder.description}, none through the engine`;
    const summary =
      `${this.req.mode}: ${formatMiB(this.planned)} planned, ${formatMiB(this.sentBytes)} sent, ` +
      `${this.chunksSent} chunks sent, ${this.chunksSkipped} skipped (zero/unchanged)${resumed}, verified${forwarded}`;
    return {
      plannedBytes: this.planned,
      readBytes: this.readBytes,
      sentBytes: this.sentBytes,
      chunksSent: this.chunksSent,
      chunksSkipped: this.chunksSkipped,
      resumedFromBytes: this.resumedFrom,
      verified: true,
      summary,
    };
  }

  private report(): void {
    this.req.onProgress(Math.min(this.done, this.planned), this.planned);
  }

  private len(index: number): number {
    return chunkLength(index, this.req.disk.sizeBytes, this.chunkSize);
  }

  /** One shared buffer of zeros; the sink copies or writes it before `write` resolves. */
  private zeroChunk(length: number): Uint8Array {
    this.zeros ??= Buffer.alloc(this.chunkSize);
    return this.zeros.subarray(0, length);
  }
}
