/**
 * The check before a boot (seed 001 `CheckTargetHostInfoExisting`): is the server name, a boot
 * volume name or the fixed IP already used in the target? All three are looked up and reported
 * together in one CONFLICT error, so the user fixes everything in one go. What a previous test
 * boot of the same host holds does not count: the new boot replaces it.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { OpenStackClient } from './client/index.js';
import { isRehostOwned, neutronDescription } from './context.js';
import { META_BOOT } from './boot-volumes.js';

/** Seed 001's answer: `ServerNameExisted`, `VolumeNameExisted`, `IpExisted`. */
export interface BootConflicts {
  serverName: string | null;
  volumeNames: string[];
  ips: { networkId: string; ips: string[] }[];
}

export class BootConflictError extends RehostError {
  constructor(readonly conflicts: BootConflicts) {
    const parts: string[] = [];
    if (conflicts.serverName !== null) parts.push(`a server named ${JSON.stringify(conflicts.serverName)} already exists`);
    if (conflicts.volumeNames.length > 0) parts.push(`volume name${conflicts.volumeNames.length > 1 ? 's' : ''} already in use: ${conflicts.volumeNames.join(', ')}`);
    for (const net of conflicts.ips) parts.push(`fixed IP ${net.ips.join(', ')} already in use on network ${net.networkId}`);
    const fields = [conflicts.serverName !== null ? 'boot.server_name' : null, conflicts.volumeNames.length > 0 ? 'boot.volume_names' : null, conflicts.ips.length > 0 ? 'boot.fixed_ip' : null].filter((f) => f !== null);
    super('CONFLICT', `the target already has what this boot would create: ${parts.join('; ')}`, { field: fields.length === 1 ? fields[0]! : 'boot' });
    this.name = 'BootConflictError';
  }

  static hasAny(c: BootConflicts): boolean {
    return c.serverName !== null || c.volumeNames.length > 0 || c.ips.length > 0;
  }
}

export interface ConflictQuery {
  hostId: string;
  serverName: string;
  volumeNames: string[];
  fixedIp: { networkId: string; subnetId: string; ip: string } | null;
}

/** Escapes `text` for Nova's regular-expression `name` filter. */
function exactName(text: string): string {
  return `^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
}

/** True for the migrated machine of `hostId`: a finished cutover's server (not one that failed). */
export function isMigratedServer(server: object, hostId: string): boolean {
  const { metadata, status } = server as { metadata?: Record<string, string>; status?: string };
  return isRehostOwned(metadata, hostId, 'boot') && metadata?.[META_BOOT] === 'cutover' && status !== 'ERROR';
}

/** True for a server a new boot of `hostId` replaces: any boot of that host but its migrated machine. */
export function isReplaceableServer(server: object, hostId: string): boolean {
  const metadata = (server as { metadata?: Record<string, string> }).metadata;
  return isRehostOwned(metadata, hostId, 'boot') && !isMigratedServer(server, hostId);
}

/**
 * Looks everything up: servers and volumes in the boot project (`boot`), volumes also in the
 * volume project (`volumes`) where boot volumes are made first, ports on the fixed IP's subnet.
 */
export async function findBootConflicts(boot: OpenStackClient, volumes: OpenStackClient, q: ConflictQuery, signal?: AbortSignal): Promise<BootConflicts> {
  const servers = (await boot.nova.listServers({ name: exactName(q.serverName) }, signal)).filter((s) => s.name === q.serverName);
  const replaced = new Set(servers.filter((s) => isReplaceableServer(s, q.hostId)).map((s) => s.id));
  const serverName = servers.some((s) => !replaced.has(s.id)) ? q.serverName : null;
  const taken = new Set<string>();
  for (const client of new Set([boot, volumes])) {
    // listed whole: a member's token may not filter volumes by name in every cloud's policy
    const found = await client.cinder.listVolumes({}, signal);
    for (const v of found) {
      // the host's own boot volumes are replaced, except those of its migrated machine (attached)
      const replaceable = isRehostOwned(v.metadata, q.hostId, 'boot') && (v.metadata[META_BOOT] === 'test' || v.attachments.every((a) => replaced.has(a.server_id)));
      if (v.name !== null && q.volumeNames.includes(v.name) && !replaceable) taken.add(v.name);
    }
  }
  const ips: BootConflicts['ips'] = [];
  if (q.fixedIp !== null) {
    const holders = await boot.neutron.portsWithIp(q.fixedIp.subnetId, q.fixedIp.ip, signal);
    const ours = (p: { device_id: string }) => (p as { description?: string }).description === neutronDescription(q.hostId) && (p.device_id === '' || replaced.has(p.device_id));
    if (holders.some((p) => !ours(p))) ips.push({ networkId: q.fixedIp.networkId, ips: [q.fixedIp.ip] });
  }
  return { serverName, volumeNames: q.volumeNames.filter((n) => taken.has(n)), ips };
}

/** Throws one BootConflictError listing every conflict, or returns quietly. */
export async function checkBootConflicts(boot: OpenStackClient, volumes: OpenStackClient, q: ConflictQuery, signal?: AbortSignal): Promise<void> {
  const found = await findBootConflicts(boot, volumes, q, signal);
  if (BootConflictError.hasAny(found)) throw new BootConflictError(found);
}
