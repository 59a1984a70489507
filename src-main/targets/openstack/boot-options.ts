/**
 * The seed's §4.5 boot options for an OpenStack target, read from the untyped `options` record
 * (wire names, all strings on the wire) into one typed request. Pure: no cloud calls here; names
 * are resolved against the cloud in `boot-resolve.ts`. Every refusal is a VALIDATION error naming
 * `boot.<field>`; `user_password` and `admin_pass` never appear in a message.
 */
import { isIP } from 'node:net';
import { RehostError } from '../../../src-shared/errors.js';

export const DEFAULT_BOOT_TIMEOUT_S = 600;

/** The boot user when the machine goes to another project than the configured one (seed "custom project"). */
export interface BootUser {
  userName: string;
  userDomainId: string;
  password: string;
}

export interface BootOptions {
  osType: 'Linux' | 'Windows' | null;
  /** Project to boot in; null = the configured project. */
  projectName: string | null;
  projectDomainId: string;
  /** Credentials of the project's user; null = the configured (service) user. */
  user: BootUser | null;
  flavorId: string | null;
  flavorName: string | null;
  /** Minimums when the flavor is picked by size: `flavor_ram` in GiB as the seed writes it ("1" = 1 GiB). */
  flavorRamMiB: number | null;
  flavorVcpus: number | null;
  networkId: string | null;
  networkName: string | null;
  subnetId: string | null;
  subnetName: string | null;
  subnetCidr: string | null;
  fixedIp: string | null;
  securityGroupId: string | null;
  securityGroupName: string | null;
  floatingIpId: string | null;
  floatingIpAddress: string | null;
  floatingNetworkId: string | null;
  keypairId: string | null;
  adminPass: string | null;
  availabilityZone: string | null;
  timeoutMs: number;
}

function bad(field: string, message: string): RehostError {
  return new RehostError('VALIDATION', `boot.${field}: ${message}`, { field: `boot.${field}` });
}

/** A non-empty trimmed string, or null when absent or empty (the seed sends "" for "not set"). */
function str(options: Record<string, unknown>, field: string): string | null {
  const v = options[field];
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') throw bad(field, 'must be a string');
  const t = v.trim();
  return t === '' ? null : t;
}

/** Secrets keep their exact value (spaces may be part of a password). */
function secret(options: Record<string, unknown>, field: string): string | null {
  const v = options[field];
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string') throw bad(field, 'must be a string');
  return v;
}

function positive(options: Record<string, unknown>, field: string): number | null {
  const s = str(options, field);
  if (s === null) return null;
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw bad(field, `must be a positive number, not ${JSON.stringify(s)}`);
  return n;
}

/** Reads and cross-checks the options; throws VALIDATION naming the field. */
export function parseBootOptions(options: Record<string, unknown>): BootOptions {
  const osType = str(options, 'os_type');
  if (osType !== null && osType !== 'Linux' && osType !== 'Windows') throw bad('os_type', 'must be Linux or Windows');
  const userName = str(options, 'user_name');
  const password = secret(options, 'user_password');
  if ((userName === null) !== (password === null)) {
    throw bad(userName === null ? 'user_name' : 'user_password', 'user_name and user_password go together (the user of the custom project)');
  }
  const projectName = str(options, 'project_name');
  if (userName !== null && projectName === null) throw bad('project_name', 'a custom user needs the project to boot in');
  const fixedIp = str(options, 'fixed_ip');
  if (fixedIp !== null && isIP(fixedIp) === 0) throw bad('fixed_ip', `${JSON.stringify(fixedIp)} is not an IP address`);
  const floatingIpId = str(options, 'floating_ip_id');
  const floatingIpAddress = str(options, 'floating_ip_address');
  const floatingNetworkId = str(options, 'floating_network_id');
  if (floatingIpId !== null && floatingNetworkId !== null) {
    throw bad('floating_network_id', 'give either floating_ip_id (an existing floating IP) or floating_network_id (allocate a new one), not both');
  }
  if (floatingIpAddress !== null && isIP(floatingIpAddress) === 0) throw bad('floating_ip_address', `${JSON.stringify(floatingIpAddress)} is not an IP address`);
  const ram = positive(options, 'flavor_ram');
  const vcpus = positive(options, 'flavor_vcpus');
  if (vcpus !== null && !Number.isInteger(vcpus)) throw bad('flavor_vcpus', 'must be a whole number');
  const timeout = options.boot_timeout_seconds;
  if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0))) throw bad('boot_timeout_seconds', 'must be a positive number of seconds');
  const parsed: BootOptions = {
    osType: osType as BootOptions['osType'],
    projectName,
    projectDomainId: str(options, 'project_domain_id') ?? 'default',
    user: userName !== null && password !== null ? { userName, userDomainId: str(options, 'user_domain_id') ?? 'default', password } : null,
    flavorId: str(options, 'flavor_id'),
    flavorName: str(options, 'flavor_name'),
    flavorRamMiB: ram === null ? null : Math.round(ram * 1024),
    flavorVcpus: vcpus,
    networkId: str(options, 'network_id'),
    networkName: str(options, 'network_name'),
    subnetId: str(options, 'subnet_id'),
    subnetName: str(options, 'subnet_name'),
    subnetCidr: str(options, 'subnet_cidr'),
    fixedIp,
    securityGroupId: str(options, 'security_group_id'),
    securityGroupName: str(options, 'security_group_name'),
    floatingIpId,
    floatingIpAddress,
    floatingNetworkId,
    keypairId: str(options, 'keypair_id'),
    adminPass: secret(options, 'admin_pass'),
    availabilityZone: str(options, 'availability_zone_id') ?? str(options, 'availability_zone_name'),
    timeoutMs: (typeof timeout === 'number' ? timeout : DEFAULT_BOOT_TIMEOUT_S) * 1000,
  };
  if (parsed.networkId === null && parsed.networkName === null && parsed.subnetId === null && parsed.subnetName === null) {
    throw bad('network_id', 'the network to boot on is required (network_id, network_name or subnet_id)');
  }
  if (parsed.flavorId === null && parsed.flavorName === null && ram === null && vcpus === null) {
    throw bad('flavor_id', 'the flavor is required (flavor_id, flavor_name, or flavor_ram/flavor_vcpus to pick the smallest that fits)');
  }
  return parsed;
}

/** True when `ip` (IPv4 or IPv6) lies in `cidr`. */
export function ipInCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  if (base === undefined || bitsText === undefined) return false;
  const a = ipBits(ip);
  const b = ipBits(base);
  const bits = Number(bitsText);
  if (a === null || b === null || a.length !== b.length || !Number.isInteger(bits)) return false;
  return a.slice(0, bits) === b.slice(0, bits);
}

function ipBits(ip: string): string | null {
  const kind = isIP(ip);
  if (kind === 4) return ip.split('.').map((o) => Number(o).toString(2).padStart(8, '0')).join('');
  if (kind !== 6) return null;
  const [head = '', tail = ''] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return null;
  return groups.map((g) => parseInt(g, 16).toString(2).padStart(16, '0')).join('');
}
