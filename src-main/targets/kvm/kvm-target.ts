/**
 * The KVM target: a Linux host with QEMU (and libvirt, when there) reached over SSH. Volumes are
 * sparse raw files under `config.path` on that host, written by an agent in the sink role there
 * (the replication wire protocol over SSH, zstd where it pays; it also hashes the volume for
 * verification); snapshots are reflinks or
 * qcow2 deltas made there (snapshots.ts); machines run as libvirt domains or plain QEMU (machines.ts).
 *
 *   <path>/<host id>/disk-<n>.raw, layers/, snapshots/<name>/, boot/<instance>/, machines/<instance>.*
 *   <path>/migrated/<host id>-<stamp>/   cutover copies, kept by cleanup
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { ResourceKind } from '../../../src-shared/states.js';
import type { DiskSink, DriverDeps, TargetCapabilities, TargetDriver, TargetInventory, TargetSnapshots } from '../../core/drivers.js';
import type { Host, Snapshot, Volume } from '../../core/model.js';
import { KVM_FLAVORS, RESOURCES, type KvmLayout } from './layout.js';
import type { Libvirt } from './libvirt.js';
import { KvmMachines } from './machines.js';
import { AgentSession } from '../../sources/agent/session.js';
import { AgentSink } from '../../replication/agent-sink.js';
import { KvmSnapshots } from './snapshots.js';
import { KvmSsh, sh } from './ssh.js';

type PreparedVolume = Omit<Volume, 'id' | 'createdAt'>;

export class KvmTarget implements TargetDriver {
  readonly cloudType = 'KVM' as const;
  /** Volumes are written by an agent on the host when a source agent sends chunks directly. */
  readonly capabilities: TargetCapabilities = { resources: RESOURCES, directSinks: true };
  readonly snapshots: TargetSnapshots;
  readonly machines: KvmMachines;
  private readonly sinks = new Set<DiskSink>();

  constructor(
    private readonly deps: DriverDeps,
    private readonly ssh: KvmSsh,
    private readonly layout: KvmLayout,
    private readonly libvirt: Libvirt,
    /** `config.direct_address`: where source agents reach this host for transport direct. */
    private readonly directAddress: string | null = null,
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

  /**
   * A sink agent of its own per volume, stopped when the sink closes; one that stopped mid-copy
   * (killed, or its connection dropped) fails the writes, and the sync's reconnect opens a new sink.
   */
  async openSink(volume: Volume, signal: AbortSignal): Promise<DiskSink> {
    signal.throwIfAborted();
    const path = this.layout.assertVolumeRef(volume.ref);
    // No allocated block: a fresh sparse volume, all zeros.
    const blank = (await this.ssh.exec(`stat -c %b ${sh(path)}`, signal)).trim() === '0';
    // The volume files are the SSH user's (prepareVolumes made them), so the agent needs no sudo.
    const session = await AgentSession.start(await this.ssh.connection(), { role: 'sink', sudo: false, log: this.deps.log }, signal);
    let sink: AgentSink | undefined;
    try {
      sink = await AgentSink.open(session, path, volume.sizeBytes, blank, signal, {
        where: `the KVM host ${this.ssh.where}`,
        directAddress: async () => this.directAddress ?? (await this.ssh.remoteAddress()),
        onClose: async () => {
          this.sinks.delete(sink!);
          await session.close();
        },
      });
    } catch (err) {
      await session.close();
      throw err;
    }
    this.sinks.add(sink);
    return sink;
  }

  /** Stops the host's machines and removes `<path>/<host>`; cutover copies in `<path>/migrated/` stay. */
  async cleanup(host: Host, _volumes: Volume[], _snapshots: Snapshot[], force: boolean, signal: AbortSignal): Promise<void> {
    try {
      await this.machines.stopAll(host, signal);
      await this.ssh.exec(`rm -rf -- ${sh(this.layout.hostDir(host.id))}`, signal);
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
