/**
 * libvirt on the KVM host, driven with `virsh` over SSH (with `sudo -n` when configured): finding
 * out whether it is there, the networks and bridges a machine can plug into, and starting and
 * stopping Rehost's domains. Domains are named `rehost-<host id>-<boot id>`; test boots are
 * transient (`virsh create`), cutovers persistent (`virsh define` + `virsh start`).
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { NicSpec } from './domain-xml.js';
import { KVM_PROBE, QEMU } from './qemu-plain.js';
import { sh, type KvmSsh } from './ssh.js';

export const DEFAULT_LIBVIRT_URI = 'qemu:///system';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export interface LibvirtConfig {
  uri: string;
  /** Run virsh (and read the files libvirt writes) through `sudo -n`. */
  sudo: boolean;
  /** The URI was configured: libvirt must work, no quiet fallback to plain QEMU. */
  required: boolean;
}

export type LibvirtProbe = { ok: true; version: string } | { ok: false; reason: string };

/** One row of `GET /targets/:id/resources?kind=networks` on a libvirt host. */
export interface NetworkRow {
  id: string;
  name: string;
  type: 'network' | 'bridge';
  active: boolean;
}

/** The `rehost-<host id>-` prefix of a host's domains. */
export function domainPrefix(hostId: string): string {
  return `rehost-${hostId}-`;
}

/** Checks a boot option `network_id`: a libvirt network name or `bridge:<name>`. */
export function checkNetworkId(id: unknown): string | null {
  if (id === undefined || id === null || id === '') return null;
  if (typeof id !== 'string' || !NAME.test(id.replace(/^bridge:/, ''))) {
    throw new RehostError('VALIDATION', `network_id ${JSON.stringify(id)} is not a libvirt network or bridge name`, { field: 'boot.network_id' });
  }
  return id;
}

/** Picks the NIC for `network_id` (default: the `default` network, else user-mode NAT) from the host's rows. */
export function chooseNic(wanted: string | null, rows: NetworkRow[]): NicSpec {
  const networks = rows.filter((r) => r.type === 'network');
  if (wanted === null) {
    const fallback = networks.find((r) => r.name === 'default' && r.active);
    return fallback ? { kind: 'network', network: fallback.name } : { kind: 'user' };
  }
  const row = rows.find((r) => r.id === wanted) ?? rows.find((r) => r.type === 'bridge' && r.name === wanted);
  const known = rows.map((r) => r.id).join(', ') || 'none';
  if (!row) throw new RehostError('VALIDATION', `network_id ${wanted} is neither a libvirt network nor a bridge on the KVM host (there: ${known})`, { field: 'boot.network_id' });
  if (!row.active) throw new RehostError('VALIDATION', `libvirt network ${row.name} is not active on the KVM host: start it there (virsh net-start ${row.name})`, { field: 'boot.network_id' });
  return row.type === 'bridge' ? { kind: 'bridge', bridge: row.name } : { kind: 'network', network: row.name };
}

/** Parses the three sections printed by `Libvirt.networks()`. */
export function parseNetworks(out: string): NetworkRow[] {
  const section: Record<string, string[]> = { active: [], all: [], bridges: [] };
  let current: string[] | null = null;
  for (const line of out.split('\n').map((l) => l.trim())) {
    if (line.startsWith('#')) current = section[line.slice(1)] ?? null;
    else if (line !== '' && current) current.push(line);
  }
  const active = new Set(section.active);
  const rows: NetworkRow[] = section.all!.map((n) => ({ id: n, name: n, type: 'network', active: active.has(n) }));
  for (const b of section.bridges!) rows.push({ id: `bridge:${b}`, name: b, type: 'bridge', active: true });
  return rows;
}

export class Libvirt {
  constructor(
    private readonly ssh: KvmSsh,
    readonly config: LibvirtConfig,
  ) {}

  /** `sudo -n ` or nothing, for commands that need libvirt's privileges. */
  get sudo(): string {
    return this.config.sudo ? 'sudo -n ' : '';
  }

  /** One virsh command line against the configured URI. */
  virsh(...args: string[]): string {
    return `${this.sudo}virsh -q -c ${sh(this.config.uri)} ${args.map(sh).join(' ')}`;
  }

