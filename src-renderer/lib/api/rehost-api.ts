/** The REST resources the renderer uses, one typed method each (seed 000 §4 plus extensions). */
import type { ApiClient } from './client.js';
import type {
  Ack,
  ChangePasswordBody,
  ChangePasswordReply,
  CreateSourceBody,
  CreateSourceReply,
  CreateTargetBody,
  HostListQuery,
  HostListReply,
  HostsActionBody,
  JobListReply,
  JobQuery,
  LoginBody,
  LoginReply,
  SourceListReply,
  TargetListReply,
} from './types.js';

const id = (value: string) => encodeURIComponent(value);

export class RehostApi {
  readonly client: ApiClient;

  constructor(client: ApiClient) {
    this.client = client;
  }

  login(body: LoginBody): Promise<LoginReply> {
    return this.client.request('POST', '/users/token', { body });
  }

  changePassword(body: ChangePasswordBody): Promise<ChangePasswordReply> {
    return this.client.request('PUT', '/users', { body });
  }

  listSources(): Promise<SourceListReply> {
    return this.client.request('GET', '/sources');
  }

  createSource(body: CreateSourceBody): Promise<CreateSourceReply> {
    return this.client.request('POST', '/sources', { body });
  }

  refreshSource(sourceId: string): Promise<Ack> {
    return this.client.request('POST', `/sources/${id(sourceId)}/refresh`);
  }

  removeSource(sourceId: string): Promise<Ack> {
    return this.client.request('DELETE', `/sources/${id(sourceId)}`);
  }

  listTargets(): Promise<TargetListReply> {
    return this.client.request('GET', '/targets');
  }

  createTarget(body: CreateTargetBody): Promise<Ack> {
    return this.client.request('POST', '/targets', { body });
  }

  removeTarget(targetId: string): Promise<Ack> {
    return this.client.request('DELETE', `/targets/${id(targetId)}`);
  }

  listHosts(query: HostListQuery): Promise<HostListReply> {
    return this.client.request('GET', '/hosts', { query });
  }

  /** POST /hosts: exactly one of sync, clean, next_step or stop_sync. */
  hostAction(body: HostsActionBody): Promise<Ack> {
    return this.client.request('POST', '/hosts', { body });
  }

  listJobs(query: JobQuery): Promise<JobListReply> {
    return this.client.request('GET', '/jobs', { query });
  }

  /** The SSE URL: EventSource cannot send headers, so the token goes in the query. */
  eventsUrl(): string | null {
    return this.client.token ? this.client.url('/events', { token: this.client.token }) : null;
  }
}
