/**
 * OS fix-up of a migrated Linux guest before its first boot on virtio hardware (Local and
 * other targets call it on each copy: a test-boot overlay or a cutover copy). It works on the
 * disk image on this machine, driver-independent: virtio drivers in the initramfs, legacy disk
 * names in fstab and boot loader configs, interface names kept for the network config, VMware
 * tools removed. libguestfs' virt-v2v-in-place does the conversion where its appliance starts
 * (v2v.ts probes that once); everywhere else, and for what it does not do (NIC names pinned to the
 * new MACs, boot options without cloud-init), the steps run with the guest's own tools in a chroot
 * over loop devices at partition offsets (no device-mapper needed). The report names the path.
 *
 * Disks without a Linux root (Windows, the busybox fixture, blank data disks) are skipped,
 * never failed. A failure releases every mount, loop device and FUSE export first.
 */
import { open } from 'node:fs/promises';
import { RehostError } from '../../src-shared/errors.js';
import type { Logger } from '../core/ports.js';
import { findRoot, mountGuest, probeDisk } from './guest.js';
import { networkStep, vmwareToolsStep } from './guest-services.js';
import { guestSettingsStep, type GuestSettings } from './guest-settings.js';
import { Attachments } from './mounts.js';
import { bootloaderStep, fstabStep, initramfsStep, installedKernels, type FixupStep, type StepContext } from './steps.js';
import { chooseConversionPath, probeVirtV2vOnce, runVirtV2vInPlace, type ConversionPath } from './v2v.js';

export type { FixupStep } from './steps.js';
export type { GuestSettings } from './guest-settings.js';

export interface FixupOptions {
  signal: AbortSignal;
  log: Logger;
  /** Guessed from the file's first bytes when absent. */
  format?: 'raw' | 'qcow2';
  /** MACs of the new NICs in attachment order, when the target sets them. */
  nicMacs?: readonly string[];
  /** fixed_ip / admin_pass / keys, written in when the guest has no cloud-init. */
  settings?: GuestSettings;
}

export interface FixupReport {
  status: 'done' | 'skipped';
  /** Which implementation ran: virt-v2v-in-place (then our chroot checks), our chroot steps, or nothing (no Linux root found). */
  path: 'virt-v2v-in-place' | 'chroot' | 'none';
  /** Why that path (the virt-v2v probe's finding); '' when skipped. */
  pathReason: string;
  /** `PRETTY_NAME` of the guest, when found. */
  os?: string;
  steps: FixupStep[];
  /** One line for a job step's detail. */
  summary: string;
  durationMs: number;
}

type Step = (ctx: StepContext) => Promise<FixupStep>;
const STEPS: [string, Step][] = [
  ['Virtio drivers in initramfs', initramfsStep],
  ['/etc/fstab device names', fstabStep],
  ['Boot loader config', bootloaderStep],
  ['Network interface names', networkStep],
  ['VMware tools removed', vmwareToolsStep],
  ['Boot options without cloud-init', (ctx) => guestSettingsStep(ctx, ctx.settings)],
];

/**
 * Fixes up the Linux guest on `imagePath` in place. Resolves with the steps (also when skipped);
 * rejects with a RehostError naming the failed step, after releasing everything it attached.
 * With a Linux root found, virt-v2v-in-place converts the guest where it works here (v2v.ts),
 * then the chroot steps run after it (they find its work done, and pin NIC names and write the
 * boot options, which it does not); otherwise the chroot steps do it all. The report says which.
 */
