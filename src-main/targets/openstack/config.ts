/**
 * The OpenStack target's `config` (seed 000 §2.3.1 plus the gateway fields), checked beyond the
 * API schema: rules between fields, each error naming its field.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { GatewaySettings, OpenStackTargetConfig } from './context.js';

const HOST_KEY = /^SHA256:[A-Za-z0-9+/]{43}$/;

function invalid(field: string, message: string): RehostError {
  return new RehostError('VALIDATION', `config.${field}: ${message}`, { field: `config.${field}` });
}

function text(config: Record<string, unknown>, field: string, required: true): string;
function text(config: Record<string, unknown>, field: string, required?: false): string | null;
function text(config: Record<string, unknown>, field: string, required = false): string | null {
  const v = config[field];
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) {
    if (required) throw invalid(field, 'is required');
    return null;
  }
  if (typeof v !== 'string') throw invalid(field, 'must be a string');
  return v.trim();
}

function port(config: Record<string, unknown>, field: string, fallback: number): number {
  const v = config[field];
  if (v === undefined || v === null) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw invalid(field, 'must be a port number 1–65535');
  return n;
}

function oneOf<T extends string>(config: Record<string, unknown>, field: string, allowed: readonly T[], fallback: T): T {
  const v = text(config, field) ?? fallback;
  if (!(allowed as readonly string[]).includes(v)) throw invalid(field, `must be ${allowed.map((a) => JSON.stringify(a)).join(', ')}, not ${JSON.stringify(v)}`);
  return v as T;
}

/** Parses `config`; `secret` holds the keychain fields (only checked for presence here). */
export function parseConfig(config: Record<string, unknown>, secret: Record<string, string>): OpenStackTargetConfig {
  const authUrl = text(config, 'os_auth_url', true);
  try {
    const url = new URL(authUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw invalid('os_auth_url', `${authUrl} is not an http(s) URL of Keystone (e.g. http://192.168.10.201:5000/v3)`);
  }
  if (!secret.os_password) throw invalid('os_password', 'is required (kept in the OS keychain)');
  return {
    authUrl,
    username: text(config, 'os_username', true),
    projectName: text(config, 'os_project_name', true),
    userDomainId: text(config, 'os_user_domain_id') ?? 'default',
    projectDomainId: text(config, 'os_project_domain_id') ?? 'default',
    region: text(config, 'os_region_name'),
    volumeAvailabilityZone: text(config, 'volume_availability_zone'),
    volumeType: text(config, 'volume_type'),
    endpointInterface: oneOf(config, 'os_interface', ['public', 'internal', 'admin'], 'public'),
    cutoverCopy: oneOf(config, 'cutover_copy', ['auto', 'clone'], 'auto'),
    gateway: parseGateway(config, secret),
  };
}

function parseGateway(config: Record<string, unknown>, secret: Record<string, string>): GatewaySettings {
  const mode = oneOf(config, 'gateway_mode', ['dedicated', 'shared'], 'dedicated');
  const serverId = text(config, 'gateway_server_id');
  const imageId = text(config, 'gateway_image_id');
  const flavorId = text(config, 'gateway_flavor_id');
  const networkId = text(config, 'gateway_network_id');
  const build = [['gateway_image_id', imageId], ['gateway_flavor_id', flavorId], ['gateway_network_id', networkId]] as const;
  if (serverId !== null && build.some(([, v]) => v !== null)) {
    throw invalid('gateway_server_id', 'name an existing gateway instance or give image, flavor and network for Rehost to create one, not both');
  }
  const given = build.filter(([, v]) => v !== null);
  if (given.length > 0 && given.length < build.length) {
    const missing = build.find(([, v]) => v === null)![0];
    throw invalid(missing, 'is required with the other gateway_image_id / gateway_flavor_id / gateway_network_id fields (Rehost creates the gateway from all three)');
  }
  const hostKey = text(config, 'gateway_host_key');
  if (hostKey !== null && !HOST_KEY.test(hostKey)) throw invalid('gateway_host_key', 'must be an OpenSSH SHA256 fingerprint ("SHA256:" and 43 base64 characters)');
  const configured = serverId !== null || given.length > 0;
  if (configured && !secret.gateway_password && !secret.gateway_private_key) {
    throw invalid('gateway_password', 'the gateway needs an SSH password or config.gateway_private_key for Rehost to run its agent there');
  }
  const sudo = config.gateway_sudo;
  if (sudo !== undefined && typeof sudo !== 'boolean') throw invalid('gateway_sudo', 'must be true or false');
  const username = text(config, 'gateway_username') ?? 'root';
  return {
    mode,
    serverId,
    imageId,
    flavorId,
    networkId,
    address: text(config, 'gateway_address'),
    directAddress: text(config, 'gateway_direct_address'),
    sshPort: port(config, 'gateway_ssh_port', 22),
    username,
    hostKey,
    sudo: sudo === true,
  };
}

/** True when the config names a gateway (an instance, or what to create one from). */
export function hasGateway(config: OpenStackTargetConfig): boolean {
  return config.gateway.serverId !== null || config.gateway.imageId !== null;
}
