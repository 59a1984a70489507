/**
 * Machines on the KVM host. With libvirt there (`virsh version` answers), a domain is created from
 * generated XML (domain-xml.ts): transient for a test boot, defined and started for a cutover, its
 * NIC on a libvirt network or bridge. Without libvirt, plain QEMU runs as a daemon (qemu-plain.ts).
 * Either way the serial console goes to a file on the host that this side polls for the login
 * prompt or marker. Test boots run on a qcow2 overlay over the snapshot's layers; a cutover runs
 * on an independent raw copy in `<path>/migrated/`, which cleanup keeps (the machine is stopped).
 * A test boot stops the host's previous test machine; a cutover stops all of the host's machines.
 */
import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { BootRequest, BootResult, TargetMachines } from '../../core/drivers.js';
import type { Host, Volume } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import { domainXml, type NicSpec } from './domain-xml.js';
import { KVM_FLAVORS, type KvmLayout } from './layout.js';
import { checkNetworkId, chooseNic, domainPrefix, type Libvirt, type LibvirtProbe } from './libvirt.js';
import { KVM_PROBE, QEMU, plainRunningTest, plainStartCommand, plainStopScript } from './qemu-plain.js';
import { AgentSession } from '../../sources/agent/session.js';
import type { KvmSnapshots } from './snapshots.js';
import { sh, type KvmSsh } from './ssh.js';

const GiB = 1024 ** 3;
const DEFAULT_MARKER = String.raw`MIGRATION-BOOT-OK|\blogin:\s*$`;
const FAIL = /MIGRATION-BOOT-FAIL|Kernel panic|No bootable device|Boot failed|Gave up waiting for root/;

type Flavor = (typeof KVM_FLAVORS)[number];
type Disk = { path: string; format: 'raw' | 'qcow2' };

/** A started machine: how to tell it still runs, where its console goes, what ran it. */
interface Started {
  runningTest: string;
  /** Shell printing why the machine is not running, when the runner can tell. */
  stateReport?: string;
  consolePath: string;
  how: string;
}

export class KvmMachines implements TargetMachines {
  constructor(
    private readonly ssh: KvmSsh,
    private readonly layout: KvmLayout,
    private readonly log: Logger,
    private readonly libvirt: Libvirt,
    private readonly snapshots: KvmSnapshots,
  ) {}

  async check(host: Host, volumes: Volume[], options: Record<string, unknown>): Promise<void> {
    flavorFor(host, volumes, options);
    marker(options);
    checkNetworkId(options.network_id);
  }

  async boot(host: Host, volumes: Volume[], request: BootRequest): Promise<BootResult> {
    const { options, signal } = request;
    const flavor = flavorFor(host, volumes, options);
    const pattern = marker(options);
    const snapshotDir = this.layout.assertSnapshotRef(request.snapshot.ref ?? '');
    const lv = await this.libvirt.probe(signal);
    await this.checkTools(lv, signal);
    // The NIC is resolved before anything stops or is created: a wrong network_id changes nothing.
    const networkId = checkNetworkId(options.network_id);
    if (!lv.ok && networkId !== null && networkId !== 'user-nat') {
      throw new RehostError('VALIDATION', `network_id ${networkId}: without libvirt the KVM host offers only user-mode NAT (user-nat)`, { field: 'boot.network_id' });
    }
    const nic = lv.ok ? chooseNic(networkId, await this.libvirt.networks(signal)) : null;
    const cutover = request.backupType === 'volume_backup';
    await this.stopAll(host, signal, cutover ? 'all' : 'test');
    const id = randomUUID();
    const dir = cutover ? this.layout.migratedDir(host.id, stamp()) : this.layout.bootDir(host.id, id);
    const started = Date.now();
    try {
      const disks = await this.prepareDisks(host, snapshotDir, volumes, dir, cutover, signal);
      const fixup = await this.fixup(disks[0], options, signal);
      const machine = lv.ok && nic
        ? await this.startDomain(host, id, flavor, disks, { cutover, dir, version: lv.version, nic, signal })
        : await this.startPlain(host, id, flavor, disks, cutover, lv.ok ? '' : lv.reason, signal);
      this.log.info({ host: host.id, instanceId: id, how: machine.how, cutover }, 'machine started on the KVM host');
      const line = await this.watch(machine, pattern, timeoutMs(options), request);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      return { instanceId: id, detail: `${fixup ? `${fixup}; ` : ''}${cutover ? 'cutover' : 'test boot'} on ${this.ssh.where} ${machine.how}, ${flavor.id}, in ${secs} s: ${line}${cutover ? `; disks kept in ${dir}` : ''}` };
    } catch (err) {
      // Nothing of a failed boot stays behind; the host can boot again.
      await this.stopAll(host, AbortSignal.timeout(30_000), { id }).catch(() => undefined);
      await this.ssh.exec(`rm -rf -- ${sh(dir)}`).catch(() => undefined);
      throw err;
    }
  }

