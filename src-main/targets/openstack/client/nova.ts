/**
 * Nova v2.1 (catalog type `compute`): flavors, keypairs, availability zones, and servers created
 * with `block_device_mapping_v2` (boot from volume), read, deleted and acted on. The microversion
 * is negotiated from the versions document (written for 2.79, needs 2.67 for `volume_type` in
 * block device mappings) and sent as `OpenStack-API-Version`.
 */
import type { Keystone } from './keystone.js';
import { OpenStackError } from './errors.js';
import { ServiceHttp } from './http.js';
import { negotiate } from './microversion.js';
import { pollUntil, type PollOptions } from './poll.js';

export interface Flavor {
  id: string;
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
  'os-flavor-access:is_public'?: boolean;
}

export interface Keypair {
  name: string;
  type?: string;
  fingerprint: string;
  public_key: string;
}

export interface AvailabilityZone {
  zoneName: string;
  zoneState: { available: boolean };
}

export interface BlockDeviceMapping {
  boot_index: number | null;
  uuid?: string;
  source_type: 'volume' | 'snapshot' | 'image' | 'blank';
  destination_type: 'volume' | 'local';
  volume_size?: number;
  volume_type?: string;
  delete_on_termination?: boolean;
  device_name?: string;
}

export interface ServerCreate {
  name: string;
  flavorRef: string;
  block_device_mapping_v2?: BlockDeviceMapping[];
  imageRef?: string;
  /** `[{uuid}]`, `[{port}]`, `[{uuid, fixed_ip}]`, or `'none'`/`'auto'`. */
  networks: { uuid?: string; port?: string; fixed_ip?: string }[] | 'none' | 'auto';
  key_name?: string;
  availability_zone?: string;
  security_groups?: { name: string }[];
  user_data?: string;
  config_drive?: boolean;
  adminPass?: string;
  metadata?: Record<string, string>;
}

export interface Server {
  id: string;
  name: string;
  status: string;
  'OS-EXT-STS:task_state'?: string | null;
  'OS-EXT-AZ:availability_zone'?: string;
  addresses: Record<string, { addr: string; version: number; 'OS-EXT-IPS:type'?: string; 'OS-EXT-IPS-MAC:mac_addr'?: string }[]>;
  'os-extended-volumes:volumes_attached'?: { id: string; delete_on_termination?: boolean }[];
  fault?: { code: number; message: string; details?: string };
  metadata?: Record<string, string>;
  flavor: Record<string, unknown>;
  created: string;
}

export interface VolumeAttachment {
  id: string;
  serverId: string;
  volumeId: string;
  /** The hypervisor's guess of the guest device: not reliable, identify disks by serial instead. */
  device: string | null;
}

export class Nova {
  readonly http: ServiceHttp;
  private negotiated: Promise<string> | null = null;

  constructor(keystone: Keystone) {
    this.http = new ServiceHttp('compute', () => keystone.endpoint('compute'), keystone);
  }

  /** Negotiates the microversion once per client. */
  ready(signal?: AbortSignal): Promise<string> {
    this.negotiated ??= negotiate(this.http, { headerName: 'compute', versionId: 'v2.1', preferred: '2.79', minimum: '2.67' }, signal).catch((err: unknown) => {
      this.negotiated = null;
      throw err;
    });
    return this.negotiated;
  }

  private async call<T>(method: string, path: string, options: Parameters<ServiceHttp['request']>[2] = {}): Promise<T> {
    await this.ready(options.signal);
    return this.http.request<T>(method, path, options);
  }

  async listFlavors(signal?: AbortSignal): Promise<Flavor[]> {
    return (await this.call<{ flavors: Flavor[] }>('GET', '/flavors/detail', { signal })).flavors;
  }

  async getFlavor(id: string, signal?: AbortSignal): Promise<Flavor> {
    return (await this.call<{ flavor: Flavor }>('GET', `/flavors/${encodeURIComponent(id)}`, { signal })).flavor;
  }

  async listKeypairs(signal?: AbortSignal): Promise<Keypair[]> {
    return (await this.call<{ keypairs: { keypair: Keypair }[] }>('GET', '/os-keypairs', { signal })).keypairs.map((k) => k.keypair);
  }

