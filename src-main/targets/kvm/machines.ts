/**
 * Machines on the KVM host: plain QEMU started over SSH with `-daemonize -pidfile` (KVM when it
 * works there, TCG otherwise), the serial console in a file on the host that this side polls.
 * Test boots run on a qcow2 overlay over the snapshot; a cutover runs on a full copy in
 * `<path>/migrated/`, which cleanup keeps. A test boot stops the previous test machine; a cutover
 * stops every machine of the host; pid files are `<instance>.<test|cutover>.pid`.
 */
import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { BootRequest, BootResult, TargetMachines } from '../../core/drivers.js';
import type { Host, Volume } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import { KVM_FLAVORS, type KvmLayout } from './layout.js';
import { sh, type KvmSsh } from './ssh.js';

const GiB = 1024 ** 3;
const DEFAULT_MARKER = String.raw`MIGRATION-BOOT-OK|\blogin:\s*$`;
const FAIL = /MIGRATION-BOOT-FAIL|Kernel panic|No bootable device|Boot failed|Gave up waiting for root/;
const QEMU = 'qemu-system-x86_64';
const KVM_PROBE = `timeout 1.5 ${QEMU} -accel kvm -machine pc -cpu host -display none -nodefaults -m 16 -S -monitor none >/dev/null 2>&1; [ $? -eq 124 ] && echo kvm || echo tcg`;

type Flavor = (typeof KVM_FLAVORS)[number];

export class KvmMachines implements TargetMachines {
  constructor(
    private readonly ssh: KvmSsh,
    private readonly layout: KvmLayout,
    private readonly log: Logger,
  ) {}

  async check(host: Host, volumes: Volume[], options: Record<string, unknown>): Promise<void> {
    flavorFor(host, volumes, options);
    marker(options);
  }

  async boot(host: Host, volumes: Volume[], request: BootRequest): Promise<BootResult> {
    const { options, signal } = request;
    const flavor = flavorFor(host, volumes, options);
    const snapshotDir = this.layout.assertSnapshotRef(request.snapshot.ref ?? '');
    await this.ssh.exec(`command -v ${QEMU} >/dev/null && command -v qemu-img >/dev/null`, signal).catch((err: unknown) => {
      throw new RehostError('UNPROCESSABLE', `QEMU is missing on the KVM host ${this.ssh.where}: install qemu-system-x86 and qemu-utils there`, { field: 'boot' }, { cause: err });
    });
    const cutover = request.backupType === 'volume_backup';
    await this.stopAll(host, signal, cutover ? 'all' : 'test');
    const id = randomUUID();
    const machines = posix.join(this.layout.hostDir(host.id), 'machines');
    const dir = cutover ? posix.join(this.layout.root, 'migrated', `${host.id}-${stamp()}`) : posix.join(this.layout.hostDir(host.id), 'boot', id);
    const disks = [...volumes].sort((a, b) => a.diskIndex - b.diskIndex).map((v) => ({ src: posix.join(snapshotDir, `disk-${v.diskIndex}.raw`), dst: posix.join(dir, `disk-${v.diskIndex}.${cutover ? 'raw' : 'qcow2'}`) }));
    const prepare = disks.map((d) => (cutover ? `cp --reflink=auto --sparse=always -- ${sh(d.src)} ${sh(d.dst)}` : `qemu-img create -q -f qcow2 -F raw -b ${sh(d.src)} ${sh(d.dst)}`));
    await this.ssh.exec(`mkdir -p ${sh(dir)} ${sh(machines)} && ${prepare.join(' && ')}`, signal);
    const accel = (await this.ssh.exec(KVM_PROBE, signal)).trim() === 'kvm' ? 'kvm' : 'tcg';
    const consolePath = posix.join(machines, `${id}.console.log`);
    const pidPath = posix.join(machines, `${id}.${cutover ? 'cutover' : 'test'}.pid`);
    const drives = disks.map((d) => `-drive ${sh(`file=${d.dst},format=${cutover ? 'raw' : 'qcow2'},if=virtio,cache=writeback`)}`).join(' ');
    const started = Date.now();
    await this.ssh.exec(
      `: > ${sh(consolePath)} && ${QEMU} -name rehost-${id} -machine pc -accel ${accel} -cpu ${accel === 'kvm' ? 'host' : 'max'} -m ${flavor.ram_mib} -smp ${flavor.vcpus} -display none -nodefaults -monitor none -serial ${sh(`file:${consolePath}`)} -nic user,model=virtio-net-pci ${drives} -daemonize -pidfile ${sh(pidPath)}`,
      signal,
    );
    this.log.info({ host: host.id, instanceId: id, accel, cutover }, 'machine started on the KVM host');
    try {
      const line = await this.watch(consolePath, pidPath, marker(options), timeoutMs(options), request);
      return { instanceId: id, detail: `${cutover ? 'cutover' : 'test boot'} on ${this.ssh.where} (${accel}, ${flavor.id}) in ${((Date.now() - started) / 1000).toFixed(1)} s: ${line}${cutover ? `; disks kept in ${dir}` : ''}` };
    } catch (err) {
      await this.stopAll(host, AbortSignal.timeout(30_000), { id }).catch(() => undefined);
      if (cutover) await this.ssh.exec(`rm -rf -- ${sh(dir)}`).catch(() => undefined);
      throw err;
    }
  }

  async console(host: Host): Promise<string | null> {
    const machines = sh(posix.join(this.layout.hostDir(host.id), 'machines'));
    const out = await this.ssh.exec(`f=$(ls -t ${machines}/*.console.log 2>/dev/null | head -1); [ -z "$f" ] || { echo found; tail -c 262144 "$f"; }`);
    return out.startsWith('found\n') ? out.slice(6) : null;
  }

  /** Stops the host's machines: all, only test boots, or one (only a pid whose command line names the instance). */
  async stopAll(host: Host, signal?: AbortSignal, which: 'all' | 'test' | { id: string } = 'all'): Promise<void> {
    const machines = sh(posix.join(this.layout.hostDir(host.id), 'machines'));
    const glob = which === 'all' ? '*.pid' : which === 'test' ? '*.test.pid' : `${which.id}.*.pid`;
    await this.ssh.exec(
      `for p in ${machines}/${glob}; do [ -f "$p" ] || continue; id=$(basename "$p" | cut -d. -f1); pid=$(cat "$p"); ` +
        `if tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -q "rehost-$id"; then kill $pid; for i in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done; kill -9 $pid 2>/dev/null; fi; ` +
        `rm -f "$p"; rm -rf ${sh(posix.join(this.layout.hostDir(host.id), 'boot'))}/"$id"; done`,
      signal,
    );
  }

  private async watch(consolePath: string, pidPath: string, pattern: RegExp, timeout: number, request: BootRequest): Promise<string> {
    const deadline = Date.now() + timeout;
    let seen = '';
    for (;;) {
      const out = await this.ssh.exec(`kill -0 $(cat ${sh(pidPath)}) 2>/dev/null && echo up || echo down; tail -c +${Buffer.byteLength(seen) + 1} ${sh(consolePath)} | head -c 1048576`);
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
      if (!alive) throw new RehostError('DRIVER', `QEMU exited before the machine finished booting${tail}`);
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
