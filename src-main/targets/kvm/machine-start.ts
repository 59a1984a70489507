/**
 * Starting one machine on the KVM host, as a libvirt domain (generated XML: transient for a test
 * boot, defined and started for a cutover) or as a plain QEMU process, with the NIC's MAC, the
 * cloud-init seed and the guest agent channel; and stopping that one machine again while its
 * disks stay (a restart under TCG after KVM failed).
 */
import { posix } from 'node:path';
import { guestAgentPing } from '../local/guest-agent.js';
import { domainXml, type NicSpec } from './domain-xml.js';
import type { GuestSetup } from './guest-setup.js';
import { agentSocket, type KvmLayout } from './layout.js';
import { domainPrefix, type Libvirt } from './libvirt.js';
import type { Started } from './machine-watch.js';
import { KVM_PROBE, plainRunningTest, plainStartCommand, plainStateReport } from './qemu-plain.js';
import { sh, type KvmSsh } from './ssh.js';
import { bridgeUnixSocket } from './unix-bridge.js';

const AGENT_PROBE_TIMEOUT_MS = 1500;

export interface MachineSpec {
  hostId: string;
  hostName: string;
  instanceId: string;
  vcpus: number;
  ramMiB: number;
  disks: { path: string; format: 'raw' | 'qcow2' }[];
  cutover: boolean;
  /** The machine's folder: overlays (test boot) or the kept copy (cutover). */
  dir: string;
  guest: GuestSetup;
  /** Run under TCG even where KVM seems to work (it failed before on this host). */
  noKvm: boolean;
}

export class MachineStarter {
  constructor(
    private readonly ssh: KvmSsh,
    private readonly layout: KvmLayout,
    private readonly libvirt: Libvirt,
  ) {}

  consolePath(spec: MachineSpec): string {
    return posix.join(this.layout.machinesDir(spec.hostId), `${spec.instanceId}.console.log`);
  }

  async startDomain(spec: MachineSpec, nic: NicSpec, version: string, signal: AbortSignal): Promise<Started> {
    const type = spec.noKvm ? 'qemu' : await this.libvirt.domainType(signal);
    const name = `${domainPrefix(spec.hostId)}${spec.instanceId}`;
    const consolePath = this.consolePath(spec);
    const net = spec.guest.net?.slirp?.net.replace(/\/24$/, '');
    const xml = domainXml({
      name, uuid: spec.instanceId, title: `Rehost ${spec.cutover ? 'cutover' : 'test boot'} of ${spec.hostName}`, type, vcpus: spec.vcpus, ramMiB: spec.ramMiB,
      disks: spec.disks, nic, mac: spec.guest.mac, consoleLog: consolePath,
      ...(nic.kind === 'user' && net && net !== '10.0.2.0' ? { userNet: net } : {}),
      ...(spec.guest.seedPath ? { seedPath: spec.guest.seedPath } : {}),
    });
    // Cutover: the XML stays beside the kept disks, so the machine can be defined again by hand.
    const xmlPath = spec.cutover ? posix.join(spec.dir, 'domain.xml') : posix.join(this.layout.machinesDir(spec.hostId), `${spec.instanceId}.xml`);
    await this.writeFile(xmlPath, xml);
    await this.libvirt.start(xmlPath, name, spec.cutover, signal);
    const where = nic.kind === 'network' ? `network ${nic.network}` : nic.kind === 'bridge' ? `bridge ${nic.bridge}` : 'user-mode NAT';
    const state = this.libvirt.virsh('domstate', name);
    return {
      runningTest: this.libvirt.runningTest(name),
      stateReport: `${this.libvirt.virsh('domstate', '--reason', name)} 2>&1`,
      // KVM's internal error pauses the guest; Rehost never pauses its machines itself.
      kvmFailedTest: type === 'kvm' ? `[ "$(${state} 2>/dev/null)" = paused ]` : 'false',
      agentPing: async () => (await this.ssh.exec(`${this.libvirt.virsh('qemu-agent-command', '--timeout', '2', name, '{"execute":"guest-ping"}')} >/dev/null 2>&1 && echo yes || true`)).trim() === 'yes',
      consolePath,
      how: `via libvirt (${version}; ${spec.cutover ? 'persistent' : 'transient'} domain ${name}, type ${type}, ${where}, MAC ${spec.guest.mac})`,
    };
  }

  async startPlain(spec: MachineSpec, why: string, signal: AbortSignal): Promise<Started> {
    const accel = !spec.noKvm && (await this.ssh.exec(KVM_PROBE, signal)).trim() === 'kvm' ? 'kvm' : 'tcg';
    const machines = this.layout.machinesDir(spec.hostId);
    const consolePath = this.consolePath(spec);
    const pidPath = this.pidPath(spec);
    const logPath = posix.join(machines, `${spec.instanceId}.qemu.log`);
    const slirp = spec.guest.net?.slirp;
    await this.ssh.exec(
      plainStartCommand({
        instanceId: spec.instanceId, accel, vcpus: spec.vcpus, ramMiB: spec.ramMiB, disks: spec.disks, consolePath, pidPath, logPath, mac: spec.guest.mac,
        ...(slirp ? { net: slirp } : {}),
        ...(spec.guest.seedPath ? { seedPath: spec.guest.seedPath } : {}),
      }),
      signal,
    );
    const socket = agentSocket(spec.instanceId);
    return {
      runningTest: plainRunningTest(pidPath),
      stateReport: plainStateReport(logPath),
      kvmFailedTest: accel === 'kvm' ? `grep -q 'KVM internal error' ${sh(logPath)} 2>/dev/null` : 'false',
      agentPing: async () => {
        const bridge = await bridgeUnixSocket(this.ssh, socket, 'qga');
        try {
          return await guestAgentPing(bridge.path, AGENT_PROBE_TIMEOUT_MS);
        } finally {
          await bridge.close();
        }
      },
      consolePath,
      how: `via plain QEMU (${accel}, user-mode NAT, MAC ${spec.guest.mac}; no libvirt: ${why})`,
    };
  }

  /** Stops this one machine, leaving its disks and folder (libvirt: destroyed and undefined). */
  async stopOnly(spec: MachineSpec, viaLibvirt: boolean): Promise<void> {
    if (viaLibvirt) {
      const name = `${domainPrefix(spec.hostId)}${spec.instanceId}`;
      await this.ssh.exec(`${this.libvirt.virsh('destroy', name)} >/dev/null 2>&1; ${this.libvirt.virsh('undefine', name)} >/dev/null 2>&1; true`);
      return;
    }
    const pid = sh(this.pidPath(spec));
    await this.ssh.exec(
      `p=$(cat ${pid} 2>/dev/null); if [ -n "$p" ] && tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q ${sh(`rehost-${spec.instanceId}`)}; then kill -9 $p; for i in $(seq 50); do kill -0 $p 2>/dev/null || break; sleep 0.1; done; fi; rm -f ${pid}`,
    );
  }

  private pidPath(spec: MachineSpec): string {
    return posix.join(this.layout.machinesDir(spec.hostId), `${spec.instanceId}.${spec.cutover ? 'cutover' : 'test'}.pid`);
  }

  private async writeFile(path: string, text: string): Promise<void> {
    const sftp = await this.ssh.sftp();
    await new Promise<void>((resolve, reject) => sftp.writeFile(path, text, (err) => (err ? reject(err) : resolve())));
  }
}
