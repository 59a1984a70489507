/**
 * What every part of the OpenStack target shares: the parsed configuration, the client, and the
 * naming and tagging rules. Every resource Rehost creates carries its host id and role (Cinder and
 * Nova metadata; Neutron `description` "rehost:<host id>" plus tags where the cloud has the
 * extension), so cleanup finds exactly what Rehost made and never touches anything else.
 */
import type { DriverVault } from '../../core/drivers.js';
import type { Logger } from '../../core/ports.js';
import type { OpenStackClient } from './client/index.js';

/** How the engine reaches the gateway ("HyperGate") where the agent runs in the sink role. */
export interface GatewaySettings {
  /**
   * `dedicated`: the gateway and sync volumes live in the configured project. `shared`: they live
   * in the configured (service) project, and a boot hands volumes to the user's project by
   * volume transfer.
   */
  mode: 'dedicated' | 'shared';
  /** An existing instance the user named; null = Rehost creates one from image/flavor/network. */
  serverId: string | null;
  imageId: string | null;
  flavorId: string | null;
  networkId: string | null;
  /** SSH address of the gateway; overrides the server's own address (needed behind NAT, and with the test peer). */
  address: string | null;
  /** Where source agents connect for transport direct; null or absent = the address SSH reached. */
  directAddress?: string | null;
  sshPort: number;
  username: string;
  /** Pinned host key `SHA256:…`; null = pinned on first use (kept in the driver's work folder). */
  hostKey: string | null;
  /** Run the agent through `sudo -n` (a non-root gateway user). */
  sudo: boolean;
}

/** The target's `config`, parsed and checked (secrets are in `OpenStackContext.secret`). */
export interface OpenStackTargetConfig {
  authUrl: string;
  username: string;
  projectName: string;
  userDomainId: string;
  projectDomainId: string;
  region: string | null;
  volumeAvailabilityZone: string | null;
  /** Cinder volume type of sync volumes; null = the cloud's default type. */
  volumeType: string | null;
  /** Endpoint interface taken from the Keystone catalog (`os_interface`, default `public`). */
  endpointInterface: 'public' | 'internal' | 'admin';
  /**
   * How a cutover's volume is made independent of the snapshot chain: `auto` = Cinder backup and
   * restore when the backup service works, else a flattened clone; `clone` = always the clone.
   */
  cutoverCopy: 'auto' | 'clone';
  gateway: GatewaySettings;
}

export interface OpenStackContext {
  client: OpenStackClient;
  config: OpenStackTargetConfig;
  /** `os_password`, `gateway_password`, `gateway_private_key`, `gateway_passphrase`: memory only. */
  secret: Record<string, string>;
  log: Logger;
  workDir: string;
  /** The driver's keychain entry (boot users' credentials for a later cleanup); null = none available. */
  vault: DriverVault | null;
  /** Project id where sync volumes (and the gateway) live: the configured credentials' project. */
  volumeProjectId(): Promise<string>;
}

/** What a Rehost-made resource is for. */
export type RehostRole = 'sync' | 'snapshot' | 'boot' | 'gateway';

/** Metadata keys (Cinder volumes and snapshots, Nova servers). */
export const META_HOST = 'rehost_host';
export const META_ROLE = 'rehost_role';
/** On sync volumes: the source disk index. */
export const META_DISK = 'rehost_disk';
/** On sync volumes: "1" once the sink wrote to it (until then it holds only zeros). */
export const META_WRITTEN = 'rehost_written';

/** The metadata every Rehost-made Cinder/Nova resource carries. */
export function rehostMetadata(hostId: string, role: RehostRole, extra: Record<string, string> = {}): Record<string, string> {
  return { [META_HOST]: hostId, [META_ROLE]: role, ...extra };
}

/** True when `metadata` marks a resource Rehost made (for `hostId` and `role` when given). */
export function isRehostOwned(metadata: Record<string, string> | null | undefined, hostId?: string, role?: RehostRole): boolean {
  if (!metadata || typeof metadata[META_HOST] !== 'string' || typeof metadata[META_ROLE] !== 'string') return false;
  return (hostId === undefined || metadata[META_HOST] === hostId) && (role === undefined || metadata[META_ROLE] === role);
}

/** Neutron resources (ports, floating IPs) have no metadata: their description marks them. */
export function neutronDescription(hostId: string): string {
  return `rehost:${hostId}`;
}

/** Neutron tags (where the `standard-attr-tag` extension exists), same rule as the metadata. */
export function neutronTags(hostId: string, role: RehostRole): string[] {
  return [`${META_HOST}=${hostId}`, `${META_ROLE}=${role}`];
}

/**
 * What names a disk in `sync_vol_<host>_<disk>`: the seed's example (§4.2.3,
 * `sync_vol_k-node01-10.92_k-node01-10.92_1.vmdk`, and the host storage sheet pairing
 * `corresponding_disk: centos6.7_JC.vmdk` with `sync_vol_centos6.7_JC.vmdk`) uses the disk's
 * file name: the file the locator names (VMDK or image, the datastore prefix dropped), a device's
 * last path part, else the disk's own name.
 */
export function diskLabel(disk: { index: number; name: string; locator?: string }): string {
  const from = (text: string | undefined) => {
    const last = (text ?? '').replace(/^\[[^\]]*\]\s*/, '').split(/[\\/]/).filter((p) => p !== '').pop() ?? '';
    return last.trim().replace(/\s+/g, '_');
  };
  return from(disk.locator) || from(disk.name) || `disk${disk.index}`;
}

/**
 * The sync volume name of every disk of a host (seed naming `sync_vol_<host name>_<disk>`); two
 * disks with the same label get their index appended, so names stay unique per host.
 */
export function syncVolumeNames(host: { name: string; disks: { index: number; name: string; locator?: string }[] }): Map<number, string> {
  const labels = host.disks.map((d) => diskLabel(d));
  const names = new Map<number, string>();
  host.disks.forEach((d, i) => {
    const label = labels[i]!;
    const unique = labels.filter((l) => l === label).length === 1;
    names.set(d.index, `sync_vol_${host.name}_${unique ? label : `${label}_${d.index}`}`);
  });
  return names;
}

/** Name of a gateway server Rehost creates for a project. */
export function gatewayServerName(projectName: string): string {
  return `HyperGate_${projectName}`;
}

/** The marker hostId of a gateway server (it belongs to the target, not to one host). */
export const GATEWAY_OWNER = 'gateway';