  /** Imports `public_key`, or lets Nova generate one (only below 2.92; the answer then holds the private key). */
  async createKeypair(name: string, publicKey: string, signal?: AbortSignal): Promise<Keypair> {
    return (await this.call<{ keypair: Keypair }>('POST', '/os-keypairs', { body: { keypair: { name, public_key: publicKey, type: 'ssh' } }, signal })).keypair;
  }

  async deleteKeypair(name: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', `/os-keypairs/${encodeURIComponent(name)}`, { signal });
  }

  async listAvailabilityZones(signal?: AbortSignal): Promise<AvailabilityZone[]> {
    return (await this.call<{ availabilityZoneInfo: AvailabilityZone[] }>('GET', '/os-availability-zone', { signal })).availabilityZoneInfo;
  }

  async listServers(query: Record<string, string | undefined> = {}, signal?: AbortSignal): Promise<Server[]> {
    return (await this.call<{ servers: Server[] }>('GET', '/servers/detail', { query, signal })).servers;
  }

  async getServer(id: string, signal?: AbortSignal): Promise<Server> {
    return (await this.call<{ server: Server }>('GET', `/servers/${encodeURIComponent(id)}`, { signal })).server;
  }

  /** Creates a server; answers its id and (when Nova generated one) the admin password. */
  async createServer(server: ServerCreate, signal?: AbortSignal): Promise<{ id: string; adminPass?: string }> {
    return (await this.call<{ server: { id: string; adminPass?: string } }>('POST', '/servers', { body: { server }, signal })).server;
  }

  async deleteServer(id: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', `/servers/${encodeURIComponent(id)}`, { signal });
  }

  /** `POST /servers/{id}/action`: `{'os-start': null}`, `{'os-stop': null}`, `{reboot: {type}}`, `{'os-getConsoleOutput': {}}` … */
  async serverAction<T = unknown>(id: string, action: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    return this.call<T>('POST', `/servers/${encodeURIComponent(id)}/action`, { body: action, signal });
  }

  /** Attaches a volume to a server (Nova asks Cinder and the hypervisor); answers the attachment. */
  async attachVolume(serverId: string, volumeId: string, signal?: AbortSignal): Promise<VolumeAttachment> {
    const body = { volumeAttachment: { volumeId } };
    return (await this.call<{ volumeAttachment: VolumeAttachment }>('POST', `/servers/${encodeURIComponent(serverId)}/os-volume_attachments`, { body, signal })).volumeAttachment;
  }

  async listVolumeAttachments(serverId: string, signal?: AbortSignal): Promise<VolumeAttachment[]> {
    return (await this.call<{ volumeAttachments: VolumeAttachment[] }>('GET', `/servers/${encodeURIComponent(serverId)}/os-volume_attachments`, { signal })).volumeAttachments;
  }

  /** Detaches (asynchronous: the volume turns `detaching`, then `available`). */
  async detachVolume(serverId: string, volumeId: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', `/servers/${encodeURIComponent(serverId)}/os-volume_attachments/${encodeURIComponent(volumeId)}`, { signal });
  }

  /** Polls until ACTIVE (or `status`); ERROR fails with the server's fault message. */
  waitServer(id: string, status = 'ACTIVE', options: PollOptions = {}): Promise<Server> {
    const fault = (s: Server) => (s.status === 'ERROR' ? `ERROR: ${s.fault?.message ?? 'no fault message'}` : null);
    return pollUntil(`server ${id}`, () => this.getServer(id, options.signal), (s) => s.status === status, fault, options);
  }

  /** Polls until the server is gone (404). */
  async waitServerGone(id: string, options: PollOptions = {}): Promise<void> {
    const get = async () => {
      try {
        return await this.getServer(id, options.signal);
      } catch (err) {
        if (OpenStackError.isOpenStack(err, 404)) return null;
        throw err;
      }
    };
    await pollUntil(`deleting server ${id}`, get, (s) => s === null, (s) => (s?.status === 'ERROR' ? 'ERROR while deleting' : null), options);
  }
}
