/**
 * Resolves the boot options against the cloud, as the user who boots (flavors, key pairs and
 * security groups differ per project and user): ids or names → the resources, the smallest
 * flavor that fits, the subnet holding the fixed IP. Unknown or ambiguous names, a flavor below
 * the asked minimum, a fixed IP outside the subnet, a floating IP already in use: VALIDATION
 * errors naming `boot.<field>`, raised before anything is created.
 */
import { RehostError } from '../../../src-shared/errors.js';
import { OpenStackError, type OpenStackClient } from './client/index.js';
import type { Flavor } from './client/nova.js';
import type { FloatingIp, Network, Subnet } from './client/neutron.js';
import { ipInCidr, type BootOptions } from './boot-options.js';

export interface BootPlan {
  flavor: Flavor;
  network: Network;
  /** The subnet the port's address comes from; null = Neutron picks. */
  subnet: Subnet | null;
  fixedIp: string | null;
  securityGroupIds: string[];
  keypairName: string | null;
  /** The key pair's public key (for cloud-init user data), or null. */
  keypairPublicKey: string | null;
  availabilityZone: string | null;
  /** An existing floating IP to associate, a network to allocate one from, or none. */
  floating: { existing: FloatingIp } | { networkId: string } | null;
}

function bad(field: string, message: string): RehostError {
  return new RehostError('VALIDATION', `boot.${field}: ${message}`, { field: `boot.${field}` });
}

/** `get(id)`, with a 404 turned into "unknown <what>" naming the field. */
async function byId<T>(field: string, what: string, id: string, get: () => Promise<T>): Promise<T> {
  try {
    return await get();
  } catch (err) {
    if (OpenStackError.isOpenStack(err, 404)) throw bad(field, `unknown ${what} ${id}`);
    throw err;
  }
}

function single<T extends { id: string }>(field: string, what: string, name: string, found: T[]): T {
  if (found.length === 0) throw bad(field, `no ${what} named ${JSON.stringify(name)}`);
  if (found.length > 1) throw bad(field, `${found.length} ${what}s are named ${JSON.stringify(name)}; give the id instead`);
  return found[0]!;
}

export async function resolveBootPlan(client: OpenStackClient, projectId: string, o: BootOptions, signal?: AbortSignal): Promise<BootPlan> {
  const flavor = await resolveFlavor(client, o, signal);
  const { network, subnet } = await resolveNetwork(client, projectId, o, signal);
  const securityGroupIds = await resolveSecurityGroups(client, projectId, o, signal);
  let keypairName: string | null = null;
  let keypairPublicKey: string | null = null;
  if (o.keypairId !== null) {
    const keypairs = await client.nova.listKeypairs(signal);
    const found = keypairs.find((k) => k.name === o.keypairId || k.fingerprint === o.keypairId);
    if (!found) throw bad('keypair_id', `unknown key pair ${o.keypairId} for this user (known: ${keypairs.map((k) => k.name).join(', ') || 'none'})`);
    keypairName = found.name;
    keypairPublicKey = found.public_key || null;
  }
  if (o.availabilityZone !== null) {
    const zones = await client.nova.listAvailabilityZones(signal);
    const zone = zones.find((z) => z.zoneName === o.availabilityZone);
    if (!zone) throw bad('availability_zone_id', `unknown availability zone ${o.availabilityZone} (known: ${zones.map((z) => z.zoneName).join(', ')})`);
    if (!zone.zoneState.available) throw bad('availability_zone_id', `availability zone ${o.availabilityZone} is not available`);
  }
  return { flavor, network, subnet, fixedIp: o.fixedIp, securityGroupIds, keypairName, keypairPublicKey, availabilityZone: o.availabilityZone, floating: await resolveFloating(client, o, signal) };
}

async function resolveFlavor(client: OpenStackClient, o: BootOptions, signal?: AbortSignal): Promise<Flavor> {
  const flavors = await client.nova.listFlavors(signal);
  let flavor: Flavor;
  if (o.flavorId !== null) {
    const found = flavors.find((f) => f.id === o.flavorId);
    if (!found) throw bad('flavor_id', `unknown flavor ${o.flavorId} (known: ${flavors.map((f) => `${f.id} ${f.name}`).join(', ')})`);
    flavor = found;
  } else if (o.flavorName !== null) {
    flavor = single('flavor_name', 'flavor', o.flavorName, flavors.filter((f) => f.name === o.flavorName));
  } else {
    const fits = flavors
      .filter((f) => f.ram >= (o.flavorRamMiB ?? 0) && f.vcpus >= (o.flavorVcpus ?? 0))
      .sort((a, b) => a.ram - b.ram || a.vcpus - b.vcpus || a.disk - b.disk);
    if (!fits[0]) throw bad(o.flavorRamMiB !== null ? 'flavor_ram' : 'flavor_vcpus', `no flavor has ${describeMinimum(o)}`);
    return fits[0];
  }
  const field = o.flavorId !== null ? 'flavor_id' : 'flavor_name';
  if ((o.flavorRamMiB !== null && flavor.ram < o.flavorRamMiB) || (o.flavorVcpus !== null && flavor.vcpus < o.flavorVcpus)) {
    throw bad(field, `flavor ${flavor.name} (${flavor.vcpus} vCPU, ${flavor.ram} MiB) is smaller than the asked ${describeMinimum(o)}`);
  }
  return flavor;
}

