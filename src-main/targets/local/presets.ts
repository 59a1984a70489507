/**
 * The resources a Local target offers the boot wizard. This machine has no catalogue of its own,
 * so these are fixed presets in the shapes the wizard lists for cloud targets.
 */
import type { ResourceKind } from '../../../src-shared/states.js';

/** What `capabilities.resources` declares; `listResources` answers exactly these. */
export const LOCAL_RESOURCES = ['flavors', 'networks', 'availability_zones', 'keypairs'] as const satisfies readonly ResourceKind[];

/** One of LOCAL_RESOURCES. */
export type LocalResourceKind = (typeof LOCAL_RESOURCES)[number];

const FLAVORS = [
  { id: 'local.tiny', name: 'tiny', vcpus: 1, ram_mib: 512, disk_gib: 1 },
  { id: 'local.small', name: 'small', vcpus: 1, ram_mib: 1024, disk_gib: 20 },
  { id: 'local.medium', name: 'medium', vcpus: 2, ram_mib: 4096, disk_gib: 40 },
  { id: 'local.large', name: 'large', vcpus: 4, ram_mib: 8192, disk_gib: 80 },
  { id: 'local.xlarge', name: 'xlarge', vcpus: 8, ram_mib: 16384, disk_gib: 160 },
];

/** User-mode networking needs no privileges and no bridge, so it is the one network offered. */
const NETWORKS = [{ id: 'user-nat', name: 'User-mode NAT' }];

const ZONES = [{ id: 'local', name: 'local' }];

/** True for the resource kinds a Local target lists. */
export function isLocalResource(kind: ResourceKind): kind is LocalResourceKind {
  return (LOCAL_RESOURCES as readonly ResourceKind[]).includes(kind);
}

/** Fresh copies, so a caller that edits the answer cannot change the presets. Key pairs are files, listed by the target. */
export function presets(kind: Exclude<LocalResourceKind, 'keypairs'>): Record<string, unknown>[] {
  const table = kind === 'flavors' ? FLAVORS : kind === 'networks' ? NETWORKS : ZONES;
  return table.map((row) => ({ ...row }));
}
