/** The Agent source's configuration (seed 000 §2.2.1), validated beyond the API schema. */
import { RehostError } from '../../../src-shared/errors.js';

export interface AgentConfig {
  address: string;
  port: number;
  username: string;
  sudo: boolean;
  /** Expected host key (`SHA256:…`), when the user gave one. */
  hostKey: string | null;
  /** Block devices to offer; empty = every disk the agent finds. */
  disks: string[];
  /** How disk data travels: over the engine's SSH channel (`relay`) or pinned TLS 1.3 from the agent (`direct`). */
  transport: 'relay' | 'direct';
  /**
   * Which end listens for `direct`: the source `agent`, or the `engine` (meaning the other end:
   * the engine, or the sink agent of a KVM host or gateway). Unset, each link takes the direction
   * that works through NAT: the engine dials the agent (as it dials SSH), and the source agent
   * dials a sink agent (a cloud gateway seldom reaches into the customer's network).
   */
  directListener?: 'engine' | 'agent';
  /** The address the dialing end connects to for `direct`; null = that end of the SSH connection. */
  directAddress: string | null;
}

export interface AgentSecret {
  password?: string;
  privateKey?: string;
  passphrase?: string;
}

function field(config: Record<string, unknown>, name: string): string {
  const v = config[name];
  if (typeof v !== 'string' || v.trim() === '') throw new RehostError('VALIDATION', `config.${name} is required`, { field: `config.${name}` });
  return v.trim();
}

export function parseConfig(config: Record<string, unknown>): AgentConfig {
  const port = config.port === undefined ? 22 : Number(config.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RehostError('VALIDATION', 'config.port must be 1–65535', { field: 'config.port' });
  const disks = Array.isArray(config.disks) ? config.disks.map(String) : [];
  for (const d of disks) if (!/^\/dev\/[A-Za-z0-9/_-]+$/.test(d)) throw new RehostError('VALIDATION', `config.disks: ${d} is not a device path`, { field: 'config.disks' });
  return {
    address: field(config, 'address'),
    port,
    username: field(config, 'username'),
    sudo: config.sudo === true,
    hostKey: typeof config.host_key === 'string' ? config.host_key : null,
    disks,
    transport: config.transport === 'direct' ? 'direct' : 'relay',
    directListener: config.direct_listener === 'engine' || config.direct_listener === 'agent' ? config.direct_listener : undefined,
    directAddress: typeof config.direct_address === 'string' && config.direct_address.trim() !== '' ? config.direct_address.trim() : null,
  };
}

export function parseSecret(secret: Record<string, string>): AgentSecret {
  const out: AgentSecret = {};
  if (secret.password) out.password = secret.password;
  if (secret.private_key) out.privateKey = secret.private_key;
  if (secret.passphrase) out.passphrase = secret.passphrase;
  if (!out.password && !out.privateKey) throw new RehostError('VALIDATION', 'an Agent source needs config.password or config.private_key', { field: 'config.password' });
  return out;
}
