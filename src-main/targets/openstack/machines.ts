/**
 * The `machines` capability of the OpenStack target (seed §4.5): boots a server from volumes made
 * from the host's Cinder snapshots, in the configured project or a user's project (volume
 * transfer), with the flavor, network, fixed IP, security group, floating IP, key pair and zone
 * asked for. Order of work: fast refusals first (options, names, conflicts, the port with its
 * fixed IP, the floating IP), then the slow volume copies, then the server. A failed boot deletes
 * what it made; anything it could not delete carries the host's tags for `cleanup`.
 *
 * A new boot replaces the host's previous test boot. A cutover's server is the migrated machine:
 * `cleanup` keeps it (scope `test-boots`) unless asked for `all`.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { BootRequest, BootResult, TargetMachines } from '../../core/drivers.js';
import type { Host, Snapshot, Volume } from '../../core/model.js';
import { OpenStackError, type OpenStackClient } from './client/index.js';
import type { BlockDeviceMapping, ServerCreate } from './client/nova.js';
import { imageProperties, userData } from './boot-guest.js';
import { forgetScopes, openStoredScopes, rememberScope } from './boot-scopes.js';
import { parseBootOptions, type BootOptions } from './boot-options.js';
import { resolveBootPlan, type BootPlan } from './boot-resolve.js';
import { openBootSession, type BootSession } from './boot-session.js';
import { CUTOVER_PENDING, META_BOOT, bootMetadata, bootVolumeName, makeBootVolumes, transferVolumes, type BootDisk, type BootKind } from './boot-volumes.js';
import { attachFloatingIp, createBootPort } from './boot-network.js';
import { removeBootResources, type CleanupScope, type RemovedCounts } from './boot-cleanup.js';
import { checkBootConflicts } from './conflicts.js';
import type { OpenStackContext } from './context.js';

const CONSOLE_LINES = 200;

/** What a boot made so far, and which client can delete each piece. */
interface Made {
  servers: string[];
  ports: string[];
  floatingIps: string[];
  volumes: Map<string, OpenStackClient>;
}

export class OpenStackMachines implements TargetMachines {
  constructor(private readonly ctx: OpenStackContext) {}

  /** Refuses bad options, unknown names and conflicts before the boot job starts. */
  async check(host: Host, volumes: Volume[], options: Record<string, unknown>): Promise<void> {
    const o = parseBootOptions(options);
    bootDiskOrder(host, volumes);
    const session = await openBootSession(this.ctx, o, AbortSignal.timeout(120_000));
    try {
      const plan = await resolveBootPlan(session.client, session.projectId, o, AbortSignal.timeout(120_000));
      await this.checkConflicts(host, volumes, plan, session, AbortSignal.timeout(120_000));
    } finally {
      await session.close();
    }
  }

  async boot(host: Host, volumes: Volume[], request: BootRequest): Promise<BootResult> {
    const { signal } = request;
    const o = parseBootOptions(request.options);
    const kind: BootKind = request.backupType === 'volume_backup' ? 'cutover' : 'test';
    const disks = bootDisks(host, volumes, request.snapshot);
    const session = await openBootSession(this.ctx, o, signal);
    try {
      const plan = await resolveBootPlan(session.client, session.projectId, o, signal);
      // remembered before anything is made there, so cleanup can always reach it
      if (session.scope !== null) await rememberScope(this.ctx, host.id, session.scope);
      // the host's previous test boot makes way (same server name, maybe the same fixed IP), wherever it ran
      await this.withStoredScopes(host, true, signal, (extra) => removeBootResources(this.ctx, host.id, 'test-boots', false, signal, [session.client, ...extra]));
      await this.checkConflicts(host, volumes, plan, session, signal);
      return await this.bootIn(session, host, kind, disks, plan, o, request);
    } finally {
      await session.close();
    }
  }

  /** The tail of the server's console log (Nova `os-getConsoleOutput`), or null when there is none. */
  async console(host: Host): Promise<string | null> {
    if (host.cloudInstanceId === null) return null;
    try {
      const res = await this.ctx.client.nova.serverAction<{ output?: string }>(host.cloudInstanceId, { 'os-getConsoleOutput': { length: CONSOLE_LINES } }, AbortSignal.timeout(60_000));
      return typeof res?.output === 'string' ? res.output : null;
    } catch (err) {
      // gone, in another project the service user cannot see, or a hypervisor without console logs
      if (OpenStackError.isOpenStack(err) && [404, 403, 409, 501].includes(err.httpStatus)) return null;
      throw err;
    }
  }

  /** Deletes the servers, ports, floating IPs, volumes and backups Rehost's boots made for `host`. */
  async cleanup(host: Host, force: boolean, signal: AbortSignal, scope: CleanupScope = 'test-boots'): Promise<RemovedCounts> {
    const counts = await this.withStoredScopes(host, force, signal, (extra) => removeBootResources(this.ctx, host.id, scope, force, signal, extra));
    this.ctx.log.info({ host: host.id, scope, ...counts }, 'boot resources removed');
    return counts;
  }

