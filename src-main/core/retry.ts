/**
 * The one bounded retry helper every driver uses (STYLE rule 6): a few attempts with a doubling
 * delay, only for failures the caller says are worth another try, and never past an abort.
 */
import { RehostError } from '../../src-shared/errors.js';

export interface RetryOptions {
  attempts: number;
  delayMs: number;
  /** Whether a failure is worth another attempt (a dropped connection, a 5xx), not a refusal. */
  retryable: (err: unknown) => boolean;
  signal?: AbortSignal;
  /** Told before each wait: the failure, the attempt that failed (1-based) and the wait ahead. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** Runs `fn` up to `attempts` times, waiting `delayMs` (doubling) between retryable failures. */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  let delay = options.delayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= options.attempts || options.signal?.aborted || !options.retryable(err)) throw err;
      options.onRetry?.(err, attempt, delay);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        options.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
      // Aborted while waiting: the last failure stands, no further attempt.
      if (options.signal?.aborted) throw err;
      delay *= 2;
    }
  }
}

/** Node's error codes for a connection that dropped, was refused or timed out. */
const LINK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'ERR_STREAM_PREMATURE_CLOSE', 'ECHANNELCLOSED']);

/**
 * Whether a failure is the link itself (a dropped or refused connection, a channel whose far end
 * went away), which a reconnect may cure, rather than an answer from the far end (a disk error,
 * a full target, a refusal), which it would not. Follows `cause` a few levels, so a driver's
 * wrapped error still tells.
 */
export function isLinkFailure(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    if (RehostError.is(e, 'UNAVAILABLE')) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && LINK_CODES.has(code)) return true;
    e = e.cause;
  }
  return false;
}
