/**
 * The OpenStack target driver (seed 000 §2.3.1): Keystone, Cinder, Nova, Neutron and Glance
 * through Rehost's own client; sync volumes attached to a gateway where the agent runs in the
 * sink role.
 */
import { TARGET_SECRET_FIELDS } from '../../../src-shared/api/targets.js';
import type { DriverDeps, TargetDriver } from '../../core/drivers.js';
import { OpenStackClient } from './client/index.js';
import { parseConfig } from './config.js';
import type { OpenStackContext } from './context.js';
import { OpenStackTarget } from './openstack-target.js';

/** Kept in the OS keychain, never in the database. */
export const secretFields: readonly string[] = TARGET_SECRET_FIELDS.OpenStack;

export function createOpenStackTarget(deps: DriverDeps, config: Record<string, unknown>): TargetDriver {
  const parsed = parseConfig(config, deps.secret);
  const client = new OpenStackClient({
    authUrl: parsed.authUrl,
    username: parsed.username,
    password: deps.secret.os_password!,
    userDomainId: parsed.userDomainId,
    projectName: parsed.projectName,
    projectDomainId: parsed.projectDomainId,
    region: parsed.region,
    interface: parsed.endpointInterface,
  });
  const ctx: OpenStackContext = {
    client,
    config: parsed,
    secret: deps.secret,
    log: deps.log,
    workDir: deps.workDir,
    vault: deps.vault ?? null,
    volumeProjectId: async () => (await client.keystone.info()).projectId,
  };
  return new OpenStackTarget(ctx);
}
