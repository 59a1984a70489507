/**
 * The open target: storage, pools, volume groups and volumes (GET /targets/:id) and every
 * resource list it offers (GET /targets/:id/resources?kind=…; a 400 means the kind is not
 * offered and it is left out).
 */
import { RESOURCE_KINDS, type ResourceKind } from '../../../src-shared/states.js';
import { api, toApiError, type ApiError, type RehostApi, type TargetDetailReply } from '../api/index.js';

export class TargetDetailState {
  targetId = $state<string | null>(null);
  detail = $state<TargetDetailReply | null>(null);
  resources = $state<Partial<Record<ResourceKind, Record<string, unknown>[]>>>({});
  resourceErrors = $state<Partial<Record<ResourceKind, ApiError>>>({});
  loading = $state(false);
  error = $state<ApiError | null>(null);
  readonly #api: RehostApi;
  #seq = 0;

  constructor(rehostApi: RehostApi) {
    this.#api = rehostApi;
  }

  /** The kinds the target answered for, in catalogue order. */
  get kinds(): ResourceKind[] {
    return RESOURCE_KINDS.filter((k) => this.resources[k] !== undefined || this.resourceErrors[k] !== undefined);
  }

  async open(targetId: string): Promise<void> {
    const seq = ++this.#seq;
    this.targetId = targetId;
    this.detail = null;
    this.resources = {};
    this.resourceErrors = {};
    this.error = null;
    this.loading = true;
    const kinds = RESOURCE_KINDS.map(async (kind) => {
      try {
        const reply = await this.#api.targetResources(targetId, kind);
        if (seq === this.#seq) this.resources[kind] = reply.data;
      } catch (err) {
        const error = toApiError(err);
        if (seq === this.#seq && error.status !== 400) this.resourceErrors[kind] = error;
      }
    });
    try {
      const detail = await this.#api.targetDetail(targetId);
      if (seq === this.#seq) this.detail = detail;
    } catch (err) {
      if (seq === this.#seq) this.error = toApiError(err);
    }
    await Promise.all(kinds);
    if (seq === this.#seq) this.loading = false;
  }

  close(): void {
    this.#seq++;
    this.targetId = null;
    this.detail = null;
  }
}

export const targetDetail = new TargetDetailState(api);