  /** libvirt when configured must answer; QEMU's tools must be there. */
  private async checkTools(lv: LibvirtProbe, signal: AbortSignal): Promise<void> {
    if (!lv.ok && this.libvirt.config.required) {
      throw new RehostError('UNPROCESSABLE', `libvirt (${this.libvirt.config.uri}) does not answer on the KVM host ${this.ssh.where}: ${lv.reason}`, { field: 'config.libvirt_uri' });
    }
    const tools = lv.ok ? 'qemu-img' : `${QEMU} qemu-img`;
    await this.ssh.exec(`for t in ${tools}; do command -v $t >/dev/null || exit 1; done`, signal).catch((err: unknown) => {
      throw new RehostError('UNPROCESSABLE', `QEMU is missing on the KVM host ${this.ssh.where}: install qemu-system-x86 and qemu-utils there`, { field: 'boot' }, { cause: err });
    });
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
   * agent on the KVM host because it mounts the disk file's partitions where the file is. Off
   * with `fixup: false` or `os_type: "Windows"`; disks without a Linux root are skipped there.
   */
  private async fixup(disk: Disk | undefined, options: Record<string, unknown>, signal: AbortSignal): Promise<string | null> {
    if (!disk || options.fixup === false || options.os_type === 'Windows') return null;
    const session = await AgentSession.start(await this.ssh.connection(), { role: 'sink', sudo: this.libvirt.sudo !== '', log: this.log }, signal);
    try {
      const report = await session.peer.call<{ summary: string }>('fixup', { path: disk.path, format: disk.format }, signal);
      this.log.info({ disk: disk.path }, report.summary);
      return report.summary;
    } finally {
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

  private async startDomain(
    host: Host,
    id: string,
    flavor: Flavor,
    disks: Disk[],
    o: { cutover: boolean; dir: string; version: string; nic: NicSpec; signal: AbortSignal },
  ): Promise<Started> {
    const nic = o.nic;
    const type = await this.libvirt.domainType(o.signal);
    const name = `${domainPrefix(host.id)}${id}`;
    const consolePath = posix.join(this.layout.machinesDir(host.id), `${id}.console.log`);
    const spec = { name, uuid: id, title: `Rehost ${o.cutover ? 'cutover' : 'test boot'} of ${host.name}`, type, vcpus: flavor.vcpus, ramMiB: flavor.ram_mib, disks, nic, consoleLog: consolePath };
    // Cutover: the XML stays beside the kept disks, so the machine can be defined again by hand.
    const xmlPath = o.cutover ? posix.join(o.dir, 'domain.xml') : posix.join(this.layout.machinesDir(host.id), `${id}.xml`);
    await this.writeFile(xmlPath, domainXml(spec));
    await this.libvirt.start(xmlPath, name, o.cutover, o.signal);
    const where = nic.kind === 'network' ? `network ${nic.network}` : nic.kind === 'bridge' ? `bridge ${nic.bridge}` : 'user-mode NAT';
    return { runningTest: this.libvirt.runningTest(name), stateReport: `${this.libvirt.virsh('domstate', '--reason', name)} 2>&1`, consolePath, how: `via libvirt (${o.version}; ${o.cutover ? 'persistent' : 'transient'} domain ${name}, type ${type}, ${where})` };
  }

  private async startPlain(host: Host, id: string, flavor: Flavor, disks: Disk[], cutover: boolean, why: string, signal: AbortSignal): Promise<Started> {
    const accel = (await this.ssh.exec(KVM_PROBE, signal)).trim() === 'kvm' ? 'kvm' : 'tcg';
    const machines = this.layout.machinesDir(host.id);
    const consolePath = posix.join(machines, `${id}.console.log`);
    const pidPath = posix.join(machines, `${id}.${cutover ? 'cutover' : 'test'}.pid`);
    await this.ssh.exec(plainStartCommand({ instanceId: id, accel, vcpus: flavor.vcpus, ramMiB: flavor.ram_mib, disks, consolePath, pidPath }), signal);
    return { runningTest: plainRunningTest(pidPath), consolePath, how: `via plain QEMU (${accel}, user-mode NAT; no libvirt: ${why})` };
  }

  private async writeFile(path: string, text: string): Promise<void> {
    const sftp = await this.ssh.sftp();
    await new Promise<void>((resolve, reject) => sftp.writeFile(path, text, (err) => (err ? reject(err) : resolve())));
  }

  private async watch(m: Started, pattern: RegExp, timeout: number, request: BootRequest): Promise<string> {
    const deadline = Date.now() + timeout;
    let seen = '';
    for (;;) {
      const out = await this.ssh.exec(`${m.runningTest} && echo up || echo down; ${this.libvirt.sudo}tail -c +${Buffer.byteLength(seen) + 1} ${sh(m.consolePath)} 2>/dev/null | head -c 1048576`);
      const alive = out.startsWith('up\n');
      const text = out.slice(out.indexOf('\n') + 1);
      if (text) request.onConsole?.(text);
      seen += text;
      const clean = seen.replace(/\r/g, '');
      const hit = lineOf(clean, pattern);
      if (hit !== null) return hit;
      const bad = lineOf(clean, FAIL);
      const tail = `; console tail:\n${clean.trim().slice(-1500) || '(the console stayed empty)'}`;
      if (bad !== null) throw new RehostError('DRIVER', `the console reported a failure: ${bad}${tail}`);
      if (!alive) {
        const state = m.stateReport ? ` (${(await this.ssh.exec(`${m.stateReport}; true`).catch(() => '')).trim() || 'gone'})` : '';
        throw new RehostError('DRIVER', `the machine stopped before it finished booting${state}${tail}`);
      }
      if (request.signal.aborted) throw new RehostError('DRIVER', `boot aborted${tail}`);
      if (Date.now() > deadline) throw new RehostError('DRIVER', `no login prompt or boot marker ${pattern.source} within ${Math.round(timeout / 1000)} s${tail}`);
      await new Promise((r) => setTimeout(r, 500));
    }
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

function lineOf(text: string, pattern: RegExp): string | null {
  const m = pattern.exec(text);
  if (!m) return null;
  const end = text.indexOf('\n', m.index);
  return text.slice(text.lastIndexOf('\n', m.index) + 1, end === -1 ? undefined : end).trim();
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}
