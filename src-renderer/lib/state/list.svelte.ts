/**
 * The common part of every list the renderer shows: items, total, loading and error, with
 * answers to stale requests dropped (a slow page 1 never overwrites page 2) and event-driven
 * reloads coalesced into one request.
 */
import { toApiError, type ApiError } from '../api/index.js';

export interface Page<T> {
  items: T[];
  total: number;
}

export abstract class ListState<T> {
  items = $state<T[]>([]);
  total = $state(0);
  loading = $state(false);
  /** Why the last load failed (shown above the list, with a retry). */
  error = $state<ApiError | null>(null);
  /** Whether the list was ever asked for: events only reload lists someone looks at. */
  active = $state(false);
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;

  protected abstract fetchPage(): Promise<Page<T>>;

  async load(): Promise<void> {
    const seq = ++this.#seq;
    this.active = true;
    this.loading = true;
    try {
      const page = await this.fetchPage();
      if (seq !== this.#seq) return;
      this.items = page.items;
      this.total = page.total;
      this.error = null;
    } catch (err) {
      if (seq === this.#seq) this.error = toApiError(err);
    } finally {
      if (seq === this.#seq) this.loading = false;
    }
  }

  /** Reloads soon, once for a burst of events. */
  scheduleReload(delayMs = 300): void {
    if (!this.active || this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.load();
    }, delayMs);
  }

  /** Stops event-driven reloads while no screen shows the list (the next `load` resumes). */
  pause(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.active = false;
  }

  /** Forgets everything (sign-out). */
  reset(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#seq++;
    this.items = [];
    this.total = 0;
    this.loading = false;
    this.error = null;
    this.active = false;
  }
}
