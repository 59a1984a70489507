/**
 * Machines on the KVM host. With libvirt there (`virsh version` answers), a domain is created from
 * generated XML (domain-xml.ts): transient for a test boot, defined and started for a cutover, its
 * NIC on a libvirt network or bridge. Without libvirt, plain QEMU runs in the background
 * (qemu-plain.ts). Either way the serial console goes to a file on the host that this side polls
 * for the login prompt or marker, and the QEMU guest agent channel is asked `guest-ping`
 * (machine-watch.ts). Test boots run on a qcow2 overlay over the snapshot's layers; a cutover runs
 * on an independent raw copy in `<path>/migrated/`, which cleanup keeps (the machine is stopped).
 * A test boot stops the host's previous test machine; a cutover stops all of the host's machines.
 * `fixed_ip`, `admin_pass` and keys reach the guest through a cloud-init seed and the OS fix-up
 * (guest-setup.ts). Where KVM stops a guest with an internal error, the machine is restarted under
 * TCG and later boots on this target use TCG from the start.
 */
import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { BootRequest, BootResult, TargetMachines } from '../../core/drivers.js';
import type { Host, Volume } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import type { KvmAgents } from './agents.js';
import type { NicSpec } from './domain-xml.js';
import { fixedIpOption, guestNet, parseSubnet, type Subnet } from './guest-net.js';
import type { GuestSetup, KvmGuests } from './guest-setup.js';
import { KVM_FLAVORS, type KvmLayout } from './layout.js';
import { checkNetworkId, chooseNic, type Libvirt, type LibvirtProbe } from './libvirt.js';
import { MachineStarter, type MachineSpec } from './machine-start.js';
import { KvmFailed, watchMachine, type Started } from './machine-watch.js';
import { plainStopScript } from './qemu-plain.js';
import type { KvmSnapshots } from './snapshots.js';
import { sh, type KvmSsh } from './ssh.js';
import { folderError } from './volumes.js';

const GiB = 1024 ** 3;
const DEFAULT_MARKER = String.raw`MIGRATION-BOOT-OK|\blogin:\s*$`;
/** How long the agent's fix-up of one disk may take before it is cancelled. */
const FIXUP_TIMEOUT_MS = 30 * 60_000;

type Flavor = (typeof KVM_FLAVORS)[number];
type Disk = { path: string; format: 'raw' | 'qcow2' };

/** Where the machine plugs in, resolved before anything stops or is created. */
interface Placement {
  lv: LibvirtProbe;
  nic: NicSpec;
  subnet: Subnet | null;
}

export class KvmMachines implements TargetMachines {
  private readonly starter: MachineStarter;
  /** KVM stopped a guest with an internal error on this host: later machines run under TCG. */
  private kvmBroken = false;

  constructor(
    private readonly ssh: KvmSsh,
    private readonly layout: KvmLayout,
    private readonly log: Logger,
    private readonly libvirt: Libvirt,
    private readonly snapshots: KvmSnapshots,
    private readonly guests: KvmGuests,
    private readonly agents: KvmAgents,
  ) {
    this.starter = new MachineStarter(ssh, layout, libvirt);
  }

  async check(host: Host, volumes: Volume[], options: Record<string, unknown>): Promise<void> {
    flavorFor(host, volumes, options);
    marker(options);
    checkNetworkId(options.network_id);
    await this.guests.check(options, AbortSignal.timeout(60_000));
  }

  async boot(host: Host, volumes: Volume[], request: BootRequest): Promise<BootResult> {
    const { options, signal } = request;
    const flavor = flavorFor(host, volumes, options);
    const pattern = marker(options);
    const snapshotDir = this.layout.assertSnapshotRef(request.snapshot.ref ?? '');
    const place = await this.placement(options, signal);
    const cutover = request.backupType === 'volume_backup';
    await this.stopAll(host, signal, cutover ? 'all' : 'test');
    const id = randomUUID();
    const dir = cutover ? this.layout.migratedDir(host.id, stamp()) : this.layout.bootDir(host.id, id);
    const started = Date.now();
    try {
      const disks = await this.prepareDisks(host, snapshotDir, volumes, dir, cutover, signal).catch((err: unknown) => {
        throw folderError(this.layout.root, `the machine's disks`, err);
      });
      const guest = await this.guests.prepare(host, id, dir, options, place.nic, place.subnet, signal);
      const fixup = await this.fixup(disks[0], options, guest, signal);
      const spec: MachineSpec = { hostId: host.id, hostName: host.name, instanceId: id, vcpus: flavor.vcpus, ramMiB: flavor.ram_mib, disks, cutover, dir, guest, noKvm: this.kvmBroken };
      const { machine, line } = await this.run(spec, place, pattern, timeoutMs(options), request);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      const parts = [fixup, `${cutover ? 'cutover' : 'test boot'} on ${this.ssh.where} ${machine.how}, ${flavor.id}, in ${secs} s: ${line}`, guest.note, cutover ? `disks kept in ${dir}` : ''];
      return { instanceId: id, detail: parts.filter(Boolean).join('; ') };
    } catch (err) {
      // Nothing of a failed boot stays behind; the host can boot again.
      await this.stopAll(host, AbortSignal.timeout(30_000), { id }).catch(() => undefined);
      await this.ssh.exec(`rm -rf -- ${sh(dir)}`).catch(() => undefined);
      throw err;
    }
  }

