/**
 * The machine's network: a port made first (so a fixed IP that is taken fails before any volume
 * or server exists, and the port carries Rehost's description for cleanup), then a floating IP
 * allocated for it or an existing one associated. Neutron's refusals become errors naming the
 * boot field they are about.
 */
import { RehostError } from '../../../src-shared/errors.js';
import { OpenStackError, type OpenStackClient } from './client/index.js';
import type { FloatingIp, Port } from './client/neutron.js';
import type { BootPlan } from './boot-resolve.js';
import { neutronDescription } from './context.js';

export async function createBootPort(client: OpenStackClient, hostId: string, hostName: string, plan: BootPlan, signal: AbortSignal): Promise<Port> {
  const fixedIps = plan.subnet === null ? undefined : [{ subnet_id: plan.subnet.id, ...(plan.fixedIp !== null ? { ip_address: plan.fixedIp } : {}) }];
  try {
    return await client.neutron.createPort(
      {
        network_id: plan.network.id,
        name: `${hostName}-port`,
        description: neutronDescription(hostId),
        ...(fixedIps ? { fixed_ips: fixedIps } : {}),
        ...(plan.securityGroupIds.length > 0 ? { security_groups: plan.securityGroupIds } : {}),
      },
      signal,
    );
  } catch (err) {
    if (!OpenStackError.isOpenStack(err)) throw err;
    const where = `network ${plan.network.name || plan.network.id}`;
    if (plan.fixedIp !== null && err.httpStatus === 409) {
      throw new RehostError('CONFLICT', `boot.fixed_ip: ${plan.fixedIp} is already in use on ${where}`, { field: 'boot.fixed_ip' }, { cause: err });
    }
    if (plan.fixedIp !== null && err.httpStatus === 403) {
      throw new RehostError('UNPROCESSABLE', `boot.fixed_ip: the boot user may not choose a fixed IP on ${where} (Neutron lets only the network's owner or an admin do that)`, { field: 'boot.fixed_ip' }, { cause: err });
    }
    if (plan.fixedIp !== null && err.httpStatus === 400 && /ip/i.test(err.fault)) {
      throw new RehostError('VALIDATION', `boot.fixed_ip: Neutron refused ${plan.fixedIp} on ${where}: ${err.fault}`, { field: 'boot.fixed_ip' }, { cause: err });
    }
    throw err;
  }
}

/** Gives the port its floating IP: a new one (tagged) or the existing one asked for; null when none. */
export async function attachFloatingIp(client: OpenStackClient, hostId: string, plan: BootPlan, portId: string, created: (id: string) => void, signal: AbortSignal): Promise<FloatingIp | null> {
  if (plan.floating === null) return null;
  const field = 'existing' in plan.floating ? 'floating_ip_id' : 'floating_network_id';
  try {
    if ('existing' in plan.floating) return await client.neutron.associateFloatingIp(plan.floating.existing.id, portId, signal);
    const body = { floatingip: { floating_network_id: plan.floating.networkId, port_id: portId, description: neutronDescription(hostId) } };
    const fip = (await client.neutron.http.request<{ floatingip: FloatingIp }>('POST', '/v2.0/floatingips', { body, signal })).floatingip;
    created(fip.id);
    return fip;
  } catch (err) {
    if (!OpenStackError.isOpenStack(err) || err.httpStatus === 0 || err.httpStatus >= 500) throw err;
    const why = err.quotaExceeded || /quota/i.test(err.fault) ? 'the project\'s floating IP quota is used up' : err.httpStatus === 404 && /reachable|router|gateway/i.test(err.fault) ? `the machine's network has no router to the external network (${err.fault})` : err.fault;
    throw new RehostError(err.httpStatus === 409 ? 'CONFLICT' : 'UNPROCESSABLE', `boot.${field}: the floating IP cannot be given to the machine: ${why}`, { field: `boot.${field}` }, { cause: err });
  }
}
