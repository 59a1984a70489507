/**
 * The engine's change feed: host, job, target, source and progress changes. The API relays it
 * as Server-Sent Events; listeners must not throw.
 */

export type EngineEventType = 'host' | 'job' | 'target' | 'source' | 'progress' | 'snapshot';

export interface EngineEvent {
  type: EngineEventType;
  id: string;
  /** Monotonic sequence number, so an SSE client can tell what it missed. */
  seq: number;
  at: number;
  data: Record<string, unknown>;
}

export type EngineListener = (event: EngineEvent) => void;

export class EventBus {
  private readonly listeners = new Set<EngineListener>();
  private seq = 0;

  emit(type: EngineEventType, id: string, data: Record<string, unknown> = {}): void {
    const event: EngineEvent = { type, id, seq: ++this.seq, at: Date.now(), data };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A broken listener (a closed SSE socket) must not stop the engine.
      }
    }
  }

  subscribe(listener: EngineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}
