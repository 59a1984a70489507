/**
 * The engine's Server-Sent Events stream (`GET /events?token=…`) with its own reconnect: any
 * error closes the EventSource and a new one opens after a growing delay (1 s, 2 s, 4 s … 30 s),
 * so a restarted engine or a renewed token is picked up. After a reconnect `onResync` fires:
 * events sent meanwhile are lost, so lists must be fetched again.
 */

export const EVENT_TYPES = ['host', 'job', 'target', 'source', 'snapshot', 'progress'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface EngineEvent {
  type: EventType;
  /** The id of the host, job, target, source or snapshot that changed. */
  id: string;
  data: Record<string, unknown>;
}

export type StreamStatus = 'connecting' | 'open' | 'waiting' | 'closed';

/** The part of `EventSource` the stream uses (tests pass a fake). */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}

export interface EventStreamOptions {
  /** The URL to connect to, or null when there is no session (the stream then waits). */
  url: () => string | null;
  onEvent: (event: EngineEvent) => void;
  onStatus?: (status: StreamStatus, retryInMs: number) => void;
  /** The stream opened again after a gap: events may have been missed. */
  onResync?: () => void;
  create?: (url: string) => EventSourceLike;
  minDelayMs?: number;
  maxDelayMs?: number;
}

/** The delay before reconnect attempt `attempt` (0-based): doubling from min, capped at max. */
export function backoffDelay(attempt: number, minMs = 1000, maxMs = 30_000): number {
  return Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
}

/** An event from its SSE type and data, or null when the data is not a JSON object with an id. */
export function parseEvent(type: EventType, data: string): EngineEvent | null {
  try {
    const parsed: unknown = JSON.parse(data);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
    const record = parsed as Record<string, unknown>;
    return typeof record.id === 'string' ? { type, id: record.id, data: record } : null;
  } catch {
    return null;
  }
}

export class EventStream {
  readonly #options: EventStreamOptions;
  #source: EventSourceLike | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #attempt = 0;
  #everOpened = false;
  #stopped = true;

  constructor(options: EventStreamOptions) {
    this.#options = options;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#connect();
  }

  close(): void {
    this.#stopped = true;
    this.#clearTimer();
    this.#drop();
    this.#attempt = 0;
    this.#everOpened = false;
    this.#options.onStatus?.('closed', 0);
  }

  #connect(): void {
    this.#timer = null;
    if (this.#stopped) return;
    const url = this.#options.url();
    if (url === null) {
      this.#retry();
      return;
    }
    const create = this.#options.create ?? ((u: string) => new EventSource(u));
    const source = create(url);
    this.#source = source;
    this.#options.onStatus?.('connecting', 0);
    source.onopen = () => {
      if (this.#source !== source) return;
      this.#attempt = 0;
      this.#options.onStatus?.('open', 0);
      if (this.#everOpened) this.#options.onResync?.();
      this.#everOpened = true;
    };
    source.onerror = () => {
      if (this.#source !== source) return;
      this.#drop();
      this.#retry();
    };
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (ev) => {
        if (this.#source !== source) return;
        const event = parseEvent(type, typeof ev.data === 'string' ? ev.data : '');
        if (event) this.#options.onEvent(event);
      });
    }
  }

  #retry(): void {
    if (this.#stopped) return;
    const delay = backoffDelay(this.#attempt++, this.#options.minDelayMs, this.#options.maxDelayMs);
    this.#options.onStatus?.('waiting', delay);
    this.#timer = setTimeout(() => this.#connect(), delay);
  }

  #drop(): void {
    const source = this.#source;
    this.#source = null;
    if (source) {
      source.onopen = null;
      source.onerror = null;
      source.close();
    }
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
