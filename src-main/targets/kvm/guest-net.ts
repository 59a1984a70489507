/**
 * The guest's network as boot options set it on a KVM host, pure: checking `fixed_ip`, the
 * address, prefix, gateway and DNS it gets on the NIC the machine plugs into (a libvirt network
 * with its own subnet, a bridge, or QEMU's user-mode NAT), and the cloud-init network-config (v2)
 * that matches the NIC by its MAC. The OS fix-up gets the same values for guests without cloud-init.
 */
import { RehostError } from '../../../src-shared/errors.js';
import { userNet, type UserNet } from '../local/cloud-init.js';
import type { NicSpec } from './domain-xml.js';

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** What the guest's primary interface gets. */
export interface GuestNet {
  address: string;
  prefix: number;
  gateway?: string;
  dns?: string;
  /** The user-mode NAT network around the address (plain QEMU and libvirt `user` NICs). */
  slirp?: UserNet;
}

/** A libvirt network's own IPv4 subnet (`<ip address netmask|prefix>` of `virsh net-dumpxml`). */
export interface Subnet {
  address: string;
  prefix: number;
}

/** `fixed_ip` from the boot options: null when absent; a 4xx naming the field when not a host IPv4 address. */
export function fixedIpOption(options: Record<string, unknown>): string | null {
  const ip = options.fixed_ip;
  if (ip === undefined || ip === null || ip === '') return null;
  if (typeof ip !== 'string' || !IPV4.test(ip)) throw new RehostError('VALIDATION', `boot.fixed_ip: ${JSON.stringify(ip)} is not an IPv4 address (KVM machines get IPv4 only)`, { field: 'boot.fixed_ip' });
  if (/\.(0|255)$/.test(ip)) throw new RehostError('VALIDATION', `boot.fixed_ip: ${ip} is a network or broadcast address`, { field: 'boot.fixed_ip' });
  return ip;
}

function toInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

/** The `<ip>` subnet from a network's XML, or null when it has none (an address-less bridge network). */
export function parseSubnet(xml: string): Subnet | null {
  const tag = /<ip\b[^>]*>/.exec(xml)?.[0];
  if (!tag || /family=['"]ipv6['"]/.test(tag)) return null;
  const address = /address=['"]([\d.]+)['"]/.exec(tag)?.[1];
  if (!address || !IPV4.test(address)) return null;
  const prefix = /prefix=['"](\d+)['"]/.exec(tag)?.[1];
  const mask = /netmask=['"]([\d.]+)['"]/.exec(tag)?.[1];
  const bits = prefix !== undefined ? Number(prefix) : mask ? toInt(mask).toString(2).replace(/0+$/, '').length : 24;
  return { address, prefix: bits };
}

/**
 * The address settings for `fixedIp` on `nic`: on a libvirt network with a subnet, inside it with
 * the network's own address as gateway and DNS (refused outside it); on a bridge or an
 * address-less network, a /24 and nothing else; on user-mode NAT, the NAT network moved around it.
 */
export function guestNet(fixedIp: string, nic: NicSpec, subnet: Subnet | null): GuestNet {
  if (nic.kind === 'user') {
    const slirp = userNet(fixedIp);
    return { address: fixedIp, prefix: 24, gateway: slirp.gateway, dns: slirp.dns, slirp };
  }
  if (subnet === null) return { address: fixedIp, prefix: 24 };
  const mask = subnet.prefix === 0 ? 0 : (0xffffffff << (32 - subnet.prefix)) >>> 0;
  if (((toInt(fixedIp) & mask) >>> 0) !== ((toInt(subnet.address) & mask) >>> 0)) {
    const name = nic.kind === 'network' ? nic.network : nic.bridge;
    throw new RehostError('VALIDATION', `boot.fixed_ip: ${fixedIp} is outside ${subnet.address}/${subnet.prefix}, the subnet of libvirt network ${name}`, { field: 'boot.fixed_ip' });
  }
  if (fixedIp === subnet.address) throw new RehostError('VALIDATION', `boot.fixed_ip: ${fixedIp} is the libvirt network's own address`, { field: 'boot.fixed_ip' });
  return { address: fixedIp, prefix: subnet.prefix, gateway: subnet.address, dns: subnet.address };
}

const q = (s: string) => JSON.stringify(s);

/** cloud-init network-config v2 for the NIC with `mac`. */
export function networkConfig(mac: string, net: GuestNet): string {
  return [
    'version: 2',
    'ethernets:',
    '  primary:',
    '    match:',
    `      macaddress: ${q(mac)}`,
    '    dhcp4: false',
    `    addresses: [${q(`${net.address}/${net.prefix}`)}]`,
    ...(net.gateway ? [`    gateway4: ${q(net.gateway)}`] : []),
    ...(net.dns ? ['    nameservers:', `      addresses: [${q(net.dns)}]`] : []),
    '',
  ].join('\n');
}
