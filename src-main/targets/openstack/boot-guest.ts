/**
 * What the guest itself gets from the boot options (seed §4.5), pure functions:
 *
 * - `admin_pass` and `keypair_id` as cloud-init user data (Nova `user_data`): Nova's own
 *   `adminPass` reaches a Linux guest only through hypervisor file injection, which clouds turn
 *   off, and cloud-init reads the password from user data, not from the metadata's `admin_pass`.
 *   Root gets the password and the key pair's public key; `disable_root: false` keeps the key
 *   usable for root. Windows guests (cloudbase-init) read Nova's `adminPass` instead.
 * - `os_type` as image properties of the boot volume (`os_type`, `os_distro`): Nova reads a boot
 *   volume's image metadata as the image's, and sets up the machine by it (e.g. a Windows guest's
 *   clock and Hyper-V enlightenments on libvirt).
 */
export interface GuestOptions {
  osType: 'Linux' | 'Windows' | null;
  adminPass: string | null;
  /** The key pair's public key (`keypair_id` resolved), or null. */
  publicKey: string | null;
}

/** YAML scalars are written JSON-quoted, which YAML reads as double-quoted strings (any character is safe). */
const q = (text: string) => JSON.stringify(text);

/** The `#cloud-config` text for a Linux guest, or null when there is nothing to set. */
export function cloudConfig(o: GuestOptions): string | null {
  if (o.osType === 'Windows' || (o.adminPass === null && o.publicKey === null)) return null;
  const lines = ['#cloud-config', '# written by Rehost for the boot options admin_pass / keypair_id'];
  if (o.publicKey !== null) {
    lines.push('disable_root: false', 'users:', '  - default', '  - name: root', '    ssh_authorized_keys:', `      - ${q(o.publicKey.trim())}`);
  }
  if (o.adminPass !== null) {
    // `users` is read by cloud-init 22.3 and later, `list` by older ones (and still accepted)
    lines.push('chpasswd:', '  expire: false', '  users:', '    - name: root', `      password: ${q(o.adminPass)}`, '      type: text', '  list:', `    - ${q(`root:${o.adminPass}`)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Nova's `user_data`: the cloud-config, base64. */
export function userData(o: GuestOptions): string | null {
  const text = cloudConfig(o);
  return text === null ? null : Buffer.from(text, 'utf8').toString('base64');
}

/** Glance's `os_distro` names, from the host's OS version text. */
const DISTROS: [RegExp, string][] = [
  [/ubuntu/i, 'ubuntu'],
  [/debian/i, 'debian'],
  [/centos/i, 'centos'],
  [/rocky/i, 'rocky'],
  [/red ?hat|rhel/i, 'rhel'],
  [/fedora/i, 'fedora'],
  [/opensuse/i, 'opensuse'],
  [/suse|sles/i, 'sles'],
  [/\barch( linux)?\b/i, 'arch'],
  [/freebsd/i, 'freebsd'],
  [/windows/i, 'windows'],
];

/** Image properties for the boot volume: `os_type` (linux/windows) and `os_distro` when the OS version names one. */
export function imageProperties(osType: 'Linux' | 'Windows' | null, osVersion: string | null): Record<string, string> {
  if (osType === null) return {};
  const props: Record<string, string> = { os_type: osType.toLowerCase() };
  const distro = osType === 'Windows' ? 'windows' : DISTROS.find(([re]) => re.test(osVersion ?? ''))?.[1];
  if (distro !== undefined && (osType === 'Windows') === (distro === 'windows')) props.os_distro = distro;
  return props;
}
