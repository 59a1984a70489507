/**
 * The libvirt domain XML of a Rehost machine on a KVM host, built with fast-xml-parser's XMLBuilder
 * (it escapes names and paths). Pure: no I/O, so the XML is unit-tested as it is sent.
 */
import { XMLBuilder } from 'fast-xml-parser';

/** Where the machine's NIC plugs in on the host. */
export type NicSpec = { kind: 'network'; network: string } | { kind: 'bridge'; bridge: string } | { kind: 'user' };

export interface DomainSpec {
  /** `rehost-<host id>-<boot id>`. */
  name: string;
  /** The boot id, also the domain UUID (so `cloud_instance_id` names the domain either way). */
  uuid: string;
  title: string;
  /** `kvm` when /dev/kvm works on the host, `qemu` (TCG) otherwise. */
  type: 'kvm' | 'qemu';
  vcpus: number;
  ramMiB: number;
  disks: { path: string; format: 'raw' | 'qcow2' }[];
  nic: NicSpec;
  /** The NIC's MAC: cloud-init's network-config and the fix-up's NIC naming match on it. */
  mac?: string;
  /** The network a `user` NIC's NAT uses instead of 10.0.2.0/24 (a fixed IP elsewhere), as `a.b.c.0`. */
  userNet?: string;
  /** A cloud-init NoCloud seed image (vfat labelled cidata), attached read-only after the disks. */
  seedPath?: string;
  /** The serial console is a pty whose output libvirt also writes to this file. */
  consoleLog: string;
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, suppressEmptyNode: true });

/** `vda`, `vdb`, … `vdz`, `vdaa`, … as the virtio disk names the guest sees. */
export function virtioDev(index: number): string {
  let n = index;
  let s = '';
  do {
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return `vd${s}`;
}

function nicXml(spec: DomainSpec): Record<string, unknown> {
  const { nic } = spec;
  const common = { ...(spec.mac ? { mac: { '@_address': spec.mac } } : {}), model: { '@_type': 'virtio' } };
  if (nic.kind === 'network') return { '@_type': 'network', source: { '@_network': nic.network }, ...common };
  if (nic.kind === 'bridge') return { '@_type': 'bridge', source: { '@_bridge': nic.bridge }, ...common };
  return { '@_type': 'user', ...common, ...(spec.userNet ? { ip: { '@_family': 'ipv4', '@_address': spec.userNet, '@_prefix': '24' } } : {}) };
}

function diskXml(spec: DomainSpec): Record<string, unknown>[] {
  const disks: Record<string, unknown>[] = spec.disks.map((d, i) => ({
    '@_type': 'file',
    '@_device': 'disk',
    driver: { '@_name': 'qemu', '@_type': d.format, '@_cache': 'writeback' },
    source: { '@_file': d.path },
    target: { '@_dev': virtioDev(i), '@_bus': 'virtio' },
  }));
  if (spec.seedPath) {
    disks.push({ '@_type': 'file', '@_device': 'disk', driver: { '@_name': 'qemu', '@_type': 'raw' }, source: { '@_file': spec.seedPath }, target: { '@_dev': virtioDev(spec.disks.length), '@_bus': 'virtio' }, readonly: '' });
  }
  return disks;
}

/** The `<domain>` document for `virsh create` (test boot) or `virsh define` (cutover). */
export function domainXml(spec: DomainSpec): string {
  if (spec.disks.length === 0) throw new Error('a domain needs at least one disk');
  const domain = {
    '@_type': spec.type,
    name: spec.name,
    uuid: spec.uuid,
    title: spec.title,
    memory: { '@_unit': 'MiB', '#text': String(spec.ramMiB) },
    vcpu: String(spec.vcpus),
    os: { type: { '@_arch': 'x86_64', '@_machine': 'pc', '#text': 'hvm' }, boot: { '@_dev': 'hd' } },
    features: { acpi: '', apic: '' },
    // TCG cannot pass the host CPU through; libvirt's default model suits it.
    ...(spec.type === 'kvm' ? { cpu: { '@_mode': 'host-passthrough' } } : {}),
    on_poweroff: 'destroy',
    on_reboot: 'restart',
    on_crash: 'destroy',
    devices: {
      disk: diskXml(spec),
      interface: nicXml(spec),
      serial: { '@_type': 'pty', log: { '@_file': spec.consoleLog, '@_append': 'off' }, target: { '@_port': '0' } },
      console: { '@_type': 'pty', target: { '@_type': 'serial', '@_port': '0' } },
      // libvirt picks the socket and talks to the guest agent itself (`virsh qemu-agent-command`).
      channel: { '@_type': 'unix', target: { '@_type': 'virtio', '@_name': 'org.qemu.guest_agent.0' } },
    },
  };
  return builder.build({ domain }) as string;
}