  /** Starts the machine and watches it boot; once KVM fails it on this host, again under TCG. */
  private async run(spec: MachineSpec, place: Placement, pattern: RegExp, timeout: number, request: BootRequest): Promise<{ machine: Started; line: string }> {
    const start = (s: MachineSpec) => (place.lv.ok ? this.starter.startDomain(s, place.nic, place.lv.version, request.signal) : this.starter.startPlain(s, place.lv.reason, request.signal));
    const machine = await start(spec);
    this.log.info({ host: spec.hostId, instanceId: spec.instanceId, how: machine.how, cutover: spec.cutover }, 'machine started on the KVM host');
    try {
      return { machine, line: await watchMachine(this.ssh, this.libvirt.sudo, machine, pattern, timeout, request) };
    } catch (err) {
      if (!(err instanceof KvmFailed)) throw err;
      this.kvmBroken = true;
      this.log.warn({ host: spec.hostId, instanceId: spec.instanceId }, 'KVM stopped the guest with an internal error on the KVM host; restarting it under TCG');
      await this.starter.stopOnly(spec, place.lv.ok);
      const again = await start({ ...spec, noKvm: true });
      const line = await watchMachine(this.ssh, this.libvirt.sudo, again, pattern, timeout, request);
      return { machine: { ...again, how: `${again.how}; KVM failed on this host (internal error), so TCG` }, line };
    }
  }

  /**
   * libvirt (when configured it must answer), QEMU's tools, the NIC for `network_id` and, for a
   * fixed IP, the network's subnet: all checked before anything stops or is created.
   */
  private async placement(options: Record<string, unknown>, signal: AbortSignal): Promise<Placement> {
    const lv = await this.libvirt.probe(signal);
    await this.checkTools(lv, signal);
    const networkId = checkNetworkId(options.network_id);
    if (!lv.ok && networkId !== null && networkId !== 'user-nat') {
      throw new RehostError('VALIDATION', `network_id ${networkId}: without libvirt the KVM host offers only user-mode NAT (user-nat)`, { field: 'boot.network_id' });
    }
    const nic: NicSpec = lv.ok ? chooseNic(networkId, await this.libvirt.networks(signal)) : { kind: 'user' };
    const fixedIp = fixedIpOption(options);
    let subnet: Subnet | null = null;
    if (fixedIp !== null && nic.kind === 'network') subnet = parseSubnet(await this.ssh.exec(this.libvirt.virsh('net-dumpxml', nic.network), signal));
    if (fixedIp !== null) guestNet(fixedIp, nic, subnet);
    return { lv, nic, subnet };
  }

  /** libvirt when configured must answer; QEMU's tools must be there. */
  private async checkTools(lv: LibvirtProbe, signal: AbortSignal): Promise<void> {
    if (!lv.ok && this.libvirt.config.required) {
      throw new RehostError('UNPROCESSABLE', `libvirt (${this.libvirt.config.uri}) does not answer on the KVM host ${this.ssh.where}: ${lv.reason}`, { field: 'config.libvirt_uri' });
    }
    const tools = lv.ok ? ['qemu-img'] : ['qemu-system-x86_64', 'qemu-img'];
    const missing = (await this.ssh.exec(`for t in ${tools.join(' ')}; do command -v $t >/dev/null || echo $t; done; true`, signal)).trim().split('\n').filter(Boolean);
    if (missing.length > 0) {
      throw new RehostError('UNPROCESSABLE', `QEMU is missing on the KVM host ${this.ssh.where}: ${missing.join(' and ')} not found on the PATH of ${this.ssh.where.split('@')[0]}; install qemu-system-x86 and qemu-utils there`, { field: 'boot' });
    }
  }

  /** The newest console file of the host, also after a failed boot. */
  async console(host: Host): Promise<string | null> {
    const machines = sh(this.layout.machinesDir(host.id));
    const out = await this.ssh.exec(`f=$(ls -t ${machines}/*.console.log 2>/dev/null | head -1); [ -z "$f" ] || { echo found; ${this.libvirt.sudo}tail -c 262144 "$f"; }`);
    return out.startsWith('found\n') ? out.slice(6) : null;
  }

  /** Stops the host's machines — all, only test boots, or one — whether libvirt or plain QEMU runs them. */
  async stopAll(host: Host, signal?: AbortSignal, which: 'all' | 'test' | { id: string } = 'all'): Promise<void> {
    const boot = posix.join(this.layout.hostDir(host.id), 'boot');
    await this.ssh.exec(`${this.libvirt.stopScript(host.id, boot, which)}; ${plainStopScript(this.layout.machinesDir(host.id), boot, which)}`, signal);
  }

