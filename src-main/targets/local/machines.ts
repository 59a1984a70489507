/**
 * The `machines` capability of the Local target: boots a snapshot under QEMU on this machine.
 *
 * - test boot (`volume_snapshot`): a throwaway qcow2 overlay per disk over the snapshot's layer (or
 *   raw clone), in `<host>/boot/<instance>/`; the snapshot itself is never written.
 * - cutover (`volume_backup`): an independent sparse raw copy per disk (`qemu-img convert` of the
 *   snapshot's layer chain, or a reflink copy) in `<root>/migrated/<host>-<stamp>/`,
 *   independent of every snapshot and volume, and outside the host folder so cleanup keeps it.
 *
 * A new test boot stops the host's previous test machine; a cutover stops every machine of the
 * host; a later test boot and cleanup leave a cutover machine (the migrated server) running. Each
 * machine has a record `<host>/machines/<instance>.json` (pid, console path), so a restarted
 * engine can still stop it; a cutover's console and QEMU log live beside its disks in `migrated/`.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { BootRequest, BootResult, TargetMachines } from '../../core/drivers.js';
import type { Host, Volume } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import { buildSeed, checkGuestOptions, hashPassword, macFor, nocloudFiles, publicKeys, userNet, wantsCloudInit } from './cloud-init.js';
import { readTail } from './console.js';
import type { Layout } from './layout.js';
import { presets } from './presets.js';
import { checkQemu, createOverlay, qemuBinary } from './qemu.js';
import { killVm, runVerified, type MachineRecord } from './vm-run.js';
import { flattenToRaw } from './qcow2.js';
import { copySparse, snapshotDisk } from './snapshots.js';
import { fixupBootDisk, type GuestSettings } from '../../fixup/index.js';

const GiB = 1024 ** 3;
const DEFAULT_TIMEOUT_S = 600;
/** `GET /hosts/:id/console` answers at most this much: the last 256 KiB. */
export const CONSOLE_TAIL_BYTES = 256 * 1024;
/** A login prompt, or the marker the migration fixtures print. */
const DEFAULT_MARKER = String.raw`MIGRATION-BOOT-OK|\blogin:\s*$`;
const FAIL_PATTERN = /MIGRATION-BOOT-FAIL|Kernel panic|No bootable device|Boot failed|Gave up waiting for root/;

interface Flavor {
  id: string;
  vcpus: number;
  ram_mib: number;
  disk_gib: number;
}

/** Local machines for the target rooted at `layout.root`. */
export class LocalMachines implements TargetMachines {
  constructor(
    private readonly layout: Layout,
    private readonly log: Logger,
  ) {}

  async check(host: Host, volumes: Volume[], options: Record<string, unknown>): Promise<void> {
    this.flavor(host, volumes, options);
    this.markerPattern(options);
    this.timeoutMs(options);
    checkGuestOptions(options);
    await publicKeys(options, this.layout.keypairDir()); // an unknown keypair_id is a 404 now, not a failed job
  }

