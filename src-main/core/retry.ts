/**
 * The one bounded retry helper every driver uses (STYLE rule 6): a few attempts with a doubling
 * delay, only for failures the caller says are worth another try, and never past an abort.
 */

export interface RetryOptions {
  attempts: number;
  delayMs: number;
  /** Whether a failure is worth another attempt (a dropped connection, a 5xx), not a refusal. */
  retryable: (err: unknown) => boolean;
  signal?: AbortSignal;
}

/** Runs `fn` up to `attempts` times, waiting `delayMs` (doubling) between retryable failures. */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  let delay = options.delayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= options.attempts || options.signal?.aborted || !options.retryable(err)) throw err;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        options.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
      delay *= 2;
    }
  }
}