  /**
   * The OS fix-up of this copy's boot disk before its first boot (src-main/fixup), run by the
   * agent on the KVM host because it mounts the disk file's partitions where the file is. The
   * NIC's MAC pins the old interface name; a guest without cloud-init gets the seed's settings
   * written in. Off with `fixup: false` or `os_type: "Windows"`; disks without a Linux root are
   * skipped there. An aborted boot cancels it (the agent releases its mounts first).
   */
  private async fixup(disk: Disk | undefined, options: Record<string, unknown>, guest: GuestSetup, signal: AbortSignal): Promise<string | null> {
    if (!disk || options.fixup === false || options.os_type === 'Windows') return null;
    const session = await this.agents.start(this.libvirt.sudo !== '', signal);
    const fixupId = randomUUID();
    const bounded = AbortSignal.any([signal, AbortSignal.timeout(FIXUP_TIMEOUT_MS)]);
    const cancel = () => void session.peer.call('fixup-cancel', { id: fixupId }).catch(() => undefined);
    bounded.addEventListener('abort', cancel, { once: true });
    try {
      const args = { id: fixupId, path: disk.path, format: disk.format, nicMacs: [guest.mac], settings: guest.settings };
      const report = await session.peer.call<{ summary: string }>('fixup', args);
      this.log.info({ disk: disk.path }, report.summary);
      return report.summary;
    } finally {
      bounded.removeEventListener('abort', cancel);
      await session.close();
    }
  }

  /** Overlays over the snapshot's layers (test boot) or independent raw copies (cutover). */
  private async prepareDisks(host: Host, snapshotDir: string, volumes: Volume[], dir: string, cutover: boolean, signal: AbortSignal): Promise<Disk[]> {
    const found = await this.snapshots.disks(snapshotDir, signal);
    const disks = [...volumes]
      .sort((a, b) => a.diskIndex - b.diskIndex)
      .map((v) => {
        const src = found.find((d) => d.index === v.diskIndex);
        if (!src) throw new RehostError('DRIVER', `snapshot ${snapshotDir} has no disk ${v.diskIndex} on the KVM host`, { field: 'boot.snapshot_id' });
        return { src, dst: posix.join(dir, `disk-${v.diskIndex}.${cutover ? 'raw' : 'qcow2'}`) };
      });
    const prepare = disks.map(({ src, dst }) => {
      if (!cutover) return `qemu-img create -q -f qcow2 -F ${src.format} -b ${sh(src.path)} ${sh(dst)}`;
      return src.format === 'raw' ? `cp --reflink=auto --sparse=always -- ${sh(src.path)} ${sh(dst)}` : `qemu-img convert -q -f qcow2 -O raw ${sh(src.path)} ${sh(dst)}`;
    });
    await this.ssh.exec(`mkdir -p ${sh(dir)} ${sh(this.layout.machinesDir(host.id))} && ${prepare.join(' && ')}`, signal);
    return disks.map((d) => ({ path: d.dst, format: cutover ? 'raw' : 'qcow2' }));
  }
}

function flavorFor(host: Host, volumes: Volume[], options: Record<string, unknown>): Flavor {
  const bytes = volumes.reduce((n, v) => n + v.sizeBytes, 0);
  const wanted = typeof options.flavor_id === 'string' && options.flavor_id !== '' ? options.flavor_id : null;
  const flavor = wanted === null ? KVM_FLAVORS.find((f) => f.disk_gib * GiB >= bytes) : KVM_FLAVORS.find((f) => f.id === wanted || f.name === wanted);
  if (!flavor) throw new RehostError('VALIDATION', wanted === null ? 'no KVM flavor holds the host\'s disks' : `flavor ${wanted} is not a KVM flavor (${KVM_FLAVORS.map((f) => f.id).join(', ')})`, { field: 'boot.flavor_id', hostId: host.id });
  if (flavor.disk_gib * GiB < bytes) throw new RehostError('VALIDATION', `flavor ${flavor.id} (${flavor.disk_gib} GiB) is too small for the host's ${(bytes / GiB).toFixed(2)} GiB of disks`, { field: 'boot.flavor_id', hostId: host.id });
  return flavor;
}

function marker(options: Record<string, unknown>): RegExp {
  const source = typeof options.boot_marker === 'string' && options.boot_marker !== '' ? options.boot_marker : DEFAULT_MARKER;
  try {
    return new RegExp(source, 'm');
  } catch (err) {
    throw new RehostError('VALIDATION', `boot_marker ${JSON.stringify(source)} is not a valid regular expression`, { field: 'boot.boot_marker' }, { cause: err });
  }
}

function timeoutMs(options: Record<string, unknown>): number {
  const s = options.boot_timeout_seconds;
  return (typeof s === 'number' && s > 0 ? s : 600) * 1000;
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}
