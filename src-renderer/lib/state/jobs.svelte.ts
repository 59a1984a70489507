/** Jobs with their steps (GET /jobs), newest first, filtered by state and paged. */
import { api, type JobItem, type RehostApi } from '../api/index.js';
import { ListState, type Page } from './list.svelte.js';

export const JOB_FILTERS = ['all', 'working', 'complete', 'failed'] as const;
export type JobFilter = (typeof JOB_FILTERS)[number];
export const JOB_PAGE_SIZE = 20;

export class JobsState extends ListState<JobItem> {
  filter = $state<JobFilter>('all');
  page = $state(1);
  readonly #api: RehostApi;

  constructor(rehostApi: RehostApi) {
    super();
    this.#api = rehostApi;
  }

  protected async fetchPage(): Promise<Page<JobItem>> {
    const reply = await this.#api.listJobs({ status: this.filter, page: this.page, page_size: JOB_PAGE_SIZE });
    return { items: reply.data, total: reply.total };
  }

  showFilter(filter: JobFilter): void {
    this.filter = filter;
    this.page = 1;
    void this.load();
  }

  showPage(page: number): void {
    this.page = page;
    void this.load();
  }

  override reset(): void {
    super.reset();
    this.filter = 'all';
    this.page = 1;
  }
}

export const jobs = new JobsState(api);
