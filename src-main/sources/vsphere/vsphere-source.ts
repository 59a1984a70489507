/**
 * The VMware source: a vCenter or standalone ESXi, agentless. Discovery reads the inventory,
 * syncs read VM snapshots through the datastore endpoint with CBT telling what to read.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { DriverDeps, OpenSnapshotOptions, SourceCapabilities, SourceConnection, SourceDriver, SourceInventory, SourceSnapshot } from '../../core/drivers.js';
import type { EnvCheck } from '../../core/model.js';
import { duplicateUuidCheck, vmChecks } from './checks.js';
import { readInventory } from './inventory.js';
import { openVmSnapshot } from './snapshot.js';
import { SERVICE_INSTANCE, VimClient, type VimEndpoint } from './vim25/client.js';
import { normalizeThumbprint } from './vim25/transport.js';
import { retrieveOne } from './vim25/property-collector.js';
import { moRef, type MoRef } from './vim25/types.js';
import { child, esc, text } from './vim25/xml.js';
import { osTypeOf, VM_PROPERTIES, vmFromProps, type VmInfo } from './vm-info.js';

type InventoryHost = SourceInventory['hosts'][number];

/** Reads and checks the source config (the API schema validated its shape already). */
export function endpointFromConfig(config: Record<string, unknown>, secret: Record<string, string>): VimEndpoint {
  const host = config.host;
  const username = config.username;
  if (typeof host !== 'string' || host.trim() === '') throw new RehostError('VALIDATION', 'config.host: the vCenter or ESXi address is required', { field: 'config.host' });
  if (typeof username !== 'string' || username === '') throw new RehostError('VALIDATION', 'config.username is required', { field: 'config.username' });
  const port = typeof config.port === 'number' ? config.port : 443;
  const thumbprint = typeof config.thumbprint === 'string' && config.thumbprint !== '' ? config.thumbprint : null;
  return { host: host.trim(), port, username, password: secret.password ?? '', thumbprint };
}

export function toInventoryHost(vm: VmInfo): InventoryHost {
  const ipv4 = vm.ips.filter((ip) => /^\d+\.\d+\.\d+\.\d+$/.test(ip));
  return {
    id: vm.instanceUuid,
    ref: vm.instanceUuid,
    name: vm.name,
    osType: osTypeOf(vm),
    osVersion: vm.guestFullName || vm.guestId || 'unknown',
    firmware: vm.firmware,
    cpus: vm.cpus,
    memoryMiB: vm.memoryMiB,
    disks: vm.disks.map((d, index) => ({
      index,
      name: d.label || `disk ${index}`,
      sizeBytes: d.capacityBytes,
      isBoot: index === 0,
      locator: d.fileName,
      format: d.thin === true ? 'vmdk (thin)' : d.thin === false ? 'vmdk (thick)' : 'vmdk',
    })),
    nics: vm.nics.map((n, i) => ({ name: n.label || `nic ${i}`, mac: n.mac, ipv4: i === 0 ? ipv4 : [] })),
    checks: vmChecks(vm),
  };
}

/** Inventory hosts, with VMs sharing an instance uuid flagged (the first keeps the id). */
export function hostsOf(vms: VmInfo[]): InventoryHost[] {
  const byId = new Map<string, VmInfo[]>();
  for (const vm of vms) byId.set(vm.instanceUuid, [...(byId.get(vm.instanceUuid) ?? []), vm]);
  return [...byId.values()].map((same) => {
    const host = toInventoryHost(same[0]!);
    if (same.length > 1) host.checks.push(duplicateUuidCheck(host.id, same.map((v) => v.name)));
    return host;
  });
}

export class VsphereSource implements SourceDriver {
  readonly kind = 'VMware' as const;
  readonly capabilities: SourceCapabilities = { changeTracking: 'driver', pointInTime: true };
  private client: VimClient | null = null;
  private readonly open = new Set<SourceSnapshot>();

  constructor(
    private readonly deps: DriverDeps,
    private readonly endpoint: VimEndpoint,
  ) {}

