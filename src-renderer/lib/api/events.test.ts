import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventStream, backoffDelay, parseEvent, type EngineEvent, type EventSourceLike } from './events.js';

class FakeSource implements EventSourceLike {
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  readonly listeners = new Map<string, (ev: MessageEvent) => void>();

  constructor(readonly url: string) {}

  addEventListener(type: string, listener: (ev: MessageEvent) => void): void {
    this.listeners.set(type, listener);
  }

  close(): void {
    this.closed = true;
  }

  open(): void {
    this.onopen?.(new Event('open'));
  }

  fail(): void {
    this.onerror?.(new Event('error'));
  }

  emit(type: string, data: string): void {
    this.listeners.get(type)?.({ data } as MessageEvent);
  }
}

describe('EventStream', () => {
  let sources: FakeSource[];
  beforeEach(() => {
    vi.useFakeTimers();
    sources = [];
  });
  afterEach(() => vi.useRealTimers());

  function stream(events: EngineEvent[], statuses: string[], resyncs: { count: number }) {
    return new EventStream({
      url: () => '/hypermotion/v1/events?token=t',
      onEvent: (e) => events.push(e),
      onStatus: (s, ms) => statuses.push(ms ? `${s}:${ms}` : s),
      onResync: () => resyncs.count++,
      create: (url) => {
        const s = new FakeSource(url);
        sources.push(s);
        return s;
      },
    });
  }

  it('routes typed events with JSON data and ignores malformed ones', () => {
    const events: EngineEvent[] = [];
    const s = stream(events, [], { count: 0 });
    s.start();
    sources[0]!.open();
    sources[0]!.emit('host', JSON.stringify({ id: 'h1', h_host_status: 'sync_doing' }));
    sources[0]!.emit('progress', 'not json');
    sources[0]!.emit('job', JSON.stringify({ status: 'done' }));
    expect(events).toEqual([{ type: 'host', id: 'h1', data: { id: 'h1', h_host_status: 'sync_doing' } }]);
    s.close();
  });

  it('reconnects with a growing delay, resyncs after a gap and stops on close', () => {
    const statuses: string[] = [];
    const resyncs = { count: 0 };
    const s = stream([], statuses, resyncs);
    s.start();
    sources[0]!.open();
    sources[0]!.fail();
    expect(sources[0]!.closed).toBe(true);
    vi.advanceTimersByTime(1000);
    expect(sources).toHaveLength(2);
    sources[1]!.fail();
    vi.advanceTimersByTime(1999);
    expect(sources).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(sources).toHaveLength(3);
    sources[2]!.open();
    expect(resyncs.count).toBe(1);
    expect(statuses).toEqual(['connecting', 'open', 'waiting:1000', 'connecting', 'waiting:2000', 'connecting', 'open']);
    s.close();
    expect(sources[2]!.closed).toBe(true);
    vi.advanceTimersByTime(60_000);
    expect(sources).toHaveLength(3);
  });

  it('waits instead of connecting while there is no token', () => {
    let url: string | null = null;
    const s = new EventStream({ url: () => url, onEvent: () => {}, create: (u) => (sources.push(new FakeSource(u)), sources.at(-1)!) });
    s.start();
    expect(sources).toHaveLength(0);
    url = '/events?token=x';
    vi.advanceTimersByTime(1000);
    expect(sources).toHaveLength(1);
    s.close();
  });
});

describe('helpers', () => {
  it('doubles the delay up to the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 50].map((a) => backoffDelay(a))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('parses only JSON objects with an id', () => {
    expect(parseEvent('target', '{"id":"t1","status":"active"}')).toEqual({ type: 'target', id: 't1', data: { id: 't1', status: 'active' } });
    expect(parseEvent('target', '[1]')).toBeNull();
    expect(parseEvent('target', '{"id":5}')).toBeNull();
  });
});
