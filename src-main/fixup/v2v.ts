/**
 * libguestfs' `virt-v2v-in-place` (Debian package virt-v2v) as the fix-up's first choice, where it
 * works: it converts the guest in place (virtio drivers, fstab, boot loader, VMware tools) inside
 * a small appliance VM that libguestfs builds from the host's kernel with supermin. Whether that
 * appliance starts is known only by trying, so a probe runs once per process: the tool is
 * installed, and `libguestfs-test-tool` (or `guestfish -a /dev/null run`) launches the appliance.
 * Containers and CI runners usually fail it (no kernel in /boot, no /lib/modules, no usable KVM),
 * and the fix-up falls back to its own chroot steps, saying why. `REHOST_FIXUP_PATH=chroot` skips
 * the probe and uses the chroot steps.
 */
import { run } from './mounts.js';

/** What the probe found: usable, with the tool's version, or not, with the reason. */
export interface V2vProbe {
  ok: boolean;
  /** The version line when usable; why not otherwise. */
  detail: string;
}

/** The fix-up's way to convert the guest, and why it was chosen. */
export interface ConversionPath {
  path: 'virt-v2v-in-place' | 'chroot';
  why: string;
}

/** Runs a command, rejecting with its stderr (`run` of mounts.ts; tests pass a scripted one). */
export type CommandRunner = (cmd: string, args: readonly string[], opts: { signal?: AbortSignal; timeoutMs: number; env: NodeJS.ProcessEnv }) => Promise<string>;

/** libguestfs' own backend, without libvirt: the appliance runs under QEMU directly. */
const V2V_ENV = { LIBGUESTFS_BACKEND: 'direct' };
const APPLIANCE_CHECKS: [string, string[]][] = [
  ['libguestfs-test-tool', ['-t', '120']],
  ['guestfish', ['-a', '/dev/null', 'run']],
];

function isMissing(err: unknown): boolean {
  return (err as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT';
}

function lastLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split(/ \/ |\n/).map((l) => l.trim()).filter(Boolean).at(-1) ?? text;
}

/** Is virt-v2v-in-place installed, and does libguestfs launch its appliance on this machine? */
export async function probeVirtV2v(runner: CommandRunner = run): Promise<V2vProbe> {
  const env = { ...process.env, ...V2V_ENV };
  let version: string;
  try {
    version = (await runner('virt-v2v-in-place', ['--version'], { timeoutMs: 30_000, env })).trim().split('\n')[0] || 'virt-v2v-in-place';
  } catch (err) {
    return { ok: false, detail: isMissing(err) ? 'virt-v2v-in-place is not installed' : `virt-v2v-in-place does not run (${lastLine(err)})` };
  }
  for (const [cmd, args] of APPLIANCE_CHECKS) {
    try {
      await runner(cmd, args, { timeoutMs: 180_000, env });
      return { ok: true, detail: version };
    } catch (err) {
      if (isMissing(err)) continue;
      return { ok: false, detail: `libguestfs cannot launch its appliance here (${cmd}: ${lastLine(err)})` };
    }
  }
  return { ok: false, detail: 'neither libguestfs-test-tool nor guestfish is installed to check that libguestfs can launch its appliance' };
}

let probed: Promise<V2vProbe> | null = null;

/** The probe, run once per process (an appliance launch takes seconds to minutes). */
export function probeVirtV2vOnce(): Promise<V2vProbe> {
  probed ??= probeVirtV2v();
  return probed;
}

/** virt-v2v-in-place where its probe passes, our chroot steps otherwise (or when the setting says so). */
export async function chooseConversionPath(setting: string | undefined, probe: () => Promise<V2vProbe>): Promise<ConversionPath> {
  if (setting === 'chroot') return { path: 'chroot', why: 'virt-v2v-in-place not tried: REHOST_FIXUP_PATH=chroot' };
  const found = await probe();
  return found.ok ? { path: 'virt-v2v-in-place', why: `${found.detail}; its appliance starts here` } : { path: 'chroot', why: `virt-v2v-in-place not used: ${found.detail}` };
}

/** Converts the guest on `imagePath` in place. A failure leaves the image unusable: the caller drops it. */
export async function runVirtV2vInPlace(imagePath: string, format: 'raw' | 'qcow2', signal: AbortSignal, runner: CommandRunner = run): Promise<void> {
  await runner('virt-v2v-in-place', ['-i', 'disk', '-if', format, '--root', 'first', '-q', imagePath], { signal, timeoutMs: 1_800_000, env: { ...process.env, ...V2V_ENV } });
}