function describeMinimum(o: BootOptions): string {
  const parts = [];
  if (o.flavorVcpus !== null) parts.push(`at least ${o.flavorVcpus} vCPU`);
  if (o.flavorRamMiB !== null) parts.push(`at least ${o.flavorRamMiB} MiB RAM`);
  return parts.join(' and ');
}

async function resolveNetwork(client: OpenStackClient, projectId: string, o: BootOptions, signal?: AbortSignal): Promise<{ network: Network; subnet: Subnet | null }> {
  let subnet: Subnet | null = null;
  if (o.subnetId !== null) subnet = await byId('subnet_id', 'subnet', o.subnetId, () => client.neutron.getSubnet(o.subnetId!, signal));
  let network: Network;
  if (o.networkId !== null) {
    network = await byId('network_id', 'network', o.networkId, () => client.neutron.getNetwork(o.networkId!, signal));
  } else if (o.networkName !== null) {
    // a name is looked up among the project's own networks and the shared ones
    const named = (await client.neutron.listNetworks({ name: o.networkName }, signal)).filter((n) => n.project_id === projectId || n.shared);
    network = single('network_name', 'network', o.networkName, named);
  } else if (subnet !== null) {
    network = await client.neutron.getNetwork(subnet.network_id, signal);
  } else {
    const named = (await client.neutron.listSubnets({ name: o.subnetName! }, signal)).filter((s) => s.name === o.subnetName);
    subnet = single('subnet_name', 'subnet', o.subnetName!, named);
    network = await client.neutron.getNetwork(subnet.network_id, signal);
  }
  const subnets = await client.neutron.listSubnets({ network_id: network.id }, signal);
  if (subnet === null && o.subnetName !== null) subnet = single('subnet_name', 'subnet', o.subnetName, subnets.filter((s) => s.name === o.subnetName));
  if (subnet === null && o.subnetCidr !== null) subnet = single('subnet_cidr', 'subnet', o.subnetCidr, subnets.filter((s) => s.cidr === o.subnetCidr));
  if (subnet !== null && subnet.network_id !== network.id) throw bad('subnet_id', `subnet ${subnet.name || subnet.id} is not on network ${network.name || network.id}`);
  if (subnets.length === 0) throw bad('network_id', `network ${network.name || network.id} has no subnet: a port there would get no address`);
  if (o.fixedIp !== null) {
    if (subnet === null) {
      const holding = subnets.filter((s) => ipInCidr(o.fixedIp!, s.cidr));
      if (!holding[0]) throw bad('fixed_ip', `${o.fixedIp} is in no subnet of network ${network.name || network.id} (${subnets.map((s) => s.cidr).join(', ')})`);
      subnet = holding[0];
    } else if (!ipInCidr(o.fixedIp, subnet.cidr)) {
      throw bad('fixed_ip', `${o.fixedIp} is not in subnet ${subnet.name || subnet.id} (${subnet.cidr})`);
    }
    if (subnet.gateway_ip === o.fixedIp) throw bad('fixed_ip', `${o.fixedIp} is the gateway address of subnet ${subnet.name || subnet.id}`);
  }
  return { network, subnet };
}

async function resolveSecurityGroups(client: OpenStackClient, projectId: string, o: BootOptions, signal?: AbortSignal): Promise<string[]> {
  if (o.securityGroupId !== null) {
    const group = await byId('security_group_id', 'security group', o.securityGroupId, () => client.neutron.getSecurityGroup(o.securityGroupId!, signal));
    if (group.project_id !== projectId) throw bad('security_group_id', `security group ${group.name} belongs to another project than the one the machine boots in`);
    return [group.id];
  }
  if (o.securityGroupName !== null) {
    // an admin sees every project's "default": only the boot project's groups count
    const named = await client.neutron.listSecurityGroups({ name: o.securityGroupName, project_id: projectId }, signal);
    return [single('security_group_name', 'security group', o.securityGroupName, named).id];
  }
  return [];
}

async function resolveFloating(client: OpenStackClient, o: BootOptions, signal?: AbortSignal): Promise<BootPlan['floating']> {
  let existing: FloatingIp | null = null;
  if (o.floatingIpId !== null) {
    existing = await byId('floating_ip_id', 'floating IP', o.floatingIpId, () => client.neutron.getFloatingIp(o.floatingIpId!, signal));
  } else if (o.floatingIpAddress !== null && o.floatingNetworkId === null) {
    const found = await client.neutron.listFloatingIps({ floating_ip_address: o.floatingIpAddress }, signal);
    existing = single('floating_ip_address', 'floating IP', o.floatingIpAddress, found);
  }
  if (existing !== null) {
    const field = o.floatingIpId !== null ? 'floating_ip_id' : 'floating_ip_address';
    if (existing.port_id !== null) throw bad(field, `floating IP ${existing.floating_ip_address} is already associated with port ${existing.port_id}`);
    return { existing };
  }
  if (o.floatingNetworkId === null) return null;
  const net = await byId('floating_network_id', 'network', o.floatingNetworkId, () => client.neutron.getNetwork(o.floatingNetworkId!, signal));
  if (!net['router:external']) throw bad('floating_network_id', `network ${net.name || net.id} is not external: floating IPs come from an external network`);
  return { networkId: net.id };
}