  /** Reuses the live session when the pin is unchanged (a refresh); otherwise connects anew. */
  async connect(pinned: string | null, signal: AbortSignal): Promise<SourceConnection> {
    const live = this.client;
    const same = live !== null && live.transport.thumbprint !== null && (pinned === null || normalizeThumbprint(pinned) === normalizeThumbprint(live.transport.thumbprint));
    if (same) {
      await live.call('CurrentTime', SERVICE_INSTANCE, '', signal);
      return this.describe(live);
    }
    await live?.close();
    this.client = null;
    const client = new VimClient({ ...this.endpoint, thumbprint: pinned ?? this.endpoint.thumbprint }, this.deps.log);
    try {
      await client.connect(signal);
      this.client = client;
      return this.describe(client);
    } catch (err) {
      await client.close();
      throw err;
    }
  }

  private describe(client: VimClient): SourceConnection {
    const { about } = client.serviceContent;
    return { identity: client.transport.thumbprint, description: `${about.fullName} (${about.apiType} API ${about.apiVersion}) at ${this.endpoint.host}:${this.endpoint.port}` };
  }

  async discover(signal: AbortSignal): Promise<SourceInventory> {
    const client = await this.session(signal);
    const inventory = await readInventory(client, signal);
    const hosts = hostsOf(inventory.vms);
    this.deps.log.info({ ...inventory.tree.counts }, 'vSphere inventory read');
    return { tree: inventory.tree, hosts };
  }

  async checkHost(ref: string, signal: AbortSignal): Promise<EnvCheck[]> {
    const client = await this.session(signal);
    const vm = await this.findVm(client, ref, signal);
    return vmChecks(vmFromProps(vm, await retrieveOne(client, vm, VM_PROPERTIES, signal)));
  }

  async openSnapshot(ref: string, options: OpenSnapshotOptions, signal: AbortSignal): Promise<SourceSnapshot> {
    const client = await this.session(signal);
    const vm = await this.findVm(client, ref, signal);
    const dcPath = await this.datacenterName(client, vm, signal);
    const view = await openVmSnapshot(client, vm, dcPath, options, this.deps.log, signal);
    this.open.add(view);
    return {
      method: view.method,
      disks: view.disks,
      close: async () => {
        this.open.delete(view);
        await view.close();
      },
    };
  }

  /** Removes the snapshots still open, then logs out. */
  async close(): Promise<void> {
    const views = [...this.open];
    this.open.clear();
    for (const v of views) await v.close().catch((err: unknown) => this.deps.log.warn({ err: String(err) }, 'removing a sync snapshot failed'));
    await this.client?.close();
    this.client = null;
  }

  /** The live session; a driver built after a restart connects with the configured thumbprint. */
  private async session(signal: AbortSignal): Promise<VimClient> {
    if (this.client === null) await this.connect(null, signal);
    return this.client!;
  }

  private async findVm(client: VimClient, instanceUuid: string, signal: AbortSignal): Promise<MoRef> {
    const body = `<uuid>${esc(instanceUuid)}</uuid><vmSearch>true</vmSearch><instanceUuid>true</instanceUuid>`;
    const found = moRef(child(await client.call('FindByUuid', client.serviceContent.searchIndex, body, signal), 'returnval'));
    if (found === null) throw new RehostError('NOT_FOUND', `no VM with instance uuid ${instanceUuid} on ${this.endpoint.host} (deleted or moved away?)`);
    return found;
  }

  /** The datastore URL's dcPath: the datacenter's inventory path ("DC0", or "emea/DC1" inside a folder). */
  private async datacenterName(client: VimClient, vm: MoRef, signal: AbortSignal): Promise<string> {
    const path: string[] = [];
    let cur: MoRef | null = vm;
    for (let i = 0; cur !== null && i < 64; i++) {
      const props = await retrieveOne(client, cur, ['name', 'parent'], signal);
      const parent = moRef(props.get('parent'));
      if (cur.type === 'Datacenter' || (path.length > 0 && parent !== null)) path.unshift(text(props.get('name')));
      if (parent === null && path.length > 0) return path.join('/');
      cur = parent;
    }
    throw new RehostError('DRIVER', `VM ${vm.value} is not inside a datacenter`);
  }
}
