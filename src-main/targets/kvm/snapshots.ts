/**
 * Cheap snapshots on the KVM host. Per disk, a snapshot is a *layer* in `<host>/layers/`:
 *  - qcow2 volumes (volumes.ts): the active layer itself, frozen. It is moved into `layers/` and
 *    a new empty active layer is put on top of it, so a snapshot holds only what changed since
 *    the previous one and costs no copy (the first one freezes the raw base the first sync wrote);
 *  - raw volumes: a reflink copy where the host's file system clones files, else a qcow2 delta
 *    holding only the clusters that differ from the previous snapshot's layer (`qemu-img create
 *    -b <volume>` then a safe `qemu-img rebase -b <previous layer>`), or a sparse raw copy for the
 *    first snapshot (or when qemu-img is missing).
 * `<host>/snapshots/<name>/disk-<n>.<raw|qcow2>` are symlinks to the layers, so a layer never moves
 * while anything uses it and later syncs (which write only the volume or its active layer) never
 * change a snapshot. Removing a snapshot removes its links; then unreachable layers are deleted
 * and qcow2 layers kept only under one later layer are merged into it (`qemu-img commit`, which
 * costs that later layer's size) when no running machine or sync holds the chain open —
 * otherwise on a later removal. Raw layers are never merged: that would copy the whole disk.
 */
import { posix } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { TargetSnapshots } from '../../core/drivers.js';
import type { Host, Volume } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import { volumeFormat, type KvmLayout } from './layout.js';
import { nbdPidFile } from './layer-server.js';
import { sh, type KvmSsh } from './ssh.js';

/** One layer file and the layer it backs onto (null for a raw base). */
export interface LayerInfo {
  path: string;
  backing: string | null;
}

/** What garbage collection does to a host's layers: delete these, fold those into their child. */
export interface LayerPlan {
  remove: string[];
  /** Layers only a later delta needs: rebase `child` onto `parent` (null: make it standalone), then delete `layer`. */
  fold: { layer: string; child: string; parent: string | null }[];
}

/** Decides, from the links in use and each layer's backing file, which layers go. Pure. */
export function planLayers(layers: LayerInfo[], pinned: Set<string>): LayerPlan {
  const byPath = new Map(layers.map((l) => [l.path, l]));
  const needed = new Set<string>();
  for (const p of pinned) {
    for (let at = byPath.get(p); at && !needed.has(at.path); at = at.backing ? byPath.get(at.backing) : undefined) needed.add(at.path);
  }
  const remove = layers.filter((l) => !needed.has(l.path)).map((l) => l.path);
  const fold: LayerPlan['fold'] = [];
  for (const l of layers) {
    if (!needed.has(l.path) || pinned.has(l.path) || !l.path.endsWith('.qcow2')) continue;
    const children = layers.filter((c) => c.backing === l.path && needed.has(c.path));
    if (children.length === 1 && children[0]!.path.endsWith('.qcow2')) fold.push({ layer: l.path, child: children[0]!.path, parent: l.backing });
  }
  return { remove, fold };
}

/** `disk-<n>.<fmt>` links of a snapshot folder, resolved: what boot reads. */
export interface SnapshotDisk {
  index: number;
  path: string;
  format: 'raw' | 'qcow2';
}

export class KvmSnapshots implements TargetSnapshots {
  constructor(
    /** Only shell commands: unit tests run them in a local shell. */
    private readonly ssh: Pick<KvmSsh, 'exec'>,
    private readonly layout: KvmLayout,
    private readonly log: Logger,
    /** Whether a sync has the volume open right now (its sink), so it cannot be frozen. */
    private readonly isWriting: (volumePath: string) => boolean = () => false,
  ) {}