export async function fixupLinuxGuest(imagePath: string, opts: FixupOptions): Promise<FixupReport> {
  const started = Date.now();
  const log = opts.log.child({ area: 'fixup', image: imagePath });
  const unsupported = process.platform !== 'linux' ? 'runs on Linux only' : process.getuid?.() !== 0 ? 'needs root (loop devices, mount, chroot)' : null;
  if (unsupported) return skipped(`OS fix-up skipped: it ${unsupported}`, started);
  const format = opts.format ?? (await sniffFormat(imagePath));
  const o: FixupOptions = { ...opts, log };
  const steps: FixupStep[] = [];
  let path: ConversionPath = { path: 'chroot', why: '' };
  // The conversion path is chosen only once a Linux root is found: the probe may launch an appliance.
  const first = await onGuest(imagePath, format, o, steps, started, async (att, guest, onError) => {
    path = await chooseConversionPath(process.env.REHOST_FIXUP_PATH, probeVirtV2vOnce);
    log.info({ path: path.path }, path.why);
    return path.path === 'chroot' ? fixFound(att, guest, o, format, steps, path, onError) : null;
  });
  if (first !== null) return { ...first, durationMs: Date.now() - started };
  // virt-v2v-in-place needs the disk to itself: the first look's attachments are released by now.
  await v2vStep(imagePath, format, o, steps, path);
  const after = await onGuest(imagePath, format, o, steps, started, (att, guest, onError) => fixFound(att, guest, o, format, steps, path, onError));
  return { ...(after ?? skipped('OS fix-up skipped after virt-v2v-in-place', started, steps)), durationMs: Date.now() - started };
}

type Inspected = Awaited<ReturnType<typeof inspect>>;
type FoundGuest = Inspected & { found: NonNullable<Inspected['found']> };
type GuestBody = (att: Attachments, guest: FoundGuest, onError: (err: unknown) => void) => Promise<FixupReport | null>;

/**
 * Opens the disk, looks for the Linux root and hands it to `body`; releases every attachment
 * after. A disk without a Linux root (or one that cannot be opened) resolves with a skipped
 * report; a failed step or error rejects naming it; `body`'s null passes through.
 */
async function onGuest(imagePath: string, format: 'raw' | 'qcow2', opts: FixupOptions, steps: FixupStep[], started: number, body: GuestBody): Promise<FixupReport | null> {
  const att = new Attachments(opts.log, opts.signal);
  let failure: unknown = null;
  let report: FixupReport | null = null;
  try {
    const inspected = await inspect(att, imagePath, format).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
    if (inspected instanceof Error) {
      // Before a Linux root is found nothing says the guest needs us: a host that cannot open the
      // disk (no loop devices, no FUSE) or a disk we cannot read is skipped, not a failed boot.
      if (opts.signal.aborted) throw opts.signal.reason;
      opts.log.warn({ err: inspected.message }, 'fix-up could not inspect the disk');
      report = skipped(`OS fix-up skipped: could not inspect the disk (${inspected.message})`, started, [{ name: 'Find Linux root', status: 'skipped', detail: inspected.message }]);
    } else if (!inspected.found) {
      const { probe, layout } = inspected;
      const why = probe.lvm ? 'the root may be on LVM, which needs device-mapper (not available here)' : 'no partition holds /etc/fstab and os-release';
      report = skipped(`OS fix-up skipped: no Linux root found (${layout}; ${why})`, started, [{ name: 'Find Linux root', status: 'skipped', detail: `${layout}; ${why}` }]);
    } else {
      report = await body(att, inspected as FoundGuest, (err) => (failure ??= err));
    }
  } catch (err) {
    failure = err;
  } finally {
    try {
      await att.release();
    } catch (err) {
      failure ??= err;
    }
  }
  const failed = steps.find((s) => s.status === 'failed');
  if (failure !== null || failed) {
    const what = failed ? `step "${failed.name}": ${failed.detail}` : failure instanceof Error ? failure.message : String(failure);
    throw new RehostError('UNPROCESSABLE', `OS fix-up failed at ${what}`, { step: 'OS fix-up' }, { cause: failure });
  }
  return report;
}

/** Runs virt-v2v-in-place on the released disk; a failure fails the fix-up (the image may be half-converted). */
async function v2vStep(imagePath: string, format: 'raw' | 'qcow2', opts: FixupOptions, steps: FixupStep[], path: ConversionPath): Promise<void> {
  const t = Date.now();
  try {
    await runVirtV2vInPlace(imagePath, format, opts.signal);
    steps.push({ name: 'virt-v2v-in-place', status: 'done', detail: `${path.why}; converted in ${((Date.now() - t) / 1000).toFixed(1)} s` });
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    steps.push({ name: 'virt-v2v-in-place', status: 'failed', detail });
    throw new RehostError('UNPROCESSABLE', `OS fix-up failed at step "virt-v2v-in-place": ${detail}`, { step: 'OS fix-up' }, { cause: err });
  }
}

