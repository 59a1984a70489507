/**
 * The job runner. Every action is a job with named steps; a job that fails names the step and
 * the reason, and its `onFailure` puts the owner back into a state it can be retried from.
 */
import type { JobType } from '../../src-shared/states.js';
import { RehostError } from '../../src-shared/errors.js';
import type { EventBus } from './events.js';
import { newId } from './ids.js';
import type { Job, JobStep } from './model.js';
import type { Clock, Logger, Store } from './ports.js';

export interface JobSpec {
  type: JobType;
  ownerId: string | null;
  ownerKind: Job['ownerKind'];
  ownerName: string;
  description: string;
  steps: string[];
  params?: Record<string, unknown>;
}

export interface JobContext {
  readonly job: Job;
  readonly signal: AbortSignal;
  /** Runs one named step: marks it working, then done or failed, persisting each change. */
  step<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Marks a declared step skipped with a reason (e.g. "no snapshot requested"). */
  skip(name: string, why: string): Promise<void>;
  /** Sets the step's detail line (shown in the jobs list). */
  note(name: string, detail: string): void;
  /** Sets the step's detail line and saves the job now, so the jobs list shows it while the step runs. */
  noteNow(name: string, detail: string): Promise<void>;
}

export interface JobHooks {
  run(ctx: JobContext): Promise<string | void>;
  /** Leaves the owner retryable; runs before the job is marked failed. */
  onFailure?(reason: string, step: string | null, job: Job): void | Promise<void>;
}

export const INTERRUPTED_BY_RESTART = 'interrupted by restart';

export class JobRunner {
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();

  constructor(private readonly deps: { store: Store; events: EventBus; log: Logger; clock: Clock }) {}

  /** Creates and persists the job, then runs it in the background. */
  async start(spec: JobSpec, hooks: JobHooks): Promise<Job> {
    const now = this.deps.clock.now();
    const job: Job = {
      id: newId(),
      eventId: newId(),
      type: spec.type,
      ownerId: spec.ownerId,
      ownerKind: spec.ownerKind,
      ownerName: spec.ownerName,
      description: spec.description,
      status: 'working',
      detail: 'Working',
      failedStep: null,
      failureReason: null,
      steps: spec.steps.map((name) => ({ name, status: 'pending', startAt: null, endAt: null, detail: null })),
      params: spec.params ?? {},
      startAt: now,
      endAt: null,
      updatedAt: now,
    };
    this.deps.store.jobs.put(job);
    await this.deps.store.persist();
    this.deps.events.emit('job', job.id, { status: job.status, type: job.type, owner_id: job.ownerId });
    const controller = new AbortController();
    const done = this.execute(job, hooks, controller.signal).finally(() => this.running.delete(job.id));
    this.running.set(job.id, { controller, done });
    return job;
  }

  /** Asks a running job to stop; its steps see an aborted signal. */
  cancel(jobId: string, reason: string): boolean {
    const entry = this.running.get(jobId);
    if (!entry) return false;
    entry.controller.abort(new RehostError('CONFLICT', reason));
    return true;
  }

  isRunning(jobId: string): boolean {
    return this.running.has(jobId);
  }

  /** Waits for a job (tests, shutdown). */
  async wait(jobId: string): Promise<void> {
    await this.running.get(jobId)?.done;
  }

  /** Aborts every running job and waits for them to settle (clean shutdown). */
  async close(reason = 'engine shutting down'): Promise<void> {
    for (const { controller } of this.running.values()) controller.abort(new RehostError('UNAVAILABLE', reason));
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }

  private async execute(job: Job, hooks: JobHooks, signal: AbortSignal): Promise<void> {
    const run = new JobExecution(job, signal, this.deps);
    try {
      const detail = await hooks.run(run.context);
      job.status = 'done';
      job.detail = detail ?? 'Done';
      job.endAt = this.deps.clock.now();
      await run.save();
    } catch (err) {
      await run.fail(describeFailure(err, signal), hooks);
    }
  }
}

/** One running job: its step bookkeeping and persistence. */
class JobExecution {
  private current: string | null = null;
  readonly context: JobContext;

  constructor(
    private readonly job: Job,
    signal: AbortSignal,
    private readonly deps: { store: Store; events: EventBus; log: Logger; clock: Clock },
  ) {
    this.context = {
      job,
      signal,
      step: async (name, fn) => {
        signal.throwIfAborted();
        const step = this.findStep(name);
        this.current = name;
        step.status = 'working';
        step.startAt = deps.clock.now();
        job.detail = name;
        await this.save();
        const result = await fn();
        step.status = 'done';
        step.endAt = deps.clock.now();
        await this.save();
        return result;
      },
      skip: async (name, why) => {
        const step = this.findStep(name);
        step.status = 'skipped';
        step.detail = why;
        await this.save();
      },
      note: (name, detail) => {
        this.findStep(name).detail = detail;
      },
      noteNow: async (name, detail) => {
        this.findStep(name).detail = detail;
        await this.save();
      },
    };
  }

  async save(): Promise<void> {
    this.job.updatedAt = this.deps.clock.now();
    this.deps.store.jobs.put(this.job);
    await this.deps.store.persist();
    this.deps.events.emit('job', this.job.id, { status: this.job.status, type: this.job.type, owner_id: this.job.ownerId, step: this.current });
  }

  /** Marks the current step and the job failed, after the owner was made retryable. */
  async fail(reason: string, hooks: JobHooks): Promise<void> {
    const { job, current, deps } = this;
    deps.log.warn({ job: job.id, type: job.type, step: current, reason }, 'job failed');
    if (current !== null) {
      const step = this.findStep(current);
      step.status = 'failed';
      step.endAt = deps.clock.now();
      step.detail = reason;
    }
    try {
      await hooks.onFailure?.(reason, current, job);
    } catch (hookErr) {
      deps.log.error({ job: job.id, err: String(hookErr) }, 'job failure hook failed');
    }
    job.status = 'failed';
    job.failedStep = current;
    job.failureReason = reason;
    job.detail = current === null ? `Failed: ${reason}` : `Failed at "${current}": ${reason}`;
    job.endAt = deps.clock.now();
    await this.save().catch((e: unknown) => deps.log.error({ err: String(e) }, 'could not persist failed job'));
  }

  private findStep(name: string): JobStep {
    let step = this.job.steps.find((s) => s.name === name);
    if (!step) {
      step = { name, status: 'pending', startAt: null, endAt: null, detail: null };
      this.job.steps.push(step);
    }
    return step;
  }
}

/** A one-line reason for the jobs list; driver errors keep their message, never a stack. */
export function describeFailure(err: unknown, signal?: AbortSignal): string {
  if (signal?.aborted) {
    const reason: unknown = signal.reason;
    if (reason instanceof Error) return reason.message;
  }
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