  async boot(host: Host, volumes: Volume[], request: BootRequest): Promise<BootResult> {
    const { options, signal } = request;
    const flavor = this.flavor(host, volumes, options);
    const marker = this.markerPattern(options);
    const binary = qemuBinary();
    const version = await checkQemu(binary, signal);
    const snapshotRef = this.layout.assertSnapshotRef(request.snapshot.ref ?? '');
    const kind = request.backupType === 'volume_backup' ? 'cutover' : 'test';
    await this.stopAll(host, kind === 'test' ? 'test' : 'all');
    const instanceId = randomUUID();
    const dir = kind === 'test' ? this.layout.bootDir(host.id, instanceId) : this.layout.migratedDir(host.id, stamp(Date.now()));
    const disks = await this.prepareDisks(kind, snapshotRef, dir, volumes, signal).catch((err: unknown) => {
      throw folderError(this.layout.root, err);
    });
    const dropCopy = async (err: unknown): Promise<never> => {
      await rm(dir, { recursive: true, force: true });
      throw err;
    };
    const guest = await this.guestSeed(host, instanceId, dir, options, signal).catch(dropCopy);
    // OS fix-up of this copy before its first boot (skips disks without a Linux root): the NIC's
    // MAC pins its old name, and a guest without cloud-init gets the seed's settings written in.
    const fixup = disks[0] ? await fixupBootDisk(disks[0], options, signal, this.log, { nicMacs: [guest.mac], settings: guest.settings }).catch(dropCopy) : null;
    const machines = this.layout.machinesDir(host.id);
    await mkdir(machines, { recursive: true });
    // A cutover machine's console and QEMU log go beside its disks: cleanup removes the host
    // folder, and the migrated server must keep them (and run without anything in it).
    const cutover = kind === 'cutover';
    const logDir = cutover ? dir : machines;
    const consolePath = join(logDir, cutover ? 'console.log' : `${instanceId}.console.log`);
    const agentSocket = join(tmpdir(), `rehost-qga-${instanceId}.sock`);
    const current: { record: MachineRecord | null } = { record: null };
    try {
      const run = await runVerified({
        binary,
        spec: { instanceId, vcpus: flavor.vcpus, ramMiB: flavor.ram_mib, disks, consolePath, mac: guest.mac, agentSocket, ...guest.vm },
        record: { instanceId, kind, snapshotRef, dir, consolePath, agentSocket },
        recordPath: join(machines, `${instanceId}.json`),
        qemuLog: join(logDir, cutover ? 'qemu.log' : `${instanceId}.qemu.log`),
        watch: { marker, fail: FAIL_PATTERN, timeoutMs: this.timeoutMs(options), signal, ...(request.onConsole ? { onText: request.onConsole } : {}) },
        log: this.log.child({ host: host.id }),
        current,
      });
      const how = `${cutover ? 'cutover' : 'test boot'} under ${version} (${run.accel}, ${flavor.id}) in ${((Date.now() - run.startedAt) / 1000).toFixed(1)} s`;
      const kvm = run.fellBack ? ` (KVM failed here, so TCG: ${run.fellBack})` : '';
      return { instanceId, detail: `${fixup ? `${fixup.summary}; ` : ''}${how}${kvm}: ${run.line}${cutover ? `; disks kept in ${dir}` : ''}${guest.note}` };
    } catch (err) {
      if (current.record) await this.stop(host.id, current.record);
      // A machine that never started leaves no record: its overlays (or copy) go here.
      if (cutover || !current.record) await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * The newest console of the host's machines: test boots' in its machines folder (kept after a
   * failed boot, whose record is gone), a cutover's beside its disks (found through its record).
   */
  async console(host: Host): Promise<string | null> {
    const dir = this.layout.machinesDir(host.id);
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.console.log'));
    const paths = new Set([...names.map((n) => join(dir, n)), ...(await this.records(host.id)).map((r) => r.consolePath)]);
    const dated = await Promise.all([...paths].map(async (path) => ({ path, at: (await stat(path).catch(() => null))?.mtimeMs ?? -1 })));
    const latest = dated.filter((d) => d.at >= 0).sort((a, b) => b.at - a.at)[0];
    return latest ? readTail(latest.path, CONSOLE_TAIL_BYTES) : null;
  }

  /** Stops the host's machines: all of them (a new cutover) or only test boots (a test boot, cleanup). */
  async stopAll(host: Host, which: 'all' | 'test' = 'all'): Promise<void> {
    for (const record of await this.records(host.id)) {
      if (which === 'all' || record.kind === 'test') await this.stop(host.id, record);
    }
  }

  private async stop(hostId: string, record: MachineRecord): Promise<void> {
    await killVm(record);
    if (record.agentSocket) await rm(record.agentSocket, { force: true });
    await rm(join(this.layout.machinesDir(hostId), `${record.instanceId}.json`), { force: true });
    if (record.kind === 'test') await rm(record.dir, { recursive: true, force: true });
    this.log.info({ host: hostId, instanceId: record.instanceId }, 'machine stopped');
  }

  private async records(hostId: string): Promise<MachineRecord[]> {
    const dir = this.layout.machinesDir(hostId);
    const names = await readdir(dir).catch(() => [] as string[]);
    const out: MachineRecord[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      try {
        out.push(JSON.parse(await readFile(join(dir, name), 'utf8')) as MachineRecord);
      } catch {
        this.log.warn({ host: hostId, file: name }, 'unreadable machine record skipped');
      }
    }
    return out;
  }

  private async prepareDisks(kind: 'test' | 'cutover', snapshotDir: string, dir: string, volumes: Volume[], signal: AbortSignal) {
    await mkdir(dir, { recursive: true });
    const ordered = [...volumes].sort((a, b) => a.diskIndex - b.diskIndex);
    const disks: { path: string; format: 'raw' | 'qcow2' }[] = [];
    for (const v of ordered) {
      const backing = await snapshotDisk(snapshotDir, v.diskIndex);
      if (kind === 'test') {
        const overlay = join(dir, `disk-${v.diskIndex}.qcow2`);
        await createOverlay(backing.path, backing.format, overlay, signal);
        disks.push({ path: overlay, format: 'qcow2' });
      } else {
        // Independent of every layer and volume: no later snapshot removal or cleanup can break it.
        const copy = join(dir, `disk-${v.diskIndex}.raw`);
        if (backing.format === 'raw') await copySparse(backing.path, copy, signal);
        else await flattenToRaw(backing.path, copy, signal);
        disks.push({ path: copy, format: 'raw' });
      }
    }
    return disks;
  }

  /**
   * A cloud-init NoCloud seed when the options ask for a fixed IP, a password or keys (see
   * cloud-init.ts), and the NIC settings that go with it: a fixed MAC always (network-config
   * matches on it), the NAT network moved to the fixed IP's /24.
   */
  private async guestSeed(host: Host, instanceId: string, dir: string, options: Record<string, unknown>, signal: AbortSignal) {
    const mac = macFor(instanceId);
    if (!wantsCloudInit(options)) return { mac, vm: {}, note: '', settings: {} };
    const fixedIp = typeof options.fixed_ip === 'string' && options.fixed_ip !== '' ? options.fixed_ip : null;
    const passwordHash = typeof options.admin_pass === 'string' && options.admin_pass !== '' ? await hashPassword(options.admin_pass, signal) : null;
    const keys = await publicKeys(options, this.layout.keypairDir());
    const hostname = host.name.replace(/[^A-Za-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 63) || 'rehost';
    const seedPath = join(dir, 'cidata.img');
    await buildSeed(seedPath, nocloudFiles({ instanceId, hostname, mac, fixedIp, passwordHash, publicKeys: keys }), signal);
    const what = [fixedIp ? `fixed_ip ${fixedIp}` : '', passwordHash ? 'admin_pass' : '', keys.length ? `${keys.length} public key(s)` : ''].filter(Boolean).join(', ');
    const net = fixedIp ? userNet(fixedIp) : null;
    const settings: GuestSettings = {
      ...(fixedIp && net ? { fixedIp: { address: fixedIp, prefix: 24, gateway: net.gateway, dns: net.dns } } : {}),
      ...(passwordHash ? { passwordHash } : {}),
      ...(keys.length > 0 ? { publicKeys: keys } : {}),
    };
    return { mac, vm: { seedPath, ...(net ? { net } : {}) }, note: `; cloud-init NoCloud seed attached (${what})`, settings };
  }

  /** The flavor asked for (default: the smallest that fits the disks); refuses one too small. */
  private flavor(host: Host, volumes: Volume[], options: Record<string, unknown>): Flavor {
    const flavors = presets('flavors') as unknown as Flavor[];
    const diskBytes = volumes.reduce((n, v) => n + v.sizeBytes, 0);
    const wanted = typeof options.flavor_id === 'string' && options.flavor_id !== '' ? options.flavor_id : null;
    if (wanted === null) {
      const fits = flavors.filter((f) => f.disk_gib * GiB >= diskBytes).sort((a, b) => a.ram_mib - b.ram_mib);
      if (!fits[0]) throw new RehostError('VALIDATION', `no Local flavor holds ${(diskBytes / GiB).toFixed(1)} GiB of disks`, { field: 'boot.flavor_id', hostId: host.id });
      return fits[0];
    }
    const flavor = flavors.find((f) => f.id === wanted || (f as unknown as { name: string }).name === wanted);
    if (!flavor) throw new RehostError('VALIDATION', `flavor ${wanted} is not a Local flavor (${flavors.map((f) => f.id).join(', ')})`, { field: 'boot.flavor_id', hostId: host.id });
    if (flavor.disk_gib * GiB < diskBytes) {
      throw new RehostError('VALIDATION', `flavor ${flavor.id} (${flavor.disk_gib} GiB) is too small for the host's ${(diskBytes / GiB).toFixed(2)} GiB of disks`, { field: 'boot.flavor_id', hostId: host.id });
    }
    return flavor;
  }

  private markerPattern(options: Record<string, unknown>): RegExp {
    const source = typeof options.boot_marker === 'string' && options.boot_marker !== '' ? options.boot_marker : (process.env.REHOST_BOOT_MARKER ?? DEFAULT_MARKER);
    try {
      return new RegExp(source, 'm');
    } catch (err) {
      throw new RehostError('VALIDATION', `boot_marker ${JSON.stringify(source)} is not a valid regular expression`, { field: 'boot.boot_marker' }, { cause: err });
    }
  }

  private timeoutMs(options: Record<string, unknown>): number {
    const s = options.boot_timeout_seconds;
    return (typeof s === 'number' && s > 0 ? s : DEFAULT_TIMEOUT_S) * 1000;
  }
}

/** A file-system refusal while making the machine's disks, said in terms of the target folder. */
function folderError(root: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (!code || !['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'ENOTDIR', 'EDQUOT'].includes(code)) return err;
  const why = code === 'ENOSPC' || code === 'EDQUOT' ? 'it is full' : 'it is not writable';
  return new RehostError('CONFLICT', `config.path: cannot create the machine's disks in the target folder ${root}: ${why} (${(err as Error).message})`, { field: 'config.path' }, { cause: err });
}

function stamp(at: number): string {
  return new Date(at).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}
