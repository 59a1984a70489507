/**
 * The Agent source driver: a Linux host reached over SSH, with the Rehost agent pushed to it
 * (issue 3). Reads go through the agent over the SSH channel (relay transport) or over a TLS 1.3
 * connection with per-job pinned certificates (direct transport, src-main/agent/direct.ts).
 */
import type { DriverDeps, SourceDriver } from '../../core/drivers.js';
import { AgentSource } from './agent-source.js';
import { parseConfig, parseSecret } from './config.js';

/** Builds an Agent source for `config` (address, port, username, sudo, host_key, disks). */
export function createAgentSource(deps: DriverDeps, config: Record<string, unknown>): SourceDriver {
  return new AgentSource(deps, parseConfig(config), parseSecret(deps.secret));
}
