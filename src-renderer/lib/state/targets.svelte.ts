/** Target platforms (GET /targets) and what the Targets screen can do with them. */
import type { CloudType } from '../../../src-shared/states.js';
import { api, attempt, type ApiError, type CreateTargetBody, type RehostApi, type StorageItem, type TargetItem } from '../api/index.js';
import { ListState, type Page } from './list.svelte.js';

export class TargetsState extends ListState<TargetItem> {
  rowErrors = $state<Record<string, ApiError | undefined>>({});
  busy = $state<Record<string, boolean | undefined>>({});
  /** Storages and their pools that hosts can be assigned to (PUT /hosts/target_platform). */
  storages = $state<StorageItem[]>([]);
  readonly #api: RehostApi;

  constructor(rehostApi: RehostApi) {
    super();
    this.#api = rehostApi;
  }

  protected async fetchPage(): Promise<Page<TargetItem>> {
    const reply = await this.#api.listTargets();
    this.storages = reply.targets.storages;
    return { items: reply.targets.data, total: reply.targets.data.length };
  }

  /** Target whose detail (storage, pools, volumes, resources) is open. */
  openId = $state<string | null>(null);

  /** Adds a target; resolves to the error to show in the form, or null. */
  async add(cloudType: CloudType, name: string, config: Record<string, unknown>): Promise<ApiError | null> {
    // CreateTargetBody types `config` as only `{cloud_type}` (the rest is checked per cloud type
    // on the server), so the other fields go in through a declared variable.
    const body: CreateTargetBody['config'] & Record<string, unknown> = { ...config, cloud_type: cloudType };
    const error = await attempt(this.#api.createTarget({ type: 'HyperGate', config: body, ...(name.trim() !== '' ? { name: name.trim() } : {}) }));
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
    this.storages = [];
    this.openId = null;
  }
}

export const targets = new TargetsState(api);
