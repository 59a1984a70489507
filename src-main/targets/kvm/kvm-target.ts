/**
 * The KVM target: a Linux host with QEMU (and libvirt, when there) reached over SSH. Volumes are
 * sparse raw files under `config.path` on that host, written over SFTP; snapshots are reflinks or
 * qcow2 deltas made there (snapshots.ts); machines run as libvirt domains or plain QEMU (machines.ts).
 *
 *   <path>/<host id>/disk-<n>.raw, layers/, snapshots/<name>/, boot/<instance>/, machines/<instance>.*
 *   <path>/migrated/<host id>-<stamp>/   cutover copies, kept by cleanup (the migrated server runs from them)
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { ResourceKind } from '../../../src-shared/states.js';
import type { DiskSink, DriverDeps, TargetCapabilities, TargetDriver, TargetInventory, TargetSnapshots } from '../../core/drivers.js';
import type { Host, Snapshot, Volume } from '../../core/model.js';
import { KVM_FLAVORS, RESOURCES, type KvmLayout } from './layout.js';
import { domainPrefix, type Libvirt } from './libvirt.js';
import { KvmMachines } from './machines.js';
import { AgentSession } from '../../sources/agent/session.js';
import { SftpSink } from './sftp-sink.js';
import { KvmSnapshots } from './snapshots.js';
import { KvmSsh, sh } from './ssh.js';

type PreparedVolume = Omit<Volume, 'id' | 'createdAt'>;

export class KvmTarget implements TargetDriver {
  readonly cloudType = 'KVM' as const;
  readonly capabilities: TargetCapabilities = { resources: RESOURCES };
  readonly snapshots: TargetSnapshots;
  readonly machines: KvmMachines;
  private readonly sinks = new Set<DiskSink>();

  constructor(
    private readonly deps: DriverDeps,
    private readonly ssh: KvmSsh,
    private readonly layout: KvmLayout,
    private readonly libvirt: Libvirt,
  ) {
    const snapshots = new KvmSnapshots(ssh, layout, deps.log);
    this.snapshots = snapshots;
    this.machines = new KvmMachines(ssh, layout, deps.log, libvirt, snapshots);
  }

  async verify(signal: AbortSignal): Promise<TargetInventory> {
    const root = sh(this.layout.root);
    const out = await this.ssh.exec(`mkdir -p ${root} && touch ${root}/.rehost-probe && rm -f ${root}/.rehost-probe && df -PB1 ${root} | tail -1`, signal);
    const [, total = '0', used = '0'] = out.trim().split(/\s+/);
    const totalBytes = Number(total);
    const usedBytes = Number(used);
    return {
      displayName: `KVM_${this.ssh.where}`,
      address: this.ssh.where,
      totalBytes,
      usedBytes,
      pools: [{ id: 'default', name: 'KVM_Pool', protocol: 'ssh', totalBytes, usedBytes, status: 'available' }],
    };
  }

  async listResources(kind: ResourceKind, signal: AbortSignal): Promise<Record<string, unknown>[]> {
    signal.throwIfAborted();
    if (kind === 'flavors') return KVM_FLAVORS.map((f) => ({ ...f }));
    if (kind === 'networks') {
      const lv = await this.libvirt.probe(signal);
      if (lv.ok) return (await this.libvirt.networks(signal)).map((n) => ({ ...n }));
      return [{ id: 'user-nat', name: 'User-mode NAT', type: 'user', active: true }];
    }
    if (kind === 'availability_zones') return [{ id: 'kvm', name: 'kvm' }];
    throw new RehostError('UNPROCESSABLE', `KVM targets have no ${kind}; they offer ${RESOURCES.join(', ')}`, { field: 'kind' });
  }

  /** Creates missing volume files (sparse), grows grown disks, refuses shrunk ones. */
  async prepareVolumes(host: Host, signal: AbortSignal): Promise<PreparedVolume[]> {
    const script = host.disks
      .map((d) => {
        const p = sh(this.layout.volume(host.id, d.index));
        return `if [ -e ${p} ]; then s=$(stat -c %s ${p}); [ "$s" -le ${d.sizeBytes} ] || { echo "volume ${d.index} holds $s bytes, more than the source disk" >&2; exit 3; }; fi; truncate -s ${d.sizeBytes} ${p}`;
      })
      .join(' && ');
    await this.ssh.exec(`mkdir -p ${sh(this.layout.hostDir(host.id))} && ${script}`, signal);
    return host.disks.map((d) => ({
      hostId: host.id,
      targetId: host.targetId ?? '',
      diskIndex: d.index,
      name: `sync_vol_${host.name}_${d.index}`,
      sizeBytes: d.sizeBytes,
      status: 'in-use' as const,
      ref: this.layout.volume(host.id, d.index),
    }));
  }

  async openSink(volume: Volume, signal: AbortSignal): Promise<DiskSink> {
    signal.throwIfAborted();
    // The volume files are the SSH user's (SFTP made them), so the agent that hashes them needs no sudo.
    const startAgent = async (s: AbortSignal) => AgentSession.start(await this.ssh.connection(), { role: 'sink', sudo: false, log: this.deps.log }, s);
    const sink = await SftpSink.open(this.ssh, this.layout.assertVolumeRef(volume.ref), startAgent);
    this.sinks.add(sink);
    return sink;
  }

  /**
   * Stops the host's test machines and removes what Rehost made to sync and test it under
   * `<path>/<host>`. The migrated server is never touched: a cutover machine keeps running from
   * its copy in `<path>/migrated/`; a persistent libvirt cutover domain also keeps its console log
   * (`machines/<instance>.console.log`, which its XML names: libvirt would not start it again
   * without that folder), the only thing left in the host folder then.
   */
  async cleanup(host: Host, _volumes: Volume[], _snapshots: Snapshot[], force: boolean, signal: AbortSignal): Promise<void> {
    const dir = sh(this.layout.hostDir(host.id));
    const prefix = domainPrefix(host.id);
    const keep =
      `keep=; if command -v virsh >/dev/null 2>&1 && names=$(${this.libvirt.virsh('list', '--all', '--persistent', '--name')} 2>/dev/null); then ` +
      `for n in $names; do case "$n" in ${sh(prefix)}*) keep="$keep \${n#${prefix}}.console.log";; esac; done; fi`;
    const remove =
      `if [ -z "$keep" ]; then rm -rf -- ${dir}; else find ${dir} -mindepth 1 -maxdepth 1 ! -name machines -exec rm -rf -- {} +; ` +
      `for f in ${dir}/machines/* ${dir}/machines/.[!.]*; do [ -e "$f" ] || continue; case " $keep " in *" $(basename "$f") "*) ;; *) rm -rf -- "$f";; esac; done; fi`;
    try {
      await this.machines.stopAll(host, signal, 'test');
      await this.ssh.exec(`${keep}; ${remove}`, signal);
    } catch (err) {
      if (!force) throw err;
      this.deps.log.warn({ host: host.id, err: String(err) }, 'forced cleanup went on past an error');
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.sinks].map((s) => s.close().catch(() => undefined)));
    this.sinks.clear();
    await this.ssh.close();
  }
}
