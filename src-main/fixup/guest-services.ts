/**
 * Fix-up steps for what sits above the disk: interface names the network config relies on, and
 * the VMware guest tools, which only fail (and slow the boot) off VMware.
 */
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './mounts.js';
import { dropHwaddr, referencedInterfaces, udevNamingRules, type ConfigFile, type NicPin } from './rewrite.js';
import type { FixupStep, StepContext } from './steps.js';

const CHROOT_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C', LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive', HOME: '/root' };
const NAMING_RULES = 'etc/udev/rules.d/70-rehost-net-names.rules';

function inGuest(ctx: StepContext, cmd: string, args: string[]): Promise<string> {
  return run('chroot', [ctx.guest.root, cmd, ...args], { signal: ctx.signal, timeoutMs: 300_000, env: CHROOT_ENV });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function listFiles(root: string, dir: string, match: RegExp): Promise<string[]> {
  const names = await readdir(join(root, dir)).catch(() => [] as string[]);
  return names.filter((n) => match.test(n)).sort().map((n) => `${dir}/${n}`);
}

/** The guest's network configuration files, by path inside the guest. */
async function networkConfigs(root: string): Promise<ConfigFile[]> {
  const paths = [
    'etc/network/interfaces',
    ...(await listFiles(root, 'etc/network/interfaces.d', /^[^.]/)),
    ...(await listFiles(root, 'etc/systemd/network', /\.network$/)),
    ...(await listFiles(root, 'etc/NetworkManager/system-connections', /\.nmconnection$/)),
    ...(await listFiles(root, 'etc/sysconfig/network-scripts', /^ifcfg-/)),
    ...(await listFiles(root, 'etc/sysconfig/network', /^ifcfg-/)),
    ...(await listFiles(root, 'etc/netplan', /\.ya?ml$/)),
    ...(await listFiles(root, 'etc/udev/rules.d', /persistent-net.*\.rules$/)),
  ];
  const files: ConfigFile[] = [];
  for (const path of paths) {
    const text = await readFile(join(root, path), 'utf8').catch(() => null);
    if (text !== null) files.push({ path: `/${path}`, text });
  }
  return files;
}

/**
 * Keeps the interface names the config uses: the old NIC names are pinned to the new NICs (by
 * new MAC when the target passes them, else the only virtio NIC), MAC-bound persistent-net rules
 * are disabled, and ifcfg `HWADDR=` lines (which would ignore a NIC with another MAC) commented out.
 * Static addresses stay as configured, since the name they hang on is kept.
 */
export async function networkStep(ctx: StepContext): Promise<FixupStep> {
  const name = 'Network interface names';
  const root = ctx.guest.root;
  const files = await networkConfigs(root);
  const named = referencedInterfaces(files.filter((f) => !f.path.endsWith('.rules') || !f.path.includes('rehost')));
  const notes: string[] = [];
  for (const f of files.filter((f) => /persistent-net.*\.rules$/.test(f.path))) {
    await rename(join(root, f.path), join(root, `${f.path}.rehost-disabled`));
    notes.push(`${f.path} (binds names to the old MACs) renamed to *.rehost-disabled`);
  }
  for (const f of files.filter((f) => /ifcfg-/.test(f.path))) {
    const edit = dropHwaddr(f.text);
    if (edit.changes.length === 0) continue;
    await writeFile(join(root, f.path), edit.text);
    notes.push(`${f.path}: ${edit.changes.join(', ')} commented out`);
  }
  if (named.length === 0) {
    await rm(join(root, NAMING_RULES), { force: true });
    return { name, status: 'skipped', detail: ['no interface names in the network config (nothing to keep)', ...notes].join('; ') };
  }
  const macs = ctx.nicMacs ?? [];
  let pins: NicPin[];
  if (macs.length > 0) pins = named.slice(0, macs.length).map((n, i) => ({ name: n.name, newMac: macs[i]! }));
  else if (named.length === 1) pins = [{ name: named[0]!.name }];
  else return { name, status: 'warning', detail: [`config names ${named.map((n) => n.name).join(', ')} but the new NICs' MACs are unknown: names not pinned`, ...notes].join('; ') };
  const rules = udevNamingRules(pins);
  const same = (await readFile(join(root, NAMING_RULES), 'utf8').catch(() => '')) === rules;
  if (!same) await writeFile(join(root, NAMING_RULES), rules);
  const pinned = pins.map((p) => {
    const old = named.find((n) => n.name === p.name)!;
    return `${p.name}${old.mac ? ` (old MAC ${old.mac})` : ''} from ${old.source} → ${p.newMac ? `NIC ${p.newMac}` : 'the virtio NIC'}`;
  });
  const verb = same ? 'already pinned' : 'pinned';
  return { name, status: same && notes.length === 0 ? 'skipped' : 'done', detail: [`${verb} ${pinned.join(', ')} in /${NAMING_RULES}`, ...notes].join('; ') };
}

const VMWARE_UNITS = ['vmtoolsd.service', 'open-vm-tools.service', 'vmware-tools.service', 'vgauth.service', 'vmware-vgauth.service', 'vmware-tools-thinprint.service', 'run-vmblock\\x2dfuse.mount'];
const VMWARE_PACKAGES = ['open-vm-tools-desktop', 'open-vm-tools-sdmp', 'open-vm-tools-dev', 'open-vm-tools', 'vmware-tools'];
const UNIT_DIRS = ['etc/systemd/system', 'lib/systemd/system', 'usr/lib/systemd/system'];

/** Disables the VMware tools services and removes their packages (dpkg or rpm, offline). */
export async function vmwareToolsStep(ctx: StepContext): Promise<FixupStep> {
  const name = 'VMware tools removed';
  const root = ctx.guest.root;
  const done: string[] = [];
  const units: string[] = [];
  for (const unit of VMWARE_UNITS) {
    if (await anyExists(UNIT_DIRS.map((d) => join(root, d, unit)))) units.push(unit);
  }
  if (units.length > 0) {
    await inGuest(ctx, 'systemctl', ['disable', ...units]);
    done.push(`disabled ${units.join(', ')}`);
  }
  if (await exists(join(root, 'etc/init.d/vmware-tools'))) {
    await inGuest(ctx, 'sh', ['-c', 'update-rc.d -f vmware-tools remove 2>/dev/null || chkconfig --del vmware-tools']).catch(() => undefined);
    done.push('disabled /etc/init.d/vmware-tools (tarball install: files left, service off)');
  }
  const removed = await removePackages(ctx);
  if (removed) done.push(removed);
  if (done.length === 0) return { name, status: 'skipped', detail: 'no VMware tools services or packages found' };
  return { name, status: 'done', detail: done.join('; ') };
}

async function anyExists(paths: string[]): Promise<boolean> {
  for (const p of paths) if (await exists(p)) return true;
  return false;
}

async function removePackages(ctx: StepContext): Promise<string | null> {
  const root = ctx.guest.root;
  if (await exists(join(root, 'var/lib/dpkg/status'))) {
    // dpkg-query exits 1 when any name is unknown; the listing of the known ones is still right.
    const out = await inGuest(ctx, 'sh', ['-c', `dpkg-query -W -f '\${Package} \${db:Status-Abbrev}\\n' ${VMWARE_PACKAGES.join(' ')} 2>/dev/null; true`]);
    const installed = VMWARE_PACKAGES.filter((p) => new RegExp(`^${p} [ih]i`, 'm').test(out));
    if (installed.length === 0) return null;
    // No service may start or stop in the chroot while maintainer scripts run.
    const policy = join(root, 'usr/sbin/policy-rc.d');
    const hadPolicy = await exists(policy);
    if (!hadPolicy) await writeFile(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    try {
      await inGuest(ctx, 'dpkg', ['--purge', ...installed]);
    } finally {
      if (!hadPolicy) await rm(policy, { force: true });
    }
    return `dpkg --purge ${installed.join(' ')}`;
  }
  if (await exists(join(root, 'usr/bin/rpm'))) {
    const installed: string[] = [];
    for (const p of VMWARE_PACKAGES) if (await inGuest(ctx, 'rpm', ['-q', p]).then(() => true, () => false)) installed.push(p);
    if (installed.length === 0) return null;
    await inGuest(ctx, 'rpm', ['-e', ...installed]);
    return `rpm -e ${installed.join(' ')}`;
  }
  return null;
}
