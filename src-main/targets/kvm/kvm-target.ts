/**
 * The KVM target: a Linux host with QEMU (and libvirt, when there) reached over SSH. Volumes are
 * qcow2 layers over a raw base (or raw files on file systems that clone) under `config.path` on
 * that host: the raw base (and a raw file) written by an agent in the sink role there (the
 * replication wire protocol over SSH, or a direct link from the source agent; it also hashes the
 * volume for verification), a qcow2 layer through qemu-nbd there (volumes.ts); snapshots freeze
 * layers or clone (snapshots.ts); machines run as libvirt domains or plain QEMU (machines.ts).
 *
 *   <path>/<host id>/disk-<n>.qcow2|.raw, layers/, snapshots/<name>/, boot/<instance>/, machines/<instance>.*
 *   <path>/keypairs/<name>.pub           public keys boot's keypair_id names
 *   <path>/migrated/<host id>-<stamp>/   cutover copies, kept by cleanup (the migrated server runs from them)
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { ResourceKind } from '../../../src-shared/states.js';
import type { DiskSink, DriverDeps, TargetCapabilities, TargetDriver, TargetInventory, TargetSnapshots } from '../../core/drivers.js';
import type { Host, Snapshot, Volume } from '../../core/model.js';
import { KVM_FLAVORS, RESOURCES, type KvmLayout } from './layout.js';
import { domainPrefix, type Libvirt } from './libvirt.js';
import { KvmMachines } from './machines.js';
import { KvmAgents } from './agents.js';
import { KvmGuests } from './guest-setup.js';
import { nbdPidFile, stopNbdScript } from './layer-server.js';
import { KvmSnapshots } from './snapshots.js';
import { folderError, KvmVolumes } from './volumes.js';
import { KvmSsh, sh } from './ssh.js';

type PreparedVolume = Omit<Volume, 'id' | 'createdAt'>;

export class KvmTarget implements TargetDriver {
  readonly cloudType = 'KVM' as const;
  /** Volumes are written by an agent on the host when a source agent sends chunks directly. */
  readonly capabilities: TargetCapabilities = { resources: RESOURCES, directSinks: true };
  readonly snapshots: TargetSnapshots;
  readonly machines: KvmMachines;
  /** Open sinks and the volume each writes: snapshots refuse a volume a sync has open. */
  private readonly sinks = new Map<DiskSink, string>();
  private readonly volumes: KvmVolumes;
  private readonly agents: KvmAgents;
  private readonly guests: KvmGuests;

  constructor(
    private readonly deps: DriverDeps,
    private readonly ssh: KvmSsh,
    private readonly layout: KvmLayout,
    private readonly libvirt: Libvirt,
    /** `config.direct_address`: where source agents reach this host for transport direct. */
    private readonly directAddress: string | null = null,
  ) {
    const snapshots = new KvmSnapshots(ssh, layout, deps.log, (path) => [...this.sinks.values()].includes(path));
    this.snapshots = snapshots;
    // The volume files are the SSH user's (prepare made them), so the sink agent needs no sudo.
    this.volumes = new KvmVolumes(ssh, layout, deps.log, (signal: AbortSignal) => this.agents.start(false, signal), async () => this.directAddress ?? (await this.ssh.remoteAddress()));
    this.agents = new KvmAgents(ssh, layout, deps.log);
    this.guests = new KvmGuests(ssh, layout, deps.log, deps.workDir);
    this.machines = new KvmMachines(ssh, layout, deps.log, libvirt, snapshots, this.guests, this.agents);
  }

  async verify(signal: AbortSignal): Promise<TargetInventory> {
    const root = sh(this.layout.root);
    const out = await this.ssh.exec(`mkdir -p ${root} && touch ${root}/.rehost-probe && rm -f ${root}/.rehost-probe && df -PB1 ${root} | tail -1`, signal).catch((err: unknown) => {
      throw folderError(this.layout.root, 'a probe file', err);
    });
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
    if (kind === 'keypairs') return this.guests.keypairs(signal);
    throw new RehostError('UNPROCESSABLE', `KVM targets have no ${kind}; they offer ${RESOURCES.join(', ')}`, { field: 'kind' });
  }

  /** Creates missing volumes (sparse raw or qcow2 layers, see volumes.ts), grows grown disks, refuses shrunk ones. */
  async prepareVolumes(host: Host, signal: AbortSignal): Promise<PreparedVolume[]> {
    return this.volumes.prepare(host, signal);
  }

  /**
   * A sink agent of its own per volume, stopped when the sink closes; one that stopped mid-copy
   * (killed, or its connection dropped) fails the writes, and the sync's reconnect opens a new sink.
   */
  async openSink(volume: Volume, signal: AbortSignal): Promise<DiskSink> {
    signal.throwIfAborted();
    const path = this.layout.assertVolumeRef(volume.ref);
    if ([...this.sinks.values()].includes(path)) throw new RehostError('CONFLICT', `volume ${path} is already open for writing`, { field: 'volume.ref' });
    const sink = await this.volumes.openSink(volume, signal);
    const close = sink.close.bind(sink);
    sink.close = async () => {
      this.sinks.delete(sink);
      await close();
    };
    this.sinks.set(sink, path);
    return sink;
  }

  /**
   * Stops the host's test machines and qemu-nbd servers and removes what Rehost made to sync and
   * test it under `<path>/<host>`. The migrated server is never touched: a cutover machine keeps
   * running from its copy in `<path>/migrated/`; a persistent libvirt cutover domain also keeps its
   * console log (`machines/<instance>.console.log`, which its XML names: libvirt would not start
   * it again without that folder), the only thing left in the host folder then. The agent runtime
   * cache stays until the target is deleted.
   */
  async cleanup(host: Host, volumes: Volume[], _snapshots: Snapshot[], force: boolean, signal: AbortSignal): Promise<void> {
    const hostDir = this.layout.hostDir(host.id);
    const dir = sh(hostDir);
    const prefix = domainPrefix(host.id);
    const keep =
      `keep=; if command -v virsh >/dev/null 2>&1 && names=$(${this.libvirt.virsh('list', '--all', '--persistent', '--name')} 2>/dev/null); then ` +
      `for n in $names; do case "$n" in ${sh(prefix)}*) keep="$keep \${n#${prefix}}.console.log";; esac; done; fi`;
    const remove =
      `if [ -z "$keep" ]; then rm -rf -- ${dir}; else find ${dir} -mindepth 1 -maxdepth 1 ! -name machines -exec rm -rf -- {} +; ` +
      `for f in ${dir}/machines/* ${dir}/machines/.[!.]*; do [ -e "$f" ] || continue; case " $keep " in *" $(basename "$f") "*) ;; *) rm -rf -- "$f";; esac; done; fi`;
    try {
      await this.machines.stopAll(host, signal, 'test');
      await Promise.all([...this.sinks].filter(([, path]) => volumes.some((v) => v.ref === path)).map(([sink]) => sink.close().catch(() => undefined)));
      // qemu-nbd servers an interrupted sync left hold the volumes' files.
      const nbd = volumes.filter((v) => v.ref.startsWith(`${hostDir}/`)).map((v) => stopNbdScript(nbdPidFile(v.ref), v.ref));
      await this.ssh.exec(`${[...nbd, 'true'].join('; ')}; ${keep}; ${remove}`, signal);
    } catch (err) {
      if (!force) throw err;
      this.deps.log.warn({ host: host.id, err: String(err) }, 'forced cleanup went on past an error');
    }
  }

  /** The target is being deleted: the agent runtime this target put on the KVM host goes. */
  async unregister(signal: AbortSignal): Promise<void> {
    await this.agents.removeCache(signal);
  }

  async close(): Promise<void> {
    await Promise.all([...this.sinks.keys()].map((s) => s.close().catch(() => undefined)));
    this.sinks.clear();
    await this.ssh.close();
  }
}
