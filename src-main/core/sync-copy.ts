/**
 * The copy steps of a sync: each disk through the replicator, and a link that drops mid-copy (a
 * killed agent, a cut connection, a rebooted host) is reconnected within the same job: after a
 * bounded backoff the source view is opened again, the sink reopened, and the copy resumes from
 * its last checkpoint. Each reconnect is written into the step's detail; only a link that stays
 * down fails the job (retryable, from the same checkpoint).
 */
import { RehostError, errors } from '../../src-shared/errors.js';
import type { EngineCore } from './engine-core.js';
import type { SourceSnapshot, TargetDriver } from './drivers.js';
import { describeFailure, type JobContext } from './jobs.js';
import type { Host, Volume } from './model.js';
import type { DiskCopyResult } from './replicator.js';
import { isLinkFailure, withRetry } from './retry.js';

/** Reconnects per disk copy after a dropped link… */
export const RECONNECT_ATTEMPTS = 3;
/** …waiting 4, 8 and 16 s before them: a link down for about half a minute fails the step. */
export const RECONNECT_DELAY_MS = 4000;

/** The source view a sync reads from; reopened after the link dropped. */
export class SourceLink {
  constructor(
    private current: SourceSnapshot,
    private readonly open: () => Promise<SourceSnapshot>,
    private readonly core: EngineCore,
    private readonly hostId: string,
  ) {}

  get view(): SourceSnapshot {
    return this.current;
  }

  /** Lets the old view go (its connection is likely gone: errors are logged) and opens a new one. */
  async reopen(): Promise<void> {
    await this.release();
    this.current = await this.open();
  }

  async close(): Promise<void> {
    await this.current.close();
  }

  /** Closes without failing: for a view whose copy already failed. */
  async release(): Promise<void> {
    await this.current.close().catch((err: unknown) => this.core.log.warn({ host: this.hostId, err: String(err) }, 'closing the source snapshot failed'));
  }
}

export interface CopyDisksInput {
  ctx: JobContext;
  host: Host;
  link: SourceLink;
  volumes: Volume[];
  target: TargetDriver;
  mode: 'full' | 'incremental';
  /** Called on each progress tick (the caller persists now and then). */
  onTick(): void;
}

export interface CopiedDisks {
  summary: string;
  markers: Record<string, string | null>;
}

/** Copies every disk of the view in order, one job step per disk. */
export async function copyDisks(core: EngineCore, input: CopyDisksInput): Promise<CopiedDisks> {
  const { ctx, host, link } = input;
  const markers: Record<string, string | null> = {};
  let summary = '';
  const total = link.view.disks.reduce((n, d) => n + d.sizeBytes, 0);
  core.progress.update(host.id, 0, total, 'syncing');
  let doneBefore = 0;
  for (const index of link.view.disks.map((d) => d.index)) {
    const volume = input.volumes.find((v) => v.diskIndex === index);
    if (!volume) throw errors.conflict(`target has no volume for disk ${index}`);
    const step = `Copy disk ${index}`;
    const copyStarted = core.clock.now();
    const { result, reconnects } = await ctx.step(step, () => copyWithReconnects(core, input, index, volume, doneBefore));
    // The copy time, so "sent ÷ time" is the data path's own throughput (the demo prints it).
    const copied = `; copied in ${((core.clock.now() - copyStarted) / 1000).toFixed(2)} s`;
    const transport = link.view.transport ? `; transport ${link.view.transport.split(' ')[0]}` : '';
    const again = reconnects.length === 0 ? '' : `; reconnected ${reconnects.length} time(s): ${reconnects.join('; ')}`;
    ctx.note(step, `${result.summary}${copied}${transport}${again}`);
    summary += `${summary ? '; ' : ''}disk ${index}: ${result.summary}`;
    const disk = diskOf(link.view, index);
    doneBefore += disk.sizeBytes;
    markers[String(index)] = disk.marker();
  }
  return { summary, markers };
}

function diskOf(view: SourceSnapshot, index: number) {
  const disk = view.disks.find((d) => d.index === index);
  if (!disk) throw new RehostError('CONFLICT', `the source no longer offers disk ${index}`);
  return disk;
}

/**
 * One disk's copy, tried again after each dropped link with a fresh view and sink; the
 * replicator resumes each attempt from the checkpoint the previous one left.
 */
async function copyWithReconnects(core: EngineCore, input: CopyDisksInput, index: number, volume: Volume, doneBefore: number): Promise<{ result: DiskCopyResult; reconnects: string[] }> {
  const { ctx, host, link } = input;
  const step = `Copy disk ${index}`;
  const reconnects: string[] = [];
  /** When the link was first lost. */
  let lostAt = 0;
  let attempt = 0;
  const once = async (): Promise<DiskCopyResult> => {
    if (attempt++ > 0) {
      core.progress.update(host.id, core.progress.get(host.id)?.doneBytes ?? doneBefore, undefined, 'reconnecting');
      await link.reopen();
    }
    return copyOnce(core, input, diskOf(link.view, index), volume, doneBefore);
  };
  try {
    const result = await withRetry(once, {
      attempts: RECONNECT_ATTEMPTS + 1,
      delayMs: RECONNECT_DELAY_MS,
      retryable: isLinkFailure,
      signal: ctx.signal,
      onRetry: (err, failed, delayMs) => {
        if (reconnects.length === 0) lostAt = Date.now();
        reconnects.push(`link lost (${describeFailure(err)}), reconnect ${failed}/${RECONNECT_ATTEMPTS} after ${delayMs / 1000} s`);
        core.log.warn({ host: host.id, disk: index, err: describeFailure(err), delayMs }, 'sync link lost; reconnecting');
        void ctx.noteNow(step, reconnects.join('; ')).catch(() => undefined);
      },
    });
    return { result, reconnects };
  } catch (err) {
    if (reconnects.length === 0 || !isLinkFailure(err) || ctx.signal.aborted) throw err;
    const seconds = Math.round((Date.now() - lostAt) / 1000);
    throw new RehostError('UNAVAILABLE', `${describeFailure(err)} (the link did not come back: ${reconnects.length} reconnect attempt(s) over ${seconds} s; retry the sync to resume from the last checkpoint)`, { hostId: host.id, step }, { cause: err });
  }
}

async function copyOnce(core: EngineCore, input: CopyDisksInput, disk: SourceSnapshot['disks'][number], volume: Volume, doneBefore: number): Promise<DiskCopyResult> {
  const { ctx, host, link } = input;
  const sink = await input.target.openSink(volume, ctx.signal);
  try {
    return await core.replicator.copyDisk({
      key: volume.id,
      disk,
      sink,
      mode: input.mode,
      // A source that paces itself already holds the link to the limit.
      limitMbps: link.view.paced ? null : host.transferSpeed,
      signal: ctx.signal,
      onProgress: (done, planned) => {
        core.progress.update(host.id, doneBefore + (done / Math.max(planned, 1)) * disk.sizeBytes, undefined, 'syncing');
        input.onTick();
      },
    });
  } finally {
    await sink.close().catch((err: unknown) => core.log.warn({ host: host.id, err: String(err) }, 'closing the target volume failed'));
  }
}