/** Mounts the found guest and runs every step; a failed step is recorded and the next ones still run. */
async function fixFound(
  att: Attachments,
  inspected: FoundGuest,
  opts: FixupOptions,
  format: string,
  steps: FixupStep[],
  path: ConversionPath,
  onError: (err: unknown) => void,
): Promise<FixupReport> {
  const { raw, probe, found, layout } = inspected;
  const guest = await mountGuest(att, raw, probe, found);
  const os = guest.osRelease.PRETTY_NAME ?? guest.osRelease.ID ?? 'Linux';
  const kernels = await installedKernels(guest.root);
  const where = `partition ${found.part.number} (${found.part.fsType}${found.part.uuid ? ` UUID=${found.part.uuid}` : ''}${found.subvol ? ` subvol=${found.subvol}` : ''}) of ${layout}`;
  steps.push({ name: 'Find Linux root', status: 'done', detail: `${os} on ${where}; kernels ${kernels.join(', ') || 'none'}; also mounted ${guest.extraMounts.join(', ') || 'nothing'}; path: ${pathLabel(path)} (${format}): ${path.why}` });
  const ctx: StepContext = { guest, signal: opts.signal, ...(opts.nicMacs ? { nicMacs: opts.nicMacs } : {}), ...(opts.settings ? { settings: opts.settings } : {}) };
  for (const [name, step] of STEPS) {
    if (opts.signal.aborted) throw opts.signal.reason;
    const t = Date.now();
    const result = await step(ctx).catch((err: unknown): FixupStep => {
      onError(err);
      return { name, status: 'failed', detail: err instanceof Error ? err.message : String(err) };
    });
    opts.log.info({ step: result.name, status: result.status, ms: Date.now() - t }, result.detail);
    steps.push(result);
  }
  return { status: 'done', path: path.path, pathReason: path.why, os, steps, summary: summarize(os, steps, path), durationMs: 0 };
}

/** Opens the disk, reads its partitions and looks for the Linux root (read-only). */
async function inspect(att: Attachments, imagePath: string, format: 'raw' | 'qcow2') {
  const raw = await att.rawView(imagePath, format);
  const probe = await probeDisk(att, raw);
  const found = await findRoot(att, raw, probe.partitions);
  const layout = `${probe.table.kind.toUpperCase()} ${probe.partitions.map((p) => `#${p.number} ${p.fsType || 'unknown'}`).join(', ')}`;
  return { raw, probe, found, layout };
}

function skipped(summary: string, started: number, steps: FixupStep[] = []): FixupReport {
  return { status: 'skipped', path: 'none', pathReason: '', steps, summary, durationMs: Date.now() - started };
}

function pathLabel(path: ConversionPath): string {
  return path.path === 'chroot' ? 'chroot' : 'virt-v2v-in-place, then chroot checks';
}

/** One line for the job step: the path and each step's status, then why that path. */
function summarize(os: string, steps: FixupStep[], path: ConversionPath): string {
  const parts = steps.filter((s) => s.name !== 'Find Linux root').map((s) => `${s.name}: ${s.status}`);
  return `OS fix-up (${pathLabel(path)}) of ${os}: ${parts.join(', ')} (${path.why})`;
}

/** qcow2 files start with `QFI\xfb`; anything else is taken as raw. */
async function sniffFormat(path: string): Promise<'raw' | 'qcow2'> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    await fh.read(buf, 0, 4, 0);
    return buf.equals(Buffer.from([0x51, 0x46, 0x49, 0xfb])) ? 'qcow2' : 'raw';
  } finally {
    await fh.close();
  }
}

/**
 * The fix-up of a boot disk as a target's boot path uses it: off when the boot options say
 * `fixup: false` or `os_type: "Windows"`; otherwise runs and returns one line for the job step
 * (each step is also logged). Rejects only when a Linux guest was found and a step failed.
 */
export async function fixupBootDisk(
  disk: { path: string; format: 'raw' | 'qcow2' },
  options: Record<string, unknown>,
  signal: AbortSignal,
  log: Logger,
  machine: { nicMacs?: readonly string[]; settings?: GuestSettings } = {},
): Promise<FixupReport | null> {
  if (options.fixup === false || options.os_type === 'Windows') return null;
  return fixupLinuxGuest(disk.path, { signal, log, format: disk.format, ...machine });
}