  /** The host's remembered boot scopes forgotten (after its cleanup): its boots are gone or are the migrated machine. */
  async forget(host: Host): Promise<void> {
    await forgetScopes(this.ctx, host.id);
  }

  /** Runs `work` with clients signed in to the projects the host's boots ran in (boot-scopes.ts). */
  private async withStoredScopes<T>(host: Host, force: boolean, signal: AbortSignal, work: (extra: OpenStackClient[]) => Promise<T>): Promise<T> {
    const extra = await openStoredScopes(this.ctx, host.id, force, signal);
    try {
      return await work(extra);
    } finally {
      await Promise.all(extra.map((c) => c.close()));
    }
  }

  private async checkConflicts(host: Host, volumes: Volume[], plan: BootPlan, session: BootSession, signal: AbortSignal): Promise<void> {
    const fixedIp = plan.fixedIp !== null && plan.subnet !== null ? { networkId: plan.network.id, subnetId: plan.subnet.id, ip: plan.fixedIp } : null;
    const volumeNames = bootDiskOrder(host, volumes).map((i) => bootVolumeName(host.name, i));
    await checkBootConflicts(session.client, this.ctx.client, { hostId: host.id, serverName: host.name, volumeNames, fixedIp }, signal);
  }

  private async bootIn(session: BootSession, host: Host, kind: BootKind, disks: BootDisk[], plan: BootPlan, o: BootOptions, request: BootRequest): Promise<BootResult> {
    const { signal } = request;
    const made: Made = { servers: [], ports: [], floatingIps: [], volumes: new Map() };
    const started = Date.now();
    try {
      const port = await createBootPort(session.client, host.id, host.name, plan, signal);
      made.ports.push(port.id);
      const fip = await attachFloatingIp(session.client, host.id, plan, port.id, (id) => made.floatingIps.push(id), signal);
      const volumeOptions = { availabilityZone: plan.availabilityZone, imageProperties: imageProperties(o.osType, host.osVersion) };
      const copies = await makeBootVolumes(this.ctx, host.id, host.name, kind, disks, volumeOptions, (id) => made.volumes.set(id, this.ctx.client), signal);
      if (session.transfer) {
        await transferVolumes(this.ctx, session.client, copies.ids, signal);
        for (const id of copies.ids) made.volumes.set(id, session.client);
      }
      const server = await session.client.nova.createServer(serverRequest(host, kind, copies.ids, port.id, plan, o), signal);
      made.servers.push(server.id);
      await session.client.nova.waitServer(server.id, 'ACTIVE', { timeoutMs: o.timeoutMs, intervalMs: 2000, signal }).catch((err: unknown) => {
        throw RehostError.is(err) ? new RehostError('DRIVER', `server ${host.name} did not become ACTIVE: ${err.message}`, { hostId: host.id }, { cause: err }) : err;
      });
      // from now on it is the migrated machine: cleanup keeps it
      if (kind === 'cutover') await session.client.nova.http.request('PUT', `/servers/${server.id}/metadata/${META_BOOT}`, { body: { meta: { [META_BOOT]: 'cutover' } }, signal });
      if (request.onConsole) {
        const text = await this.console({ ...host, cloudInstanceId: server.id }).catch(() => null);
        if (text) request.onConsole(text);
      }
      const parts = [
        `${kind === 'cutover' ? 'cutover' : 'test boot'}: server ${host.name} (${server.id}) ACTIVE in project ${session.projectName} after ${((Date.now() - started) / 1000).toFixed(0)} s`,
        `flavor ${plan.flavor.name}`,
        `port ${port.fixed_ips.map((f) => f.ip_address).join(', ')} on ${plan.network.name || plan.network.id}`,
        ...(fip !== null ? [`floating IP ${fip.floating_ip_address}`] : []),
        `volumes: ${copies.method}${session.transfer ? ', handed over by volume transfer' : ''}`,
        ...guestNotes(o, plan, volumeOptions.imageProperties),
      ];
      return { instanceId: server.id, detail: parts.join('; ') };
    } catch (err) {
      await this.undo(host, made, session);
      throw err;
    }
  }

