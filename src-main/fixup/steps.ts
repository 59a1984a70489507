/**
 * The fix-up steps on a mounted Linux guest, each run with the guest's own tools in a chroot.
 * Every step is idempotent: a second run finds nothing left to do and says so.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MountedGuest } from './guest.js';
import type { GuestSettings } from './guest-settings.js';
import { run } from './mounts.js';
import { ensureModuleLines, initramfsModulesPolicy, remapDiskNames } from './rewrite.js';

/** One fix-up step, as the caller logs it into the job's steps. */
export interface FixupStep {
  name: string;
  status: 'done' | 'skipped' | 'warning' | 'failed';
  detail: string;
}

export interface StepContext {
  guest: MountedGuest;
  signal: AbortSignal;
  /** New NIC MACs in attachment order, when the target knows them. */
  nicMacs?: readonly string[];
  /** Boot options for a guest without cloud-init (guest-settings.ts). */
  settings?: GuestSettings;
}

/** The drivers a guest needs to find its disk and NIC on a virtio machine. */
export const VIRTIO_DRIVERS = ['virtio_pci', 'virtio_blk', 'virtio_scsi', 'virtio_net'] as const;
const CHROOT_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C', LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive', HOME: '/root' };


async function inGuest(ctx: StepContext, cmd: string, args: string[], timeoutMs = 600_000): Promise<string> {
  return run('chroot', [ctx.guest.root, cmd, ...args], { signal: ctx.signal, timeoutMs, env: CHROOT_ENV });
}

async function hasTool(ctx: StepContext, tool: string): Promise<boolean> {
  return inGuest(ctx, 'sh', ['-c', `command -v ${tool}`]).then(() => true, () => false);
}

/** Installed kernel versions: /lib/modules entries that have a kernel image in /boot. */
export async function installedKernels(root: string): Promise<string[]> {
  const versions = await readdir(join(root, 'lib/modules')).catch(() => [] as string[]);
  const boot = await readdir(join(root, 'boot')).catch(() => [] as string[]);
  return versions.filter((v) => boot.some((f) => f === `vmlinuz-${v}` || f === `vmlinux-${v}` || f === `kernel-${v}`) || boot.some((f) => f.endsWith(v))).sort();
}

/** Drivers still missing from a kernel's initramfs (built-in ones never are). */
async function missingDrivers(ctx: StepContext, kernel: string, listTool: 'lsinitramfs' | 'lsinitrd', image: string): Promise<string[]> {
  const builtin = await readFile(join(ctx.guest.root, 'lib/modules', kernel, 'modules.builtin'), 'utf8').catch(() => '');
  const listing = await inGuest(ctx, listTool, [image]).catch(() => '');
  return VIRTIO_DRIVERS.filter((d) => {
    const file = new RegExp(`/${d.replace(/_/g, '[_-]')}\\.ko`);
    return !file.test(builtin) && !file.test(listing);
  });
}

/** Virtio drivers in the initramfs of every installed kernel, with the guest's own generator. */
export async function initramfsStep(ctx: StepContext): Promise<FixupStep> {
  const name = 'Virtio drivers in initramfs';
  const root = ctx.guest.root;
  const kernels = await installedKernels(root);
  if (kernels.length === 0) return { name, status: 'warning', detail: 'no installed kernel found under /lib/modules and /boot' };
  if (await hasTool(ctx, 'update-initramfs')) return initramfsTools(ctx, kernels, name);
  if (await hasTool(ctx, 'dracut')) return dracut(ctx, kernels, name);
  if (await hasTool(ctx, 'mkinitrd')) {
    for (const k of kernels) await inGuest(ctx, 'mkinitrd', ['-k', `/boot/vmlinuz-${k}`, '-i', `/boot/initrd-${k}`, '-m', VIRTIO_DRIVERS.join(' ')]);
    return { name, status: 'done', detail: `mkinitrd -m "${VIRTIO_DRIVERS.join(' ')}" for ${kernels.join(', ')}` };
  }
  return { name, status: 'failed', detail: 'the guest has none of update-initramfs, dracut, mkinitrd' };
}

async function initramfsTools(ctx: StepContext, kernels: string[], name: string): Promise<FixupStep> {
  const root = ctx.guest.root;
  const before = await Promise.all(kernels.map(async (k) => ({ k, missing: await missingDrivers(ctx, k, 'lsinitramfs', `/boot/initrd.img-${k}`) })));
  if (before.every((b) => b.missing.length === 0)) return { name, status: 'skipped', detail: `virtio drivers already in the initramfs of ${kernels.join(', ')}` };
  const modulesFile = join(root, 'etc/initramfs-tools/modules');
  const edit = ensureModuleLines(await readFile(modulesFile, 'utf8').catch(() => ''), VIRTIO_DRIVERS);
  if (edit.changes.length > 0) await writeFile(modulesFile, edit.text);
  const confs = [join(root, 'etc/initramfs-tools/initramfs.conf'), ...(await readdir(join(root, 'etc/initramfs-tools/conf.d')).catch(() => [] as string[])).sort().map((f) => join(root, 'etc/initramfs-tools/conf.d', f))];
  const policy = initramfsModulesPolicy(await Promise.all(confs.map((f) => readFile(f, 'utf8').catch(() => ''))));
  let note = '';
  if (policy === 'dep') {
    // `dep` looks at the machine it runs on — in a chroot that is this host, not the guest.
    await writeFile(join(root, 'etc/initramfs-tools/conf.d/zz-rehost-virtio.conf'), '# Rehost OS fix-up: MODULES=dep cannot be computed in a chroot\nMODULES=most\n');
    note = '; MODULES=dep replaced by most (conf.d/zz-rehost-virtio.conf)';
  }
  await inGuest(ctx, 'update-initramfs', ['-u', '-k', 'all']);
  const after = await Promise.all(kernels.map(async (k) => ({ k, missing: await missingDrivers(ctx, k, 'lsinitramfs', `/boot/initrd.img-${k}`) })));
  const still = after.filter((a) => a.missing.length > 0);
  if (still.length > 0) return { name, status: 'failed', detail: `update-initramfs ran but ${still.map((s) => `${s.k} lacks ${s.missing.join(', ')}`).join('; ')}` };
  const added = edit.changes.length > 0 ? `added ${edit.changes.join(', ')} to /etc/initramfs-tools/modules` : 'modules already listed';
  return { name, status: 'done', detail: `${added}${note}; update-initramfs -u -k all rebuilt ${kernels.join(', ')} (verified with lsinitramfs)` };
}

