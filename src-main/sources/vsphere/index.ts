/**
 * The VMware source driver (agentless): a vCenter or standalone ESXi over the vim25 SOAP API,
 * disks read from VM snapshots through the datastore HTTP endpoint, CBT for incremental syncs.
 */
import type { DriverDeps, SourceDriver } from '../../core/drivers.js';
import { endpointFromConfig, VsphereSource } from './vsphere-source.js';

/** Builds a VMware source for `config` ({host, port, username, thumbprint}; the password comes from the keychain). */
export function createVsphereSource(deps: DriverDeps, config: Record<string, unknown>): SourceDriver {
  return new VsphereSource(deps, endpointFromConfig(config, deps.secret));
}
