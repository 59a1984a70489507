/** Polling a resource until it reaches a state, fails, or time runs out. */
import { RehostError } from '../../../../src-shared/errors.js';

export interface PollOptions {
  timeoutMs?: number;
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Calls `get` until `done` holds; `failed` returns a reason when the resource reached a state it
 * will not leave (e.g. `error`), which fails at once with that reason.
 */
export async function pollUntil<T>(what: string, get: () => Promise<T>, done: (v: T) => boolean, failed: (v: T) => string | null, options: PollOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 300_000);
  const interval = options.intervalMs ?? 1000;
  for (;;) {
    options.signal?.throwIfAborted();
    const value = await get();
    if (done(value)) return value;
    const reason = failed(value);
    if (reason !== null) throw new RehostError('DRIVER', `${what} failed: ${reason}`);
    if (Date.now() + interval > deadline) throw new RehostError('DRIVER', `${what}: still not ready after ${Math.round((options.timeoutMs ?? 300_000) / 1000)} s`);
    await new Promise((r) => setTimeout(r, interval));
  }
}