  /** Whether virsh reaches a libvirt daemon with a QEMU driver there; never throws for "absent". */
  async probe(signal: AbortSignal): Promise<LibvirtProbe> {
    const out = await this.ssh.exec(`command -v virsh >/dev/null 2>&1 || { echo 'absent: virsh is not installed'; exit 0; }; ${this.virsh('version')} 2>&1 && echo '#ok' || true`, signal);
    if (out.includes('#ok')) {
      const hv = /Running hypervisor:\s*(.+)/.exec(out)?.[1]?.trim() ?? 'QEMU';
      const lib = /Using library:\s*(.+)/.exec(out)?.[1]?.trim() ?? 'libvirt';
      return { ok: true, version: `${lib}, ${hv}` };
    }
    return { ok: false, reason: out.replace(/^absent: /, '').trim().split('\n').filter(Boolean).slice(-2).join(' ') || 'virsh failed' };
  }

  async networks(signal: AbortSignal): Promise<NetworkRow[]> {
    const out = await this.ssh.exec(
      `echo '#active'; ${this.virsh('net-list', '--name')}; echo '#all'; ${this.virsh('net-list', '--all', '--name')}; ` +
        `echo '#bridges'; for d in /sys/class/net/*/bridge; do [ -d "$d" ] && basename "$(dirname "$d")"; done; true`,
      signal,
    );
    return parseNetworks(out);
  }

  /**
   * `kvm` when libvirt offers KVM and QEMU really runs a KVM guest with the host CPU there (a
   * /dev/kvm under nested virtualization may exist yet refuse it), `qemu` (TCG) otherwise.
   */
  async domainType(signal: AbortSignal): Promise<'kvm' | 'qemu'> {
    // Hosts whose QEMU is elsewhere (RHEL's /usr/libexec/qemu-kvm) only get libvirt's word for it.
    const works = `if command -v ${QEMU} >/dev/null 2>&1; then [ "$(${this.sudo}sh -c ${sh(KVM_PROBE)})" = kvm ]; else [ -c /dev/kvm ]; fi`;
    const out = await this.ssh.exec(`${this.virsh('domcapabilities', '--virttype', 'kvm')} >/dev/null 2>&1 && ${works} && echo kvm || echo qemu`, signal);
    return out.trim() === 'kvm' ? 'kvm' : 'qemu';
  }

  /** Starts the domain in `xmlPath` (a file on the host): transient, or defined and started. */
  async start(xmlPath: string, name: string, persistent: boolean, signal: AbortSignal): Promise<void> {
    const cmd = persistent ? `${this.virsh('define', xmlPath)} >/dev/null && { ${this.virsh('start', name)} >/dev/null || { ${this.virsh('undefine', name)} >/dev/null 2>&1; exit 1; }; }` : `${this.virsh('create', xmlPath)} >/dev/null`;
    await this.ssh.exec(cmd, signal).catch((err: unknown) => {
      throw new RehostError('DRIVER', `libvirt could not start ${name}: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
    });
  }

  /** Shell test that succeeds while the domain runs (for the console watcher's poll). */
  runningTest(name: string): string {
    return `[ "$(${this.virsh('domstate', name)} 2>/dev/null)" = running ]`;
  }

  /**
   * Shell snippet: destroys (and undefines) the host's domains — all, only transient test boots,
   * or one — and removes each one's `boot/<id>` overlay folder. Nothing to do without virsh.
   */
  stopScript(hostId: string, bootRoot: string, which: 'all' | 'test' | { id: string }): string {
    const prefix = domainPrefix(hostId);
    const list = this.virsh('list', which === 'test' ? '--transient' : '--all', '--name');
    const match = typeof which === 'object' ? sh(`${prefix}${which.id}`) : `${sh(prefix)}*`;
    return (
      `if command -v virsh >/dev/null 2>&1 && names=$(${list} 2>/dev/null); then for n in $names; do case "$n" in ${match}) ` +
      `${this.virsh('destroy')} "$n" >/dev/null 2>&1; ${this.virsh('undefine')} "$n" >/dev/null 2>&1; ` +
      `rm -rf ${sh(bootRoot)}/"\${n#${prefix}}";; esac; done; fi`
    );
  }
}
