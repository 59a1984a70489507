/**
 * A token bucket for the transfer speed limit (seed `transfer_speed`, megabits per second).
 * The bucket starts empty and holds at most a quarter second of tokens, so the rate over any few
 * seconds stays at the limit: no initial burst, and an idle pause (a run of unchanged chunks)
 * cannot be "saved up" into a long burst afterwards.
 */
import { setTimeout as sleep } from 'node:timers/promises';

const BURST_SECONDS = 0.25;

/** Paces sends to a rate. */
export interface Throttle {
  /** Waits until `bytes` may be sent. */
  take(bytes: number, signal: AbortSignal): Promise<void>;
}

/** No limit: returns at once. */
export const UNLIMITED: Throttle = { take: async () => undefined };

/** Bytes per second for a limit in megabits per second (1 Mbps = 1,000,000 bit/s). */
export function mbpsToBytesPerSecond(mbps: number): number {
  return (mbps * 1_000_000) / 8;
}

export class TokenBucket implements Throttle {
  private tokens = 0;
  private last: number;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) throw new RangeError(`rate must be a positive number (got ${bytesPerSecond})`);
    this.last = this.now();
  }

  /**
   * Spends the tokens at once and sleeps off any debt. Time spent sleeping (and oversleeping) is
   * credited by the next refill, so the long-run rate is the limit, not a bit under it.
   */
  async take(bytes: number, signal: AbortSignal): Promise<void> {
    this.refill();
    this.tokens -= bytes;
    if (this.tokens < 0) await sleep((-this.tokens / this.bytesPerSecond) * 1000, undefined, { signal });
  }

  private refill(): void {
    const t = this.now();
    const burst = this.bytesPerSecond * BURST_SECONDS;
    this.tokens = Math.min(burst, this.tokens + ((t - this.last) / 1000) * this.bytesPerSecond);
    this.last = t;
  }
}

/** The throttle for a request: `null` or a non-positive limit means unlimited. */
export function throttleFor(limitMbps: number | null): Throttle {
  if (limitMbps === null || !(limitMbps > 0)) return UNLIMITED;
  return new TokenBucket(mbpsToBytesPerSecond(limitMbps));
}
