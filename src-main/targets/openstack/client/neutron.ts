/**
 * Neutron v2.0 (catalog type `network`): networks, subnets, ports with `fixed_ips`, floating IPs
 * and security groups. Paths carry the `/v2.0` prefix the catalog URL leaves out.
 */
import type { Keystone } from './keystone.js';
import { ServiceHttp } from './http.js';

export interface Network {
  id: string;
  name: string;
  status: string;
  shared: boolean;
  'router:external': boolean;
  subnets: string[];
  project_id: string;
}

export interface Subnet {
  id: string;
  name: string;
  network_id: string;
  cidr: string;
  ip_version: number;
  gateway_ip: string | null;
  enable_dhcp: boolean;
  allocation_pools: { start: string; end: string }[];
}

export interface FixedIp {
  subnet_id: string;
  ip_address?: string;
}

export interface Port {
  id: string;
  name: string;
  network_id: string;
  status: string;
  device_id: string;
  device_owner: string;
  mac_address: string;
  fixed_ips: Required<FixedIp>[];
  security_groups: string[];
  project_id: string;
}

export interface PortCreate {
  network_id: string;
  name?: string;
  fixed_ips?: FixedIp[];
  security_groups?: string[];
  description?: string;
}

export interface FloatingIp {
  id: string;
  status: string;
  floating_ip_address: string;
  floating_network_id: string;
  fixed_ip_address: string | null;
  port_id: string | null;
  project_id: string;
}

export interface SecurityGroup {
  id: string;
  name: string;
  description: string;
  project_id: string;
  security_group_rules: { id: string; direction: string; protocol: string | null; port_range_min: number | null; port_range_max: number | null }[];
}

type Query = Record<string, string | boolean | undefined>;

export class Neutron {
  readonly http: ServiceHttp;

  constructor(keystone: Keystone) {
    this.http = new ServiceHttp('network', () => keystone.endpoint('network'), keystone);
  }

  private async list<T>(collection: string, query: Query, signal?: AbortSignal): Promise<T[]> {
    const key = collection.replace(/-/g, '_');
    return (await this.http.request<Record<string, T[]>>('GET', `/v2.0/${collection}`, { query, signal }))[key] ?? [];
  }

  private async one<T>(method: string, path: string, key: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return (await this.http.request<Record<string, T>>(method, `/v2.0/${path}`, { body, signal }))[key]!;
  }

  private async remove(path: string, signal?: AbortSignal): Promise<void> {
    await this.http.request('DELETE', `/v2.0/${path}`, { signal });
  }

  listNetworks(query: Query = {}, signal?: AbortSignal): Promise<Network[]> {
    return this.list('networks', query, signal);
  }

  getNetwork(id: string, signal?: AbortSignal): Promise<Network> {
    return this.one('GET', `networks/${encodeURIComponent(id)}`, 'network', undefined, signal);
  }

  /** Creates a tenant network (tests and tenant-dedicated gateways). */
  createNetwork(name: string, signal?: AbortSignal): Promise<Network> {
    return this.one('POST', 'networks', 'network', { network: { name } }, signal);
  }

  deleteNetwork(id: string, signal?: AbortSignal): Promise<void> {
    return this.remove(`networks/${encodeURIComponent(id)}`, signal);
  }

  createSubnet(subnet: { network_id: string; cidr: string; name?: string; ip_version?: 4 | 6; gateway_ip?: string | null; enable_dhcp?: boolean }, signal?: AbortSignal): Promise<Subnet> {
    return this.one('POST', 'subnets', 'subnet', { subnet: { ip_version: 4, ...subnet } }, signal);
  }

  listSubnets(query: Query = {}, signal?: AbortSignal): Promise<Subnet[]> {
    return this.list('subnets', query, signal);
  }

  getSubnet(id: string, signal?: AbortSignal): Promise<Subnet> {
    return this.one('GET', `subnets/${encodeURIComponent(id)}`, 'subnet', undefined, signal);
  }

  listPorts(query: Query = {}, signal?: AbortSignal): Promise<Port[]> {
    return this.list('ports', query, signal);
  }

  /** Ports holding `ip` on `subnetId` (the fixed-IP conflict check). */
  portsWithIp(subnetId: string, ip: string, signal?: AbortSignal): Promise<Port[]> {
    return this.list<Port>('ports', { fixed_ips: `ip_address=${ip}` }, signal).then((ports) => ports.filter((p) => p.fixed_ips.some((f) => f.subnet_id === subnetId)));
  }

  getPort(id: string, signal?: AbortSignal): Promise<Port> {
    return this.one('GET', `ports/${encodeURIComponent(id)}`, 'port', undefined, signal);
  }

  /** Creates a port; a fixed IP already taken answers 409 (IpAddressAlreadyAllocated). */
  createPort(port: PortCreate, signal?: AbortSignal): Promise<Port> {
    return this.one('POST', 'ports', 'port', { port }, signal);
  }

  deletePort(id: string, signal?: AbortSignal): Promise<void> {
    return this.remove(`ports/${encodeURIComponent(id)}`, signal);
  }

  listFloatingIps(query: Query = {}, signal?: AbortSignal): Promise<FloatingIp[]> {
    return this.list('floatingips', query, signal);
  }

  getFloatingIp(id: string, signal?: AbortSignal): Promise<FloatingIp> {
    return this.one('GET', `floatingips/${encodeURIComponent(id)}`, 'floatingip', undefined, signal);
  }

  /** Allocates a floating IP on `floatingNetworkId`, associated with `portId` when given. */
  createFloatingIp(floatingNetworkId: string, portId?: string, signal?: AbortSignal): Promise<FloatingIp> {
    return this.one('POST', 'floatingips', 'floatingip', { floatingip: { floating_network_id: floatingNetworkId, port_id: portId } }, signal);
  }

  /** Associates (`portId`) or disassociates (null) a floating IP. */
  associateFloatingIp(id: string, portId: string | null, signal?: AbortSignal): Promise<FloatingIp> {
    return this.one('PUT', `floatingips/${encodeURIComponent(id)}`, 'floatingip', { floatingip: { port_id: portId } }, signal);
  }

  deleteFloatingIp(id: string, signal?: AbortSignal): Promise<void> {
    return this.remove(`floatingips/${encodeURIComponent(id)}`, signal);
  }

  listSecurityGroups(query: Query = {}, signal?: AbortSignal): Promise<SecurityGroup[]> {
    return this.list('security-groups', query, signal);
  }

  getSecurityGroup(id: string, signal?: AbortSignal): Promise<SecurityGroup> {
    return this.one('GET', `security-groups/${encodeURIComponent(id)}`, 'security_group', undefined, signal);
  }
}
