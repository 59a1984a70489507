/**
 * Volumes on the KVM host, in one of two formats chosen per volume when it is first made:
 *
 * - qcow2 layers (the default): `disk-<n>.qcow2` is the active layer over `layers/base-disk-<n>.raw`
 *   and the frozen layers of earlier snapshots. While no snapshot has frozen anything, syncs write
 *   the raw base itself through an agent in the sink role on the host (plain positional writes
 *   for the full copy); after that the same agent writes the active layer through qemu-nbd on
 *   the host (layer-server.ts). Either way a source agent may send chunks there directly
 *   (transport direct). A snapshot then only freezes the active layer
 *   (snapshots.ts), so it costs what changed since the previous one.
 * - raw `disk-<n>.raw` written by the sink agent, where the host's file system clones files
 *   (reflink snapshots cost nothing), or where qemu-img or qemu-nbd is missing
 *   (snapshots are then qcow2 deltas computed on the host, the first one a full sparse copy).
 *
 * A volume keeps the format it was made with.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { DiskSink } from '../../core/drivers.js';
import type { Host, Volume } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import { volumeFormat, type KvmLayout, type VolumeFormat } from './layout.js';
import { nbdPidFile, serveLayer, stopNbdScript, stopServingLayer } from './layer-server.js';
import { AgentSink, type DirectAddress } from '../../replication/agent-sink.js';
import type { AgentSession } from '../../sources/agent/session.js';
import { sh, type KvmSsh } from './ssh.js';

type PreparedVolume = Omit<Volume, 'id' | 'createdAt'>;

/** Starts an agent in the sink role on the KVM host. */
export type StartAgent = (signal: AbortSignal) => Promise<AgentSession>;

/** What `qemu-img info --output=json` says of one image. */
export interface ImageInfo {
  virtualSize: number;
  backing: string | null;
}

/** `qemu-img info -U` of an image on the host. */
export async function remoteImageInfo(ssh: Pick<KvmSsh, 'exec'>, path: string, signal?: AbortSignal): Promise<ImageInfo> {
  const j = JSON.parse(await ssh.exec(`qemu-img info -U --output=json -- ${sh(path)}`, signal)) as { 'virtual-size': number; 'full-backing-filename'?: string; 'backing-filename'?: string };
  return { virtualSize: j['virtual-size'], backing: j['full-backing-filename'] ?? j['backing-filename'] ?? null };
}

/** A refusal of the host's file system, said in terms of the target folder. */
export function folderError(root: string, where: string, err: unknown): unknown {
  const text = err instanceof Error ? err.message : String(err);
  const m = /Permission denied|Read-only file system|Operation not permitted|No space left on device|Disk quota exceeded|Not a directory/.exec(text);
  if (!m) return err;
  const why = /space|quota/i.test(m[0]) ? 'it is full' : 'it is not writable';
  return new RehostError('CONFLICT', `config.path: cannot create ${where} in the target folder ${root} on the KVM host: ${why} (${m[0]})`, { field: 'config.path' }, { cause: err });
}

export class KvmVolumes {
  private format: Promise<VolumeFormat> | null = null;

  constructor(
    private readonly ssh: KvmSsh,
    private readonly layout: KvmLayout,
    private readonly log: Logger,
    private readonly startAgent: StartAgent,
    /** Where source agents reach this host for transport direct. */
    private readonly directAddress: DirectAddress,
  ) {}

  /** One volume per disk: existing ones keep their format, grow with the disk, refuse to shrink. */
  async prepare(host: Host, signal: AbortSignal): Promise<PreparedVolume[]> {
    const dir = this.layout.hostDir(host.id);
    try {
      const found = await this.ssh.exec(`mkdir -p ${sh(dir)} && cd ${sh(dir)} || exit 1; for f in disk-*; do [ -e "$f" ] && echo "$f"; done; true`, signal);
      const names = new Set(found.split('\n').filter(Boolean));
      const out: PreparedVolume[] = [];
      for (const d of host.disks) {
        const layered = names.has(`disk-${d.index}.qcow2`) || names.has(`disk-${d.index}.qcow2.next`);
        const format = layered ? 'qcow2' : names.has(`disk-${d.index}.raw`) ? 'raw' : await this.chooseFormat(signal);
        const ref = this.layout.volume(host.id, d.index, format);
        await (format === 'raw' ? this.prepareRaw(ref, d.index, d.sizeBytes, signal) : this.prepareLayer(host, d.index, d.sizeBytes, signal));
        out.push({ hostId: host.id, targetId: host.targetId ?? '', diskIndex: d.index, name: `sync_vol_${host.name}_${d.index}`, sizeBytes: d.sizeBytes, status: 'in-use', ref });
      }
      return out;
    } catch (err) {
      throw folderError(this.layout.root, `the host's volumes`, err);
    }
  }

