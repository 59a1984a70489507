/** The one bounded retry helper of the vSphere driver. */

export interface RetryOptions {
  attempts: number;
  delayMs: number;
  /** Whether a failure is worth another attempt (network errors, not faults). */
  retryable: (err: unknown) => boolean;
  signal: AbortSignal;
}

/** Runs `fn` up to `attempts` times, waiting `delayMs` (doubling) between retryable failures. */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  let delay = options.delayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= options.attempts || options.signal.aborted || !options.retryable(err)) throw err;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        options.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
      delay *= 2;
    }
  }
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'UND_ERR_SOCKET']);

/** True for errors from a dropped or refused connection. */
export function isNetworkError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NETWORK_CODES.has(code);
}
