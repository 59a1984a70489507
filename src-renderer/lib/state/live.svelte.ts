/**
 * Live updates: one SSE stream while signed in, each event routed to the list it changes.
 * Lists reload (coalesced) rather than trust partial event data, except sync progress, which
 * is patched in place because it ticks every second.
 */
import { api, EventStream, type EngineEvent, type StreamStatus } from '../api/index.js';
import { hostDetail } from './host-detail.svelte.js';
import { hosts } from './hosts.svelte.js';
import { jobs } from './jobs.svelte.js';
import { sources } from './sources.svelte.js';
import { targets } from './targets.svelte.js';

function route(event: EngineEvent): void {
  switch (event.type) {
    case 'progress':
      hosts.applyProgress(event.id, event.data);
      hostDetail.applyProgress(event.id, event.data);
      break;
    case 'host':
    case 'snapshot':
      hosts.scheduleReload();
      hostDetail.scheduleRefresh();
      break;
    case 'job':
      jobs.scheduleReload();
      hosts.scheduleReload();
      hostDetail.scheduleRefresh();
      break;
    case 'target':
      targets.scheduleReload();
      break;
    case 'source':
      sources.scheduleReload();
      break;
  }
}

function reloadAll(): void {
  for (const list of [hosts, jobs, sources, targets]) list.scheduleReload(0);
}

class LiveState {
  status = $state<StreamStatus>('closed');
  /** Milliseconds until the next reconnect attempt while `waiting`. */
  retryInMs = $state(0);
  readonly #stream = new EventStream({
    url: () => api.eventsUrl(),
    onEvent: route,
    onResync: reloadAll,
    onStatus: (status, retryInMs) => {
      this.status = status;
      this.retryInMs = retryInMs;
    },
  });

  start(): void {
    this.#stream.start();
  }

  /** Stops the stream and forgets every list (sign-out). */
  stop(): void {
    this.#stream.close();
    for (const list of [hosts, jobs, sources, targets]) list.reset();
    hostDetail.reset();
  }
}

export const live = new LiveState();
