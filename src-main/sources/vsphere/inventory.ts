/**
 * Inventory: one paged property-collector pass over a container view of the whole inventory,
 * turned into the tree datacenters → clusters → hosts → VM folders → VMs, and the VMs.
 */
import type { VimClient } from './vim25/client.js';
import { retrieveTree, type ObjectContent } from './vim25/property-collector.js';
import { moRef, type MoRef } from './vim25/types.js';
import { text } from './vim25/xml.js';
import { VM_PROPERTIES, vmFromProps, type VmInfo } from './vm-info.js';

const PLAN = {
  Datacenter: ['name', 'parent'],
  ClusterComputeResource: ['name', 'parent'],
  ComputeResource: ['name', 'parent'],
  HostSystem: ['name', 'parent'],
  Folder: ['name', 'parent'],
  VirtualMachine: VM_PROPERTIES,
} as const;

interface Named {
  ref: MoRef;
  type: string;
  name: string;
  parent: MoRef | null;
}

export interface TreeVm {
  id: string;
  ref: string;
  name: string;
  uuid: string;
  power_state: string;
}
export interface TreeFolder {
  ref: string;
  name: string;
  path: string;
  vms: TreeVm[];
}
export interface TreeHost {
  ref: string;
  name: string;
  folders: TreeFolder[];
}
export interface TreeCluster {
  ref: string;
  name: string;
  standalone: boolean;
  hosts: TreeHost[];
}
export interface TreeDatacenter {
  ref: string;
  name: string;
  clusters: TreeCluster[];
}

/** What GET /sources/:id returns as `tree` for a VMware source. */
export interface VsphereTree {
  server: { name: string; api_type: string; api_version: string };
  counts: { datacenters: number; clusters: number; hosts: number; vms: number };
  datacenters: TreeDatacenter[];
}

export interface Inventory {
  tree: VsphereTree;
  vms: VmInfo[];
  /** VM moref value → datacenter name (the datastore URL's dcPath). */
  datacenterOf: Map<string, string>;
}

function named(o: ObjectContent): Named {
  return { ref: o.ref, type: o.ref.type, name: text(o.props.get('name')), parent: moRef(o.props.get('parent')) };
}

class Index {
  readonly byValue = new Map<string, Named>();
  constructor(objects: Named[]) {
    for (const o of objects) this.byValue.set(o.ref.value, o);
  }
  /** Walks up the parent chain to the nearest ancestor of `type`. */
  ancestor(ref: MoRef | null, type: string): Named | null {
    let cur = ref ? this.byValue.get(ref.value) : undefined;
    for (let i = 0; cur && i < 64; i++) {
      if (cur.type === type) return cur;
      cur = cur.parent ? this.byValue.get(cur.parent.value) : undefined;
    }
    return null;
  }
  /** The folder path below the datacenter ("vm/prod/web"). */
  folderPath(ref: MoRef | null): string {
    const parts: string[] = [];
    let cur = ref ? this.byValue.get(ref.value) : undefined;
    for (let i = 0; cur && cur.type === 'Folder' && i < 64; i++) {
      parts.unshift(cur.name);
      cur = cur.parent ? this.byValue.get(cur.parent.value) : undefined;
    }
    return parts.join('/');
  }
}

function treeVm(vm: VmInfo): TreeVm {
  return { id: vm.instanceUuid, ref: vm.ref.value, name: vm.name, uuid: vm.uuid, power_state: vm.powerState };
}

function hostNode(host: Named, vms: VmInfo[], index: Index): TreeHost {
  const folders = new Map<string, TreeFolder>();
  for (const vm of vms.filter((v) => v.host?.value === host.ref.value)) {
    const key = vm.parent?.value ?? '';
    let folder = folders.get(key);
    if (!folder) {
      folder = { ref: key, name: vm.parent ? (index.byValue.get(key)?.name ?? key) : '', path: index.folderPath(vm.parent), vms: [] };
      folders.set(key, folder);
    }
    folder.vms.push(treeVm(vm));
  }
  return { ref: host.ref.value, name: host.name, folders: [...folders.values()] };
}

/** Reads the whole inventory in one paged pass. */
export async function readInventory(client: VimClient, signal: AbortSignal): Promise<Inventory> {
  const sc = client.serviceContent;
  const objects = await retrieveTree(client, sc.rootFolder, PLAN, signal);
  const index = new Index(objects.map(named));
  const vms = objects.filter((o) => o.ref.type === 'VirtualMachine').map((o) => vmFromProps(o.ref, o.props));
  const all = [...index.byValue.values()];
  const hosts = all.filter((o) => o.type === 'HostSystem');
  const datacenters: TreeDatacenter[] = all
    .filter((o) => o.type === 'Datacenter')
    .map((dc) => {
      const computes = all.filter((o) => (o.type === 'ClusterComputeResource' || o.type === 'ComputeResource') && index.ancestor(o.ref, 'Datacenter')?.ref.value === dc.ref.value);
      return {
        ref: dc.ref.value,
        name: dc.name,
        clusters: computes.map((c) => ({
          ref: c.ref.value,
          name: c.name,
          standalone: c.type === 'ComputeResource',
          hosts: hosts.filter((h) => h.parent?.value === c.ref.value).map((h) => hostNode(h, vms, index)),
        })),
      };
    });
  const datacenterOf = new Map<string, string>();
  for (const vm of vms) datacenterOf.set(vm.ref.value, index.ancestor(vm.ref, 'Datacenter')?.name ?? '');
  const tree: VsphereTree = {
    server: { name: sc.about.fullName, api_type: sc.about.apiType, api_version: sc.about.apiVersion },
    counts: {
      datacenters: datacenters.length,
      clusters: all.filter((o) => o.type === 'ClusterComputeResource').length,
      hosts: hosts.length,
      vms: vms.filter((v) => !v.template).length,
    },
    datacenters,
  };
  return { tree, vms: vms.filter((v) => !v.template), datacenterOf };
}

