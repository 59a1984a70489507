/** Source platforms (GET /sources) and what the Sources screen can do with them. */
import type { SourceType } from '../../../src-shared/states.js';
import { api, attempt, type ApiError, type RehostApi, type SourceItem } from '../api/index.js';
import { ListState, type Page } from './list.svelte.js';

export class SourcesState extends ListState<SourceItem> {
  /** Per-source failure of the last row action, shown in that row. */
  rowErrors = $state<Record<string, ApiError | undefined>>({});
  busy = $state<Record<string, boolean | undefined>>({});
  readonly #api: RehostApi;

  constructor(rehostApi: RehostApi) {
    super();
    this.#api = rehostApi;
  }

  protected async fetchPage(): Promise<Page<SourceItem>> {
    const reply = await this.#api.listSources();
    return { items: reply.sources.data, total: reply.sources.data.length };
  }

  /** Source whose detail (pinned identity, inventory tree) is open. */
  openId = $state<string | null>(null);

  /** Adds a source; resolves to the error to show in the form, or null. */
  async add(type: SourceType, name: string, config: Record<string, unknown>): Promise<ApiError | null> {
    const error = await attempt(this.#api.createSource({ type, name, config }));
    if (error === null) void this.load();
    return error;
  }

  refresh(id: string): Promise<void> {
    return this.#rowAction(id, this.#api.refreshSource(id));
  }

  remove(id: string): Promise<void> {
    return this.#rowAction(id, this.#api.removeSource(id));
  }

  async #rowAction(id: string, work: Promise<unknown>): Promise<void> {
    this.busy[id] = true;
    this.rowErrors[id] = undefined;
    const error = await attempt(work);
    this.busy[id] = false;
    this.rowErrors[id] = error ?? undefined;
    if (error === null) void this.load();
  }

  override reset(): void {
    super.reset();
    this.rowErrors = {};
    this.busy = {};
    this.openId = null;
  }
}

export const sources = new SourcesState(api);
