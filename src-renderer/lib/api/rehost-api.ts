/** The REST resources the renderer uses, one typed method each (seed 000 §4 plus extensions). */
import type { ApiClient } from './client.js';
import type { ResourceKind } from '../../../src-shared/states.js';
import type {
  Ack,
  AssignBody,
  BootBody,
  HostBaseReply,
  HostSnapshotReply,
  HostStorageReply,
  RegisterBody,
  ResourceReply,
  SourceDetailReply,
  SourceHostsReply,
  SyncStrategyBody,
  TargetDetailReply,
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

  sourceDetail(sourceId: string): Promise<SourceDetailReply> {
    return this.client.request('GET', `/sources/${id(sourceId)}`);
  }

  /** The machines a source offers for registration, with their environment checks. */
  sourceHosts(sourceId: string): Promise<SourceHostsReply> {
    return this.client.request('GET', `/sources/${id(sourceId)}/hosts`);
  }

  registerHosts(body: RegisterBody): Promise<Ack> {
    return this.client.request('POST', '/hosts/register', { body });
  }

  assignPlatform(body: AssignBody): Promise<Ack> {
    return this.client.request('PUT', '/hosts/target_platform', { body });
  }

  setSyncStrategy(hostId: string, body: SyncStrategyBody): Promise<HostSnapshotReply> {
    return this.client.request('PUT', `/hosts/${id(hostId)}/sync_strategy`, { body });
  }

  hostBase(hostId: string): Promise<HostBaseReply> {
    return this.client.request('GET', `/hosts/${id(hostId)}`, { query: { sheet: 'base' } });
  }

  hostStorage(hostId: string): Promise<HostStorageReply> {
    return this.client.request('GET', `/hosts/${id(hostId)}`, { query: { sheet: 'storage' } });
  }

  hostSnapshots(hostId: string, page = 1, pageSize = 50): Promise<HostSnapshotReply> {
    return this.client.request('GET', `/hosts/${id(hostId)}`, { query: { sheet: 'snapshot', page, page_size: pageSize } });
  }

  /** POST /hosts/:id/action: a test boot from a snapshot or a cutover. */
  bootHost(hostId: string, body: BootBody): Promise<Ack> {
    return this.client.request('POST', `/hosts/${id(hostId)}/action`, { body });
  }

  /** The boot console as text (404 while the host has none). */
  hostConsole(hostId: string, signal?: AbortSignal): Promise<string> {
    return this.client.requestText('GET', `/hosts/${id(hostId)}/console`, signal ? { signal } : {});
  }

  targetDetail(targetId: string): Promise<TargetDetailReply> {
    return this.client.request('GET', `/targets/${id(targetId)}`);
  }

  /** A resource list of a target; 400 when the target does not offer that kind. */
  targetResources(targetId: string, kind: ResourceKind): Promise<ResourceReply> {
    return this.client.request('GET', `/targets/${id(targetId)}/resources`, { query: { kind } });
  }

  listJobs(query: JobQuery): Promise<JobListReply> {
    return this.client.request('GET', '/jobs', { query });
  }

  /** The SSE URL: EventSource cannot send headers, so the token goes in the query. */
  eventsUrl(): string | null {
    return this.client.token ? this.client.url('/events', { token: this.client.token }) : null;
  }
}