  /** The sink a sync writes: the raw file, the raw base of an unfrozen qcow2 volume, or its active layer through qemu-nbd. */
  async openSink(volume: Volume, signal: AbortSignal): Promise<DiskSink> {
    const path = this.layout.assertVolumeRef(volume.ref);
    if (volumeFormat(path) === 'raw') return this.agentSink(path, signal);
    const base = this.layout.base(volume.hostId, volume.diskIndex);
    await this.ssh.exec(stopNbdScript(nbdPidFile(path), path), signal);
    const direct = await this.directBase(volume.hostId, path, base, signal);
    if (direct === null) return this.layerSink(path, signal);
    // The layer grew with the disk; the base only it reads grows along.
    await this.ssh.exec(`[ "$(stat -c %s ${sh(base)})" -ge ${direct} ] || truncate -s ${direct} ${sh(base)}`, signal);
    return this.agentSink(base, signal);
  }

  /**
   * A raw file written by an agent in the sink role on the host (it also hashes the volume for
   * verification, and takes a direct link from a source agent); the agent stops with the sink.
   */
  private async agentSink(path: string, signal: AbortSignal): Promise<DiskSink> {
    const [size, blocks] = (await this.ssh.exec(`stat -c '%s %b' ${sh(path)}`, signal)).trim().split(' ').map(Number);
    // No allocated block: a fresh sparse volume, all zeros.
    return this.openAgentSink(path, size ?? 0, blocks === 0, signal);
  }