  async create(host: Host, volumes: Volume[], name: string, signal: AbortSignal): Promise<{ ref: string; sizeBytes: number }> {
    const dir = this.layout.snapshot(host.id, name);
    const partial = `${dir}.partial`;
    const layers = this.layout.layersDir(host.id);
    const stamp = `${Date.now().toString(36)}-${name}`;
    const perDisk: string[] = [];
    /** Raw bases a first freeze hands to the snapshot: its size counts them. */
    const bases: string[] = [];
    for (const v of [...volumes].sort((a, b) => a.diskIndex - b.diskIndex)) {
      const volume = this.layout.assertVolumeRef(v.ref);
      if (this.isWriting(volume)) throw new RehostError('CONFLICT', `volume ${v.name} is being written by a sync; snapshot after it`, { hostId: host.id });
      const layer = posix.join(layers, `${stamp}-disk-${v.diskIndex}`);
      const link = posix.join(partial, `disk-${v.diskIndex}`);
      if (volumeFormat(volume) === 'qcow2') {
        const base = this.layout.base(host.id, v.diskIndex);
        if ((await this.backingOf(volume, signal)) === base) bases.push(base);
        perDisk.push(freezeScript(volume, `${layer}.qcow2`, `${link}.qcow2`));
      } else {
        perDisk.push(layerScript(volume, posix.join(layers, `tip-${v.diskIndex}`), layer, link));
      }
    }
    // tip-<n>.new become the tips only once the whole snapshot exists.
    const out = await this.ssh.exec(
      `[ ! -e ${sh(dir)} ] || { echo "snapshot ${name} exists" >&2; exit 3; }; rm -rf ${sh(partial)} && mkdir -p ${sh(partial)} ${sh(layers)} && { ${perDisk.join(' && ')}; } || { rm -rf ${sh(partial)}; exit 1; }; ` +
        `sync -f ${sh(layers)} && mv ${sh(partial)} ${sh(dir)} && for t in ${sh(layers)}/tip-*.new; do [ -e "$t" ] && mv "$t" "\${t%.new}"; done; du -sLB1 ${sh(dir)} ${bases.map(sh).join(' ')} | cut -f1`,
      signal,
    );
    await this.collect(host.id, signal).catch((err: unknown) => this.log.warn({ host: host.id, err: String(err) }, 'snapshot layers were not tidied; the next removal retries'));
    const sizeBytes = out.trim().split('\n').map(Number).filter((n) => Number.isFinite(n)).reduce((a, b) => a + b, 0);
    return { ref: dir, sizeBytes };
  }

  private async backingOf(image: string, signal: AbortSignal): Promise<string | null> {
    return backingOf(await this.ssh.exec(`qemu-img info -U --output=json -- ${sh(image)} | tr -d '\\n'`, signal));
  }

  async remove(ref: string, signal: AbortSignal): Promise<void> {
    const dir = this.layout.assertSnapshotRef(ref);
    await this.ssh.exec(`rm -rf -- ${sh(dir)}`, signal);
    await this.collect(posix.relative(this.layout.root, dir).split('/')[0]!, signal);
  }

  /** The disks of a snapshot folder, links resolved. */
  async disks(snapshotDir: string, signal: AbortSignal): Promise<SnapshotDisk[]> {
    const out = await this.ssh.exec(`for f in ${sh(snapshotDir)}/disk-*; do [ -e "$f" ] && printf '%s\\t%s\\n' "$(basename "$f")" "$(readlink -f "$f")"; done; true`, signal);
    const disks: SnapshotDisk[] = [];
    for (const line of out.split('\n')) {
      const [base = '', path = ''] = line.split('\t');
      const m = /^disk-(\d+)\.(raw|qcow2)$/.exec(base);
      if (m && path) disks.push({ index: Number(m[1]), path, format: path.endsWith('.qcow2') ? 'qcow2' : (m[2] as 'raw' | 'qcow2') });
    }
    return disks.sort((a, b) => a.index - b.index);
  }

  /**
   * Deletes layers nothing needs and folds the ones only a later delta needs, one fold at a time
   * (each changes the chain the next plan reads). Folds that fail wait for a later pass.
   */
  async collect(hostId: string, signal: AbortSignal): Promise<void> {
    const failed = new Set<string>();
    for (let pass = 0; pass < 32; pass++) {
      const { layers, pinned } = await this.inventory(hostId, signal);
      const plan = planLayers(layers, pinned);
      if (plan.remove.length > 0) await this.ssh.exec(`rm -f -- ${plan.remove.map(sh).join(' ')}`, signal);
      const f = plan.fold.find((x) => !failed.has(x.layer));
      if (!f) return;
      try {
        // The child's clusters go into the layer, which then reads like the child and takes its
        // name. A running machine or sync whose chain passes here holds a lock: a later pass folds it.
        await this.ssh.exec(`qemu-img commit -q -f qcow2 -d -- ${sh(f.child)} && mv -f -- ${sh(f.layer)} ${sh(f.child)}`, signal);
      } catch (err) {
        failed.add(f.layer);
        this.log.info({ host: hostId, layer: f.layer, err: String(err) }, 'snapshot layer kept for now: its chain is in use');
      }
    }
  }

