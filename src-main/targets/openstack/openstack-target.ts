/**
 * The OpenStack target: sync volumes in Cinder attached to a gateway instance where the agent
 * writes them (sink role), Cinder snapshots after each sync, machines booted by Nova
 * (machines.ts). Only resources carrying Rehost's tags are ever cleaned up.
 */
import type { ResourceKind } from '../../../src-shared/states.js';
import type { DiskSink, TargetCapabilities, TargetDriver, TargetInventory } from '../../core/drivers.js';
import type { Host, Snapshot, Volume } from '../../core/model.js';
import { OpenStackError } from './client/index.js';
import { META_WRITTEN, type OpenStackContext } from './context.js';
import { Gateway } from './gateway.js';
import { AgentSink } from '../../replication/agent-sink.js';
import { OpenStackMachines } from './machines.js';
import { inventory, listResources, RESOURCES } from './resources.js';
import { OpenStackSnapshots, snapshotIds } from './snapshots.js';
import { deviceHint, findSyncVolumes, prepareSyncVolumes, removeVolume } from './volumes.js';

type PreparedVolume = Omit<Volume, 'id' | 'createdAt'>;

const NEEDED_SERVICES = ['compute', 'volumev3', 'network'] as const;

export class OpenStackTarget implements TargetDriver {
  readonly cloudType = 'OpenStack' as const;
  /** The gateway's agent writes the volumes: a source agent can send it chunks directly. */
  readonly capabilities: TargetCapabilities = { resources: RESOURCES, directSinks: true };
  readonly snapshots: OpenStackSnapshots;
  readonly machines: OpenStackMachines;
  readonly gateway: Gateway;
  /** Open sinks with the host they write for (a host's cleanup closes only its own). */
  private readonly sinks = new Map<DiskSink, string>();
  /**
   * Attaching sync volumes to the gateway and removing the gateway once nothing is attached take
   * turns: a cleanup must not delete the gateway a sync is just attaching to, and two cleanups must
   * not each see the other's volumes and both keep it.
   */
  private gatewayTurn: Promise<unknown> = Promise.resolve();

  constructor(private readonly ctx: OpenStackContext) {
    this.gateway = new Gateway(ctx);
    this.snapshots = new OpenStackSnapshots(ctx);
    this.machines = new OpenStackMachines(ctx);
  }

  /**
   * Authenticates, checks the catalog and microversions and what the gateway is made of, and reads
   * the storage. Read-only: adding, listing or reading the target (and the engine's start) never
   * creates cloud resources; the gateway is created by the first sync that needs it.
   */
  async verify(signal: AbortSignal): Promise<TargetInventory> {
    const { keystone, nova, cinder } = this.ctx.client;
    await keystone.info(signal);
    for (const service of NEEDED_SERVICES) await keystone.endpoint(service, signal);
    await Promise.all([nova.ready(signal), cinder.ready(signal)]);
    await this.gateway.check(signal);
    return inventory(this.ctx, signal);
  }

  listResources(kind: ResourceKind, signal: AbortSignal): Promise<Record<string, unknown>[]> {
    return listResources(this.ctx, kind, signal);
  }

  async prepareVolumes(host: Host, signal: AbortSignal): Promise<PreparedVolume[]> {
    // no gateway configured: refuse before touching the cloud
    if (!this.gateway.configured) await this.gateway.ensure(signal);
    const gatewayId = async () => {
      const server = await this.gateway.ensure(signal);
      // reached over SSH before any volume exists (pins the host key on first use)
      await this.gateway.exec('uname -m', signal);
      return server.id;
    };
    const volumeType = await this.volumeType(host, signal);
    return this.gatewayExclusive(() => prepareSyncVolumes(this.ctx, host, gatewayId, volumeType, signal));
  }

