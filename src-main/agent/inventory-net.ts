/**
 * NICs for the inventory (seed 002 `networks`): name, MAC, MTU, every address with its own
 * netmask, and the default gateways (IPv4 from /proc/net/route, IPv6 from /proc/net/ipv6_route).
 * Building the list is pure, so recorded tables test it.
 */
import { readdirSync } from 'node:fs';
import * as os from 'node:os';
import type { ServerNetwork } from '../../src-shared/api/inventory.js';
import { readText } from './probe.js';

/** IPv4 default gateways by interface from /proc/net/route (little-endian hex). Pure. */
export function ipv4Gateways(route: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of route.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 2 && f[1] === '00000000' && f[2] !== '00000000' && !out.has(f[0]!)) {
      const g = Buffer.from(f[2]!, 'hex');
      out.set(f[0]!, `${g[3]}.${g[2]}.${g[1]}.${g[0]}`);
    }
  }
  return out;
}

/** IPv6 default gateways by interface from /proc/net/ipv6_route (::/0 routes with a next hop). Pure. */
export function ipv6Gateways(route: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of route.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[0] !== '0'.repeat(32) || f[1] !== '00' || /^0+$/.test(f[4]!)) continue;
    const hop = f[4]!.match(/.{4}/g)!.map((g) => g.replace(/^0{1,3}/, '')).join(':');
    if (!out.has(f[9]!)) out.set(f[9]!, compressIpv6(hop));
  }
  return out;
}

/** The shortest form of a full IPv6 address (RFC 5952: longest zero run as ::). Pure. */
export function compressIpv6(full: string): string {
  const groups = full.split(':').map((g) => g.replace(/^0+(?=.)/, ''));
  let best = [-1, 0];
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > best[1]! && j - i > 1) best = [i, j - i];
    i = j;
  }
  if (best[0]! < 0) return groups.join(':');
  return `${groups.slice(0, best[0]).join(':')}::${groups.slice(best[0]! + best[1]!).join(':')}`;
}

type Interfaces = ReturnType<typeof os.networkInterfaces>;

export interface LinkFacts {
  /** Every interface the kernel lists (/sys/class/net), with or without addresses. */
  names: string[];
  mtuOf(name: string): number;
  macOf(name: string): string;
}

/** The NICs other than loopback. Pure given its inputs. */
export function buildNetworks(ifaces: Interfaces, v4: Map<string, string>, v6: Map<string, string>, links: LinkFacts): ServerNetwork[] {
  const names = [...new Set([...links.names, ...Object.keys(ifaces)])].sort();
  return names
    .filter((name) => name !== 'lo' && !(ifaces[name] ?? []).some((a) => a.internal))
    .map((name) => {
      const list = ifaces[name] ?? [];
      const four = list.filter((a) => a.family === 'IPv4');
      const six = list.filter((a) => a.family === 'IPv6');
      // A global address first: a link-local one (fe80::) says less about where the host is.
      const six1 = six.find((a) => !a.address.startsWith('fe80:')) ?? six[0];
      return {
        name,
        ip: four[0]?.address ?? null,
        ipv6: six1?.address ?? null,
        netmask: four[0]?.netmask ?? null,
        gateway: v4.get(name) ?? null,
        mtu: links.mtuOf(name),
        mac: list[0]?.mac ?? links.macOf(name),
        addresses: list.map((a) => ({ address: a.address, family: a.family, netmask: a.netmask, prefix: Number(a.cidr?.split('/')[1] ?? 0) })),
        ipv6_gateway: v6.get(name) ?? null,
      };
    });
}

export function collectNetworks(): ServerNetwork[] {
  let names: string[] = [];
  try {
    names = readdirSync('/sys/class/net');
  } catch {
    // No sysfs: the interfaces with addresses are still listed.
  }
  const links: LinkFacts = {
    names,
    mtuOf: (name) => Number(readText(`/sys/class/net/${name}/mtu`)?.trim() ?? 0) || 0,
    macOf: (name) => readText(`/sys/class/net/${name}/address`)?.trim() ?? '',
  };
  return buildNetworks(os.networkInterfaces(), ipv4Gateways(readText('/proc/net/route') ?? ''), ipv6Gateways(readText('/proc/net/ipv6_route') ?? ''), links);
}