  /** Every layer with its backing file, and what is in use: snapshot links, tips, boot overlays' backings. */
  private async inventory(hostId: string, signal: AbortSignal): Promise<{ layers: LayerInfo[]; pinned: Set<string> }> {
    const hostDir = sh(this.layout.hostDir(hostId));
    const layersDir = sh(this.layout.layersDir(hostId));
    const info = `case "$f" in *.qcow2) qemu-img info -U --output=json "$f" | tr -d '\\n';; esac; echo`;
    const out = await this.ssh.exec(
      `[ -d ${layersDir} ] || exit 0; cd ${layersDir} || exit 1; ` +
        `for f in ${hostDir}/snapshots/*/disk-*; do case "$f" in *.partial/*) continue;; esac; [ -L "$f" ] && printf 'pin\\t%s\\n' "$(readlink -f "$f")"; done; ` +
        `for t in tip-*[0-9]; do [ -f "$t" ] && printf 'pin\\t%s\\n' "$(cat "$t")"; done; ` +
        `for f in ${hostDir}/boot/*/disk-*.qcow2 ${hostDir}/disk-*.qcow2 ${hostDir}/disk-*.qcow2.next; do [ -f "$f" ] && printf 'overlay\\t' && ${info}; done; ` +
        `for f in ${layersDir}/*.raw ${layersDir}/*.qcow2; do [ -f "$f" ] && printf 'layer\\t%s\\t' "$f" && ${info}; done; true`,
      signal,
    );
    const layers: LayerInfo[] = [];
    const pinned = new Set<string>();
    for (const line of out.split('\n')) {
      const [kind, a = '', b = ''] = line.split('\t');
      if (kind === 'pin' && a) pinned.add(a);
      else if (kind === 'overlay') {
        const backing = backingOf(a);
        if (backing) pinned.add(backing);
      } else if (kind === 'layer') layers.push({ path: a, backing: backingOf(b) });
    }
    return { layers: layers.sort((x, y) => posix.basename(x.path).localeCompare(posix.basename(y.path))), pinned };
  }
}

function backingOf(json: string): string | null {
  if (json.trim() === '') return null;
  try {
    const j = JSON.parse(json) as { 'full-backing-filename'?: string; 'backing-filename'?: string };
    return j['full-backing-filename'] ?? j['backing-filename'] ?? null;
  } catch {
    return null;
  }
}

/**
 * Shell for one disk: the new layer `<base>.raw|.qcow2` from `volume`, on top of the layer named
 * in `tip` when there is one; the link `<link>.<fmt>`; the next tip in `<tip>.new`.
 */
export function layerScript(volume: string, tip: string, base: string, link: string): string {
  const [v, t, raw, q] = [sh(volume), sh(tip), sh(`${base}.raw`), sh(`${base}.qcow2`)];
  return (
    `{ p=$(cat ${t} 2>/dev/null || true); [ -n "$p" ] && [ -f "$p" ] || p=; ` +
    `if cp --reflink=always -- ${v} ${raw} 2>/dev/null; then l=${raw}; ` +
    `elif rm -f ${raw} && [ -n "$p" ] && command -v qemu-img >/dev/null; then ` +
    `case "$p" in *.qcow2) pf=qcow2;; *) pf=raw;; esac; ` +
    `qemu-img create -q -f qcow2 -F raw -b ${v} ${q} && qemu-img rebase -q -f qcow2 -F "$pf" -b "$p" ${q} && l=${q}; ` +
    `else cp --sparse=always -- ${v} ${raw} && l=${raw}; fi && ` +
    `ln -s "$l" ${sh(link)}."\${l##*.}" && echo "$l" > ${sh(`${tip}.new`)}; }`
  );
}

/**
 * Shell for one qcow2 volume: freezes the active layer `volume` as `layer` and puts a new empty
 * active layer on top of it, then links the snapshot's `link` to the frozen one. The new layer is
 * made first (as `<volume>.next`), so an interruption between the two renames leaves files the
 * next prepare puts right (volumes.ts). Refused while qemu-nbd serves the volume (a sync).
 */
export function freezeScript(volume: string, layer: string, link: string): string {
  const [v, l, next, pid] = [sh(volume), sh(layer), sh(`${volume}.next`), sh(nbdPidFile(volume))];
  return (
    `{ ! { [ -f ${pid} ] && kill -0 "$(cat ${pid})" 2>/dev/null; } || { echo "volume ${posix.basename(volume)} is being written by a sync" >&2; false; }; } && ` +
    `{ s=$(qemu-img info -U --output=json -- ${v} | tr -d '\\n' | sed -n 's/.*"virtual-size": *\\([0-9]*\\).*/\\1/p'); [ -n "$s" ]; } && ` +
    `rm -f ${next} && qemu-img create -q -f qcow2 -u -F qcow2 -b ${l} ${next} "$s" && mv -- ${v} ${l} && mv -- ${next} ${v} && ln -s -- ${l} ${sh(link)}`
  );
}
