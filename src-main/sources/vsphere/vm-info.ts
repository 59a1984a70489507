/** A VM as the driver sees it, read from its vim25 properties. Pure. */
import type { MoRef } from './vim25/types.js';
import { moRef } from './vim25/types.js';
import { child, childBool, childNumber, children, childText, text, xsiType, type XmlNode } from './vim25/xml.js';

export interface VmDisk {
  key: number;
  controllerKey: number;
  label: string;
  capacityBytes: number;
  /** "[datastore] folder/name.vmdk" */
  fileName: string;
  datastore: string;
  backingType: string;
  diskMode: string;
  thin: boolean | null;
  changeId: string | null;
}

export interface VmNic {
  label: string;
  mac: string;
  network: string;
}

export interface VmInfo {
  ref: MoRef;
  name: string;
  parent: MoRef | null;
  host: MoRef | null;
  uuid: string;
  instanceUuid: string;
  powerState: string;
  guestId: string;
  guestFullName: string;
  guestFamily: string;
  toolsRunning: boolean;
  firmware: 'bios' | 'uefi';
  hwVersion: string;
  template: boolean;
  cpus: number;
  memoryMiB: number;
  cbtEnabled: boolean;
  disks: VmDisk[];
  nics: VmNic[];
  ips: string[];
  /** Every snapshot of the VM, ours (`rehost-sync-…`) included. */
  snapshots: VmSnapshotRef[];
}

export interface VmSnapshotRef {
  ref: MoRef | null;
  name: string;
}

/** The name prefix of the snapshots the driver takes (and may remove when a crash left one). */
export const OWN_SNAPSHOT_PREFIX = 'rehost-sync-';

/** The VirtualMachine properties `vmFromProps` reads. */
export const VM_PROPERTIES = [
  'name',
  'parent',
  'runtime.host',
  'runtime.powerState',
  'config.uuid',
  'config.instanceUuid',
  'config.guestId',
  'config.guestFullName',
  'config.firmware',
  'config.version',
  'config.template',
  'config.hardware.numCPU',
  'config.hardware.memoryMB',
  'config.hardware.device',
  'config.changeTrackingEnabled',
  'guest.guestFamily',
  'guest.toolsRunningStatus',
  'guest.ipAddress',
  'guest.net',
  'snapshot',
] as const;

type Props = Map<string, XmlNode | string>;

const str = (props: Props, name: string): string => text(props.get(name));

export function datastoreOf(fileName: string): { datastore: string; path: string } {
  const m = /^\[([^\]]*)\]\s*(.*)$/.exec(fileName);
  return m ? { datastore: m[1]!, path: m[2]! } : { datastore: '', path: fileName };
}

/** The VirtualDisk devices of a `config.hardware.device` value, in device order. */
export function disksOf(devices: unknown): VmDisk[] {
  return children(devices, 'VirtualDevice')
    .filter((d) => xsiType(d) === 'VirtualDisk')
    .map((d) => {
      const backing = child(d, 'backing');
      const fileName = childText(backing, 'fileName');
      const capacityBytes = childNumber(d, 'capacityInBytes') || childNumber(d, 'capacityInKB') * 1024;
      return {
        key: childNumber(d, 'key'),
        controllerKey: childNumber(d, 'controllerKey'),
        label: childText(child(d, 'deviceInfo'), 'label'),
        capacityBytes,
        fileName,
        datastore: datastoreOf(fileName).datastore,
        backingType: xsiType(backing),
        diskMode: childText(backing, 'diskMode'),
        thin: childBool(backing, 'thinProvisioned'),
        changeId: childText(backing, 'changeId') || null,
      };
    });
}

function nicsOf(devices: unknown): VmNic[] {
  return children(devices, 'VirtualDevice')
    .filter((d) => childText(d, 'macAddress') !== '' || /Ethernet|Vmxnet|E1000|Pcnet|Sriov/i.test(xsiType(d)))
    .map((d) => {
      const backing = child(d, 'backing');
      const port = child(backing, 'port');
      return {
        label: childText(child(d, 'deviceInfo'), 'label'),
        mac: childText(d, 'macAddress').toLowerCase(),
        network: childText(backing, 'deviceName') || childText(port, 'portgroupKey') || text(child(backing, 'network')),
      };
    });
}

/** Flattens a `snapshot` property (VirtualMachineSnapshotInfo) or a tree node's children. */
export function snapshotsOf(info: unknown, key = 'rootSnapshotList'): VmSnapshotRef[] {
  return children(info, key).flatMap((node) => [{ ref: moRef(child(node, 'snapshot')), name: childText(node, 'name') }, ...snapshotsOf(node, 'childSnapshotList')]);
}

function ipsOf(props: Props): string[] {
  const ips = new Set<string>();
  for (const nic of children(props.get('guest.net'), 'GuestNicInfo')) {
    for (const ip of children(nic, 'ipAddress')) if (text(ip) !== '') ips.add(text(ip));
  }
  const primary = str(props, 'guest.ipAddress');
  if (primary !== '') ips.add(primary);
  return [...ips];
}

export function vmFromProps(ref: MoRef, props: Props): VmInfo {
  const devices = props.get('config.hardware.device');
  const snapshot = props.get('snapshot');
  return {
    ref,
    name: str(props, 'name'),
    parent: moRef(props.get('parent')),
    host: moRef(props.get('runtime.host')),
    uuid: str(props, 'config.uuid'),
    instanceUuid: str(props, 'config.instanceUuid') || str(props, 'config.uuid') || ref.value,
    powerState: str(props, 'runtime.powerState'),
    guestId: str(props, 'config.guestId'),
    guestFullName: str(props, 'config.guestFullName'),
    guestFamily: str(props, 'guest.guestFamily'),
    toolsRunning: str(props, 'guest.toolsRunningStatus') === 'guestToolsRunning',
    firmware: str(props, 'config.firmware') === 'efi' ? 'uefi' : 'bios',
    hwVersion: str(props, 'config.version'),
    template: str(props, 'config.template') === 'true',
    cpus: Number(str(props, 'config.hardware.numCPU')) || 1,
    memoryMiB: Number(str(props, 'config.hardware.memoryMB')) || 0,
    cbtEnabled: str(props, 'config.changeTrackingEnabled') === 'true',
    disks: disksOf(devices),
    nics: nicsOf(devices),
    ips: ipsOf(props),
    snapshots: snapshotsOf(snapshot),
  };
}

/** Linux / Windows / Unknown from the guest family or id. */
export function osTypeOf(vm: Pick<VmInfo, 'guestFamily' | 'guestId'>): 'Linux' | 'Windows' | 'Unknown' {
  if (vm.guestFamily === 'windowsGuest' || /^win/i.test(vm.guestId)) return 'Windows';
  if (vm.guestFamily === 'linuxGuest' || /(linux|centos|rhel|debian|ubuntu|sles|suse|oracle|rocky|alma|photon|coreos|fedora|asianux|amazonlinux)/i.test(vm.guestId)) return 'Linux';
  return 'Unknown';
}

