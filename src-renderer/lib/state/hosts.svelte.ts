/**
 * Hosts of one migration step (GET /hosts?status=register|sync|boot), paged, with live progress
 * patched in from SSE `progress` events between reloads.
 */
import type { HostListStatus } from '../../../src-shared/states.js';
import { api, attempt, type ApiError, type HostItem, type RehostApi } from '../api/index.js';
import { actionBody, detailFromProgress, isActionAllowed, type HostAction } from './host-actions.js';
import { ListState, type Page } from './list.svelte.js';
import { unique } from './unique.js';

export const HOST_TABS = ['register', 'sync', 'boot'] as const satisfies readonly HostListStatus[];
export const HOST_PAGE_SIZE = 20;

export class HostsState extends ListState<HostItem> {
  tab = $state<HostListStatus>('register');
  page = $state(1);
  /** The action running per host id (its button shows busy, the others are disabled). */
  busy = $state<Record<string, HostAction | undefined>>({});
  /** Per-host failure of the last action, shown in that row. */
  rowErrors = $state<Record<string, ApiError | undefined>>({});
  /** Hosts ticked in the list: the wizard's step panels act on them. */
  selected = $state<string[]>([]);
  /** When each syncing host last reported progress (or was first seen syncing), in ms. */
  lastProgressAt = $state<Record<string, number>>({});
  /** The host whose detail is open, if any. */
  detailId = $state<string | null>(null);
  readonly #api: RehostApi;

  constructor(rehostApi: RehostApi) {
    super();
    this.#api = rehostApi;
  }

  protected async fetchPage(): Promise<Page<HostItem>> {
    const reply = await this.#api.listHosts({ status: this.tab, page: this.page, page_size: HOST_PAGE_SIZE });
    const now = Date.now();
    for (const h of reply.data) {
      if (h.h_host_status === 'sync_doing') this.lastProgressAt[h.id] ??= now;
      else delete this.lastProgressAt[h.id];
    }
    const listed = reply.data.map((h) => h.id);
    this.selected = this.selected.filter((id) => listed.includes(id));
    return { items: reply.data, total: reply.total };
  }

  showTab(tab: HostListStatus): void {
    if (tab === this.tab && this.active) return;
    this.tab = tab;
    this.page = 1;
    this.rowErrors = {};
    this.selected = [];
    void this.load();
  }

  showPage(page: number): void {
    this.page = page;
    void this.load();
  }

  toggle(id: string, on: boolean): void {
    this.selected = on ? unique([...this.selected, id]) : this.selected.filter((s) => s !== id);
  }

  /** Ticks every listed host, or none when all are ticked. */
  toggleAll(): void {
    this.selected = this.selected.length === this.items.length ? [] : this.items.map((h) => h.id);
  }

  /** The ticked hosts among those listed. */
  get selectedHosts(): HostItem[] {
    return this.items.filter((h) => this.selected.includes(h.id));
  }

  /** Runs a step action on the ticked hosts; resolves to the engine's error, or null. */
  async runSelected(body: (ids: string[]) => Promise<unknown>): Promise<ApiError | null> {
    const ids = this.selected;
    if (ids.length === 0) return null;
    const error = await attempt(body(ids));
    void this.load();
    return error;
  }

  canRun(host: HostItem, action: HostAction): boolean {
    return this.busy[host.id] === undefined && isActionAllowed(host, action);
  }

  async run(host: HostItem, action: HostAction): Promise<void> {
    if (!this.canRun(host, action)) return;
    this.busy[host.id] = action;
    this.rowErrors[host.id] = undefined;
    const error = await attempt(this.#api.hostAction(actionBody(action, host)));
    this.busy[host.id] = undefined;
    this.rowErrors[host.id] = error ?? undefined;
    void this.load();
  }

  /** Applies an SSE `progress` event to the host it is about, when that host is listed. */
  applyProgress(hostId: string, data: Record<string, unknown>): void {
    const host = this.items.find((h) => h.id === hostId);
    const detail = detailFromProgress(data);
    if (detail) this.lastProgressAt[hostId] = Date.now();
    if (host && detail) host.detail_data = detail;
  }

  override reset(): void {
    super.reset();
    this.tab = 'register';
    this.page = 1;
    this.busy = {};
    this.rowErrors = {};
    this.selected = [];
    this.lastProgressAt = {};
    this.detailId = null;
  }
}

export const hosts = new HostsState(api);
