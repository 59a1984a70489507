/** Target platforms (GET /targets) and what the Targets screen can do with them. */
import { api, attempt, type ApiError, type CreateTargetBody, type RehostApi, type TargetItem } from '../api/index.js';
import { ListState, type Page } from './list.svelte.js';

export class TargetsState extends ListState<TargetItem> {
  rowErrors = $state<Record<string, ApiError | undefined>>({});
  busy = $state<Record<string, boolean | undefined>>({});
  readonly #api: RehostApi;

  constructor(rehostApi: RehostApi) {
    super();
    this.#api = rehostApi;
  }

  protected async fetchPage(): Promise<Page<TargetItem>> {
    const reply = await this.#api.listTargets();
    return { items: reply.targets.data, total: reply.targets.data.length };
  }

  /** Adds a Local target (this machine); resolves to the error to show in the form, or null. */
  async addLocal(path: string, name: string): Promise<ApiError | null> {
    // CreateTargetBody types `config` as only `{cloud_type}` (the rest is checked per cloud type
    // on the server), so the Local fields go in through a declared variable.
    const config: CreateTargetBody['config'] & { path: string } = { cloud_type: 'Local', path };
    const error = await attempt(this.#api.createTarget({ type: 'HyperGate', config, ...(name.trim() !== '' ? { name: name.trim() } : {}) }));
    if (error === null) void this.load();
    return error;
  }

  async remove(id: string): Promise<void> {
    this.busy[id] = true;
    this.rowErrors[id] = undefined;
    const error = await attempt(this.#api.removeTarget(id));
    this.busy[id] = false;
    this.rowErrors[id] = error ?? undefined;
    if (error === null) void this.load();
  }

  override reset(): void {
    super.reset();
    this.rowErrors = {};
    this.busy = {};
  }
}

export const targets = new TargetsState(api);