  async openSink(volume: Volume, signal: AbortSignal): Promise<DiskSink> {
    const { cinder } = this.ctx.client;
    const gateway = await this.gateway.ensure(signal);
    const cinderVolume = await cinder.getVolume(volume.ref, signal);
    const hint = await deviceHint(this.ctx, cinderVolume.id, gateway.id, signal);
    const device = await this.gateway.locate(cinderVolume.id, hint, signal);
    this.ctx.log.info({ volume: cinderVolume.id, device: device.path, by: device.how }, 'sync volume found in the gateway');
    const blank = cinderVolume.metadata[META_WRITTEN] !== '1';
    const session = await this.gateway.agent(signal);
    const sink = await AgentSink.open(session, device.path, cinderVolume.size * 1024 ** 3, blank, signal, { directAddress: (s) => this.gateway.directAddress(s) });
    // from now on the volume may hold data: a later sync must not assume zeros
    if (blank) await cinder.updateVolumeMetadata(cinderVolume.id, { [META_WRITTEN]: '1' }, signal);
    this.sinks.set(sink, volume.hostId);
    const close = sink.close.bind(sink);
    sink.close = async () => {
      this.sinks.delete(sink);
      await close();
    };
    return sink;
  }

  /**
   * Test-boot machines first (machines.ts, in every project the host's boots ran in; a cutover's
   * server is the migrated machine and stays),
   * then snapshots, then the sync volumes (detached from the gateway), then the gateway itself
   * when Rehost made it and nothing is attached to it any more.
   */
  async cleanup(host: Host, volumes: Volume[], snapshots: Snapshot[], force: boolean, signal: AbortSignal): Promise<void> {
    const failures: string[] = [];
    const attempt = async (what: string, work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (err) {
        if (OpenStackError.isOpenStack(err, 404)) return;
        if (!force) throw err;
        failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    await attempt('machines', () => this.machines.cleanup(host, force, signal));
    await attempt('snapshots', async () => {
      const known = snapshots.flatMap((s) => (s.ref === null ? [] : snapshotIds(s.ref)));
      await this.snapshots.removeIds([...new Set([...known, ...(await this.snapshots.orphans(host.id, signal))])], signal);
    });
    await this.closeSinks(host.id);
    await this.gatewayExclusive(async () => {
      await attempt('volumes', async () => {
        const tagged = await findSyncVolumes(this.ctx, host.id, signal);
        for (const v of tagged) await attempt(`volume ${v.name ?? v.id}`, () => removeVolume(this.ctx, v, signal));
        const untagged = volumes.filter((v) => !tagged.some((t) => t.id === v.ref));
        if (untagged.length > 0) this.ctx.log.info({ host: host.id, volumes: untagged.map((v) => v.ref) }, 'volume records without a tagged Cinder volume are left alone');
      });
      await attempt('gateway', () => this.gateway.removeIfUnused(signal));
    });
    if (failures.length > 0) this.ctx.log.warn({ host: host.id, failures }, 'forced cleanup went on past errors');
    // the host's boots are gone (or are its migrated machine): their projects' credentials go too
    else await this.machines.forget(host);
  }

  async close(): Promise<void> {
    await this.closeSinks();
    await this.gateway.close();
    await this.ctx.client.close();
  }

  /** Closes the sinks of `hostId` (all of them when omitted). */
  private async closeSinks(hostId?: string): Promise<void> {
    const closing = [...this.sinks].filter(([, owner]) => hostId === undefined || owner === hostId).map(([sink]) => sink);
    await Promise.all(closing.map((s) => s.close().catch(() => undefined)));
    for (const s of closing) this.sinks.delete(s);
  }

  private gatewayExclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.gatewayTurn.then(work);
    this.gatewayTurn = run.catch(() => undefined);
    return run;
  }

  /** The host's pool when it names a volume type, else the configured type, else the cloud's default. */
  private async volumeType(host: Host, signal: AbortSignal): Promise<string | null> {
    if (host.poolId !== null && host.poolId !== host.targetId) {
      const types = await this.ctx.client.cinder.listVolumeTypes(signal);
      const match = types.find((t) => t.id === host.poolId || t.name === host.poolId);
      if (match) return match.name;
    }
    return this.ctx.config.volumeType;
  }
}