async function dracut(ctx: StepContext, kernels: string[], name: string): Promise<FixupStep> {
  const image = (k: string) => `/boot/initramfs-${k}.img`;
  const before = await Promise.all(kernels.map(async (k) => (await missingDrivers(ctx, k, 'lsinitrd', image(k))).length));
  if (before.every((n) => n === 0)) return { name, status: 'skipped', detail: `virtio drivers already in the initramfs of ${kernels.join(', ')}` };
  // Kept in dracut.conf.d so the guest's next kernel update keeps them too.
  await writeFile(join(ctx.guest.root, 'etc/dracut.conf.d/50-rehost-virtio.conf'), `# Rehost OS fix-up\nadd_drivers+=" ${VIRTIO_DRIVERS.join(' ')} "\n`);
  for (const k of kernels) await inGuest(ctx, 'dracut', ['-f', '--add-drivers', VIRTIO_DRIVERS.join(' '), image(k), k]);
  return { name, status: 'done', detail: `dracut -f --add-drivers "${VIRTIO_DRIVERS.join(' ')}" for ${kernels.join(', ')}; kept in /etc/dracut.conf.d/50-rehost-virtio.conf` };
}

/** Rewrites legacy disk names in the listed guest files; reports each change. */
async function remapFiles(root: string, paths: readonly string[]): Promise<{ changed: string[]; warnings: string[]; seen: string[] }> {
  const changed: string[] = [];
  const warnings: string[] = [];
  const seen: string[] = [];
  for (const p of paths) {
    const text = await readFile(join(root, p), 'utf8').catch(() => null);
    if (text === null) continue;
    seen.push(p);
    const edit = remapDiskNames(text);
    warnings.push(...edit.warnings.map((w) => `/${p}: ${w}`));
    if (edit.changes.length === 0) continue;
    await writeFile(join(root, p), edit.text);
    changed.push(`/${p}: ${edit.changes.join(', ')}`);
  }
  return { changed, warnings, seen };
}

/** /etc/fstab: UUID=/LABEL= kept, /dev/sdX|hdX|xvdX → /dev/vdX. */
export async function fstabStep(ctx: StepContext): Promise<FixupStep> {
  const r = await remapFiles(ctx.guest.root, ['etc/fstab', 'etc/crypttab']);
  const unresolved = ctx.guest.unresolved.length > 0 ? `; not on this disk: ${ctx.guest.unresolved.join(', ')}` : '';
  const detail = r.changed.length > 0 ? `${r.changed.join('; ')}${unresolved}` : `no legacy device names (UUID=/LABEL= kept)${unresolved}`;
  return { name: '/etc/fstab device names', status: r.warnings.length > 0 ? 'warning' : r.changed.length > 0 ? 'done' : 'skipped', detail: [detail, ...r.warnings].join('; ') };
}

/** Boot loader configs are edited in place, not regenerated: grub-mkconfig in a chroot would probe this host's loop devices. */
export async function bootloaderStep(ctx: StepContext): Promise<FixupStep> {
  const root = ctx.guest.root;
  const bls = (await readdir(join(root, 'boot/loader/entries')).catch(() => [] as string[])).filter((f) => f.endsWith('.conf')).map((f) => `boot/loader/entries/${f}`);
  const files = ['boot/grub/grub.cfg', 'boot/grub2/grub.cfg', 'boot/grub/menu.lst', 'boot/grub/device.map', 'boot/grub2/device.map', 'etc/default/grub', 'boot/extlinux/extlinux.conf', 'boot/extlinux.conf', 'extlinux.conf', 'boot/syslinux/syslinux.cfg', 'etc/kernel/cmdline', 'etc/initramfs-tools/conf.d/resume', ...bls];
  const r = await remapFiles(root, files);
  if (r.seen.length === 0) return { name: 'Boot loader config', status: 'warning', detail: 'no grub, extlinux/syslinux or BLS config found' };
  const detail = r.changed.length > 0 ? r.changed.join('; ') : `no legacy device names in ${r.seen.map((p) => `/${p}`).join(', ')}`;
  return { name: 'Boot loader config', status: r.warnings.length > 0 ? 'warning' : r.changed.length > 0 ? 'done' : 'skipped', detail: [detail, ...r.warnings].join('; ') };
}