  /** The active qcow2 layer, served by qemu-nbd on the host and written by the sink agent through it. */
  private async layerSink(path: string, signal: AbortSignal): Promise<DiskSink> {
    const info = await remoteImageInfo(this.ssh, path, signal);
    const socket = await serveLayer(this.ssh, path, signal);
    // A layer over earlier data never reads as all zeros.
    return this.openAgentSink(path, info.virtualSize, false, signal, socket, () => stopServingLayer(this.ssh, path, socket)).catch(async (err: unknown) => {
      await stopServingLayer(this.ssh, path, socket);
      throw new RehostError('DRIVER', `cannot write ${path} through qemu-nbd on the KVM host: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
    });
  }

  private async openAgentSink(path: string, size: number, blank: boolean, signal: AbortSignal, nbd?: string, after: () => Promise<void> = async () => undefined): Promise<DiskSink> {
    const session = await this.startAgent(signal);
    try {
      return await AgentSink.open(session, path, size, blank, signal, {
        where: `the KVM host ${this.ssh.where}`,
        directAddress: this.directAddress,
        nbd,
        onClose: () => session.close().then(after),
      });
    } catch (err) {
      await session.close();
      throw err;
    }
  }

  /**
   * The active layer's virtual size when syncs may write the raw base directly: the layer backs
   * onto the base, holds nothing of its own, and no snapshot, test boot or other layer reads the
   * base. Null otherwise.
   */
  private async directBase(hostId: string, active: string, base: string, signal: AbortSignal): Promise<number | null> {
    const info = await remoteImageInfo(this.ssh, active, signal);
    if (info.backing !== base) return null;
    const dir = sh(this.layout.hostDir(hostId));
    const out = await this.ssh.exec(
      // Extents the layer holds itself are depth 0 and present (past the base's end, depth 0 reads zeros and is absent).
      `m=$(qemu-img map -U --output=json -- ${sh(active)}) || exit 1; printf '%s\\n' "$m" | grep -q '"present"' || echo no-present-field; printf '%s\\n' "$m" | grep -c '"depth": 0, "present": true' || true; ` +
        `ls -A ${dir}/layers | grep -v '^base-disk-[0-9]*\\.raw$' | head -1; ls -A ${dir}/snapshots ${dir}/boot 2>/dev/null | grep -v ':$' | grep . | head -1; true`,
      signal,
    );
    const [own = '', ...others] = out.split('\n');
    // An old qemu-img without "present" cannot tell: the layer is written through qemu-nbd then.
    return own.trim() === '0' && others.every((l) => l.trim() === '') ? info.virtualSize : null;
  }

  private async prepareRaw(path: string, index: number, size: number, signal: AbortSignal): Promise<void> {
    const p = sh(path);
    await this.ssh.exec(`if [ -e ${p} ]; then s=$(stat -c %s ${p}); [ "$s" -le ${size} ] || { echo "volume ${index} holds $s bytes, more than the source disk" >&2; exit 3; }; fi; truncate -s ${size} ${p}`, signal);
  }

  /** A qcow2 active layer: made blank over a blank raw base, grown with the disk, never shrunk. */
  private async prepareLayer(host: Host, index: number, size: number, signal: AbortSignal): Promise<void> {
    const active = this.layout.volume(host.id, index, 'qcow2');
    const base = this.layout.base(host.id, index);
    const there = async (p: string) => (await this.ssh.exec(`[ -e ${sh(p)} ] && echo yes || true`, signal)).trim() === 'yes';
    if (!(await there(active)) && (await there(`${active}.next`))) {
      // A snapshot stopped between its two renames: the new layer goes in place when its backing (the frozen one) exists.
      const frozen = (await remoteImageInfo(this.ssh, `${active}.next`, signal)).backing;
      const keep = frozen !== null && (await there(frozen));
      this.log.warn({ host: host.id, path: active, keep }, 'finishing an interrupted snapshot');
      await this.ssh.exec(keep ? `mv -f ${sh(`${active}.next`)} ${sh(active)}` : `rm -f ${sh(`${active}.next`)}`, signal);
    }
    if (await there(active)) {
      const current = (await remoteImageInfo(this.ssh, active, signal)).virtualSize;
      if (current > size) throw new RehostError('CONFLICT', `volume ${active} holds ${current} bytes but the source disk now has ${size}; clean the host to start over`, { hostId: host.id });
      // Only the active layer grows: older layers read as zeros past their end.
      if (current < size) await this.ssh.exec(`qemu-img resize -q -f qcow2 -- ${sh(active)} ${size}`, signal);
      return;
    }
    // A base holding data may lie under snapshots whose active layer went missing: never overwritten.
    const [a, b] = [sh(active), sh(base)];
    await this.ssh.exec(
      `mkdir -p ${sh(this.layout.layersDir(host.id))} && if [ -e ${b} ] && [ "$(stat -c %b ${b})" != 0 ]; then echo "volume ${index} is missing but its base holds data (snapshots may use it); clean the host to start over" >&2; exit 3; fi; ` +
        `truncate -s ${size} ${b} && qemu-img create -q -f qcow2 -F raw -b ${b} ${a} ${size}`,
      signal,
    );
  }

  /**
   * Raw where the host's file system clones files; qcow2 layers where qemu-img and qemu-nbd are
   * there (the sink agent writes layers through qemu-nbd on the host); raw otherwise (snapshots
   * then copy, said in the log).
   */
  private chooseFormat(signal: AbortSignal): Promise<VolumeFormat> {
    this.format ??= this.probeFormat(signal).catch((err: unknown) => {
      this.format = null;
      throw err;
    });
    return this.format;
  }

  private async probeFormat(signal: AbortSignal): Promise<VolumeFormat> {
    const probe = sh(`${this.layout.root}/.rehost-format-probe`);
    const out = await this.ssh.exec(
      `: > ${probe} || exit 4; if cp --reflink=always ${probe} ${probe}.clone 2>/dev/null; then echo reflink; elif command -v qemu-img >/dev/null && command -v qemu-nbd >/dev/null; then echo layers; else echo copy; fi; rm -f ${probe} ${probe}.clone`,
      signal,
    );
    const kind = out.trim();
    if (kind === 'reflink') return 'raw';
    if (kind === 'layers') return 'qcow2';
    this.log.warn({ where: this.ssh.where }, 'qemu-img/qemu-nbd missing and no reflink on the KVM host: raw volumes, whose snapshots are full copies (install qemu-utils there)');
    return 'raw';
  }
}
