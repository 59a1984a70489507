/**
 * The open host's detail: base / storage / snapshot sheets (GET /hosts/:id?sheet=…), the boot
 * console (GET /hosts/:id/console, text; shown only while it answers 200), the throughput of
 * the current sync (SSE `progress`) and of past syncs (its `Sync` jobs).
 */
import { api, toApiError, type ApiError, type HostBaseReply, type HostSheet, type HostSnapshotReply, type HostStorageReply, type RehostApi } from '../api/index.js';
import { addSample, pastSyncs, sampleFromProgress, type PastSync, type Sample } from './throughput.js';

export const HOST_SHEETS = ['base', 'storage', 'snapshot'] as const satisfies readonly HostSheet[];
export const CONSOLE_POLL_MS = 1500;

export class HostDetailState {
  hostId = $state<string | null>(null);
  sheet = $state<HostSheet>('base');
  base = $state<HostBaseReply | null>(null);
  storage = $state<HostStorageReply | null>(null);
  snapshots = $state<HostSnapshotReply | null>(null);
  loading = $state(false);
  error = $state<ApiError | null>(null);
  /** The console text, or null while the engine answers 404 (no console for this host). */
  console = $state<string | null>(null);
  /** Throughput runs of the current session: the last one is the running or latest sync. */
  runs = $state<Sample[][]>([]);
  past = $state<PastSync[]>([]);
  readonly #api: RehostApi;
  #seq = 0;
  #consoleTimer: ReturnType<typeof setInterval> | null = null;
  #refreshTimer: ReturnType<typeof setTimeout> | null = null;
  /** Samples seen per host even while its detail is closed, so the chart has history. */
  #history: Record<string, Sample[][]> = {};

  constructor(rehostApi: RehostApi) {
    this.#api = rehostApi;
  }

  async open(hostId: string): Promise<void> {
    this.hostId = hostId;
    this.runs = this.#history[hostId] ?? [];
    this.console = null;
    this.past = [];
    await Promise.all([this.show(this.sheet), this.loadPast(), this.pollConsole()]);
  }

  close(): void {
    this.#seq++;
    this.hostId = null;
    this.base = this.storage = this.snapshots = null;
    this.stopConsole();
    if (this.#refreshTimer !== null) clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
  }

  async show(sheet: HostSheet): Promise<void> {
    const hostId = this.hostId;
    if (hostId === null) return;
    const seq = ++this.#seq;
    this.sheet = sheet;
    this.loading = true;
    this.error = null;
    try {
      if (sheet === 'base') this.base = await this.#api.hostBase(hostId);
      else if (sheet === 'storage') this.storage = await this.#api.hostStorage(hostId);
      else this.snapshots = await this.#api.hostSnapshots(hostId);
    } catch (err) {
      if (seq === this.#seq) this.error = toApiError(err);
    } finally {
      if (seq === this.#seq) this.loading = false;
    }
  }

  async loadPast(): Promise<void> {
    const hostId = this.hostId;
    if (hostId === null) return;
    try {
      const reply = await this.#api.listJobs({ id: hostId, job_type: 'Sync', page: 1, page_size: 50 });
      if (this.hostId === hostId) this.past = pastSyncs(reply.data);
    } catch {
      // The chart of past syncs is optional; the jobs screen shows the failure.
    }
  }

  /** Fetches the console once; a 404 hides it. Other failures keep the last text. */
  async pollConsole(): Promise<void> {
    const hostId = this.hostId;
    if (hostId === null) return;
    try {
      const text = await this.#api.hostConsole(hostId);
      if (this.hostId === hostId) this.console = text;
    } catch (err) {
      if (this.hostId === hostId && toApiError(err).status === 404) this.console = null;
    }
  }

  /** Polls the console while the detail is open (returns the stop function). */
  startConsole(): () => void {
    this.stopConsole();
    this.#consoleTimer = setInterval(() => void this.pollConsole(), CONSOLE_POLL_MS);
    return () => this.stopConsole();
  }

  stopConsole(): void {
    if (this.#consoleTimer !== null) clearInterval(this.#consoleTimer);
    this.#consoleTimer = null;
  }

  /** Reloads the open sheet and the past syncs soon, once for a burst of events. */
  scheduleRefresh(delayMs = 500): void {
    if (this.hostId === null || this.#refreshTimer !== null) return;
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = null;
      void this.show(this.sheet);
      void this.loadPast();
    }, delayMs);
  }

  /** Records a `progress` event of any host; updates the chart when it is the open one. */
  applyProgress(hostId: string, data: Record<string, unknown>, at = Date.now()): void {
    const sample = sampleFromProgress(data, at);
    if (!sample) return;
    const runs = addSample(this.#history[hostId] ?? [], sample);
    this.#history[hostId] = runs;
    if (this.hostId === hostId) this.runs = runs;
  }

  reset(): void {
    this.close();
    this.#history = {};
    this.runs = [];
    this.past = [];
  }
}

export const hostDetail = new HostDetailState(api);