  /** Best effort: deletes what a failed boot made; what stays is tagged for cleanup. */
  private async undo(host: Host, made: Made, session: BootSession): Promise<void> {
    const signal = AbortSignal.timeout(600_000);
    const quietly = async (what: string, fn: () => Promise<unknown>) => {
      await fn().catch((err: unknown) => {
        if (!OpenStackError.isOpenStack(err, 404)) this.ctx.log.warn({ host: host.id, what, err: String(err) }, 'left behind after a failed boot; cleanup removes it');
      });
    };
    for (const id of made.servers) {
      await quietly(`server ${id}`, async () => {
        await session.client.nova.deleteServer(id, signal);
        await session.client.nova.waitServerGone(id, { timeoutMs: 300_000, signal });
      });
    }
    for (const id of made.floatingIps) await quietly(`floating IP ${id}`, () => session.client.neutron.deleteFloatingIp(id, signal));
    for (const id of made.ports) await quietly(`port ${id}`, () => session.client.neutron.deletePort(id, signal));
    for (const [id, client] of made.volumes) {
      await quietly(`volume ${id}`, async () => {
        await client.cinder.waitVolume(id, 'available', { timeoutMs: 300_000, signal }).catch(() => undefined);
        await client.cinder.deleteVolume(id, { cascade: true, signal });
      });
    }
  }
}

/** Nova's server request: boot from the volumes, on the port, with the guest's user data. */
function serverRequest(host: Host, kind: BootKind, volumeIds: string[], portId: string, plan: BootPlan, o: BootOptions): ServerCreate {
  const bdm: BlockDeviceMapping[] = volumeIds.map((id, i) => ({ boot_index: i === 0 ? 0 : null, uuid: id, source_type: 'volume', destination_type: 'volume', delete_on_termination: false }));
  const data = userData({ osType: o.osType, adminPass: o.adminPass, publicKey: plan.keypairPublicKey });
  return {
    name: host.name,
    flavorRef: plan.flavor.id,
    networks: [{ port: portId }],
    block_device_mapping_v2: bdm,
    metadata: { ...bootMetadata(host.id, kind, o.osType !== null ? { os_type: o.osType } : {}), ...(kind === 'cutover' ? { [META_BOOT]: CUTOVER_PENDING } : {}) },
    ...(plan.keypairName !== null ? { key_name: plan.keypairName } : {}),
    ...(plan.availabilityZone !== null ? { availability_zone: plan.availabilityZone } : {}),
    ...(data !== null ? { user_data: data } : {}),
    // Windows guests (cloudbase-init) read Nova's admin_pass; Linux guests get it through cloud-init above
    ...(o.adminPass !== null && o.osType !== 'Linux' ? { adminPass: o.adminPass } : {}),
  };
}

/** What the boot options did to the guest, for the job's detail (never the password). */
function guestNotes(o: BootOptions, plan: BootPlan, props: Record<string, string>): string[] {
  const notes: string[] = [];
  const viaCloudInit = [o.adminPass !== null && o.osType !== 'Windows' ? 'root password' : null, plan.keypairPublicKey !== null && o.osType !== 'Windows' ? `key pair ${plan.keypairName}` : null].filter((n) => n !== null);
  if (viaCloudInit.length > 0) notes.push(`${viaCloudInit.join(' and ')} set through cloud-init user data (the guest must run cloud-init)`);
  if (o.adminPass !== null && o.osType !== 'Linux') notes.push('admin password passed to Nova (cloudbase-init sets it on Windows guests)');
  if (plan.availabilityZone !== null) notes.push(`zone ${plan.availabilityZone}`);
  if (Object.keys(props).length > 0) notes.push(`boot volume image properties ${Object.entries(props).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  return notes;
}

/** Disk indexes in boot order: the boot disk first (the host's `isBoot` disk, else the lowest index). */
function bootDiskOrder(host: Host, volumes: Volume[]): number[] {
  const indexes = [...volumes].sort((a, b) => a.diskIndex - b.diskIndex).map((v) => v.diskIndex);
  if (indexes.length === 0) throw new RehostError('CONFLICT', `host ${host.name} has no synced volumes to boot from`, { hostId: host.id });
  const boot = host.disks.find((d) => d.isBoot)?.index;
  return boot !== undefined && indexes.includes(boot) ? [boot, ...indexes.filter((i) => i !== boot)] : indexes;
}

/** Pairs each disk with its Cinder snapshot (`Snapshot.ref`: snapshot ids in disk-index order), boot disk first. */
function bootDisks(host: Host, volumes: Volume[], snapshot: Snapshot): BootDisk[] {
  const ids = (snapshot.ref ?? '').split(',').filter((s) => s !== '');
  const byIndex = [...volumes].sort((a, b) => a.diskIndex - b.diskIndex).map((v) => v.diskIndex);
  if (ids.length !== byIndex.length) {
    throw new RehostError('CONFLICT', `snapshot ${snapshot.name} holds ${ids.length} disk(s) but the host has ${byIndex.length} volume(s)`, { field: 'boot.snapshot_id', hostId: host.id });
  }
  return bootDiskOrder(host, volumes).map((diskIndex) => ({ diskIndex, snapshotId: ids[byIndex.indexOf(diskIndex)]! }));
}
