/**
 * Pure text edits of guest configuration files: disk device names in fstab and boot loader
 * configs, the initramfs-tools module list, and the network names a guest's config refers to.
 * Kept free of I/O so each rule is unit-tested on sample files.
 */

/**
 * Kernel disk names that change when the controller becomes virtio: SCSI/SATA (`sd`), old IDE
 * (`hd`) and Xen (`xvd`). The letter is kept, so the N-th disk stays the N-th disk
 * (`/dev/sdb2` → `/dev/vdb2`): the target attaches the disks in the source's order.
 */
const LEGACY_DISK = /\/dev\/(?:sd|hd|xvd)([a-z]{1,2})(\d*)(?![\w-])/g;
/** Names tied to the old controller or bus; they do not resolve on the new hardware. */
const BUS_BOUND = /\/dev\/disk\/by-(?:id|path)\/\S+/g;

export interface Edit {
  text: string;
  /** Human-readable `old → new` pairs, one per distinct replacement. */
  changes: string[];
  /** References that will not resolve and could not be rewritten safely. */
  warnings: string[];
}

/** Remaps `/dev/sdX`, `/dev/hdX`, `/dev/xvdX` to `/dev/vdX`; UUID=, LABEL=, PARTUUID= are left alone. */
export function remapDiskNames(text: string): Edit {
  const changes = new Set<string>();
  const out = text.replace(LEGACY_DISK, (old: string, letters: string, part: string) => {
    const next = `/dev/vd${letters}${part}`;
    changes.add(`${old} → ${next}`);
    return next;
  });
  const warnings = [...new Set(out.match(BUS_BOUND) ?? [])].map((ref) => `${ref} names the old disk controller and may not resolve on virtio`);
  return { text: out, changes: [...changes], warnings };
}

/** Appends the modules not yet listed (one per line, `#` comments ignored) to an initramfs-tools `modules` file. */
export function ensureModuleLines(text: string, modules: readonly string[]): Edit {
  const listed = new Set(
    text
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim().split(/\s+/)[0] ?? '')
      .filter((m) => m !== ''),
  );
  const missing = modules.filter((m) => !listed.has(m) && !listed.has(m.replace(/_/g, '-')));
  if (missing.length === 0) return { text, changes: [], warnings: [] };
  const base = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  return { text: `${base}# added by Rehost OS fix-up: virtio drivers for the migrated disk and NIC\n${missing.join('\n')}\n`, changes: missing, warnings: [] };
}

/** The `MODULES=` policy of initramfs-tools files (last assignment wins), or null when unset. */
export function initramfsModulesPolicy(texts: readonly string[]): string | null {
  let policy: string | null = null;
  for (const text of texts) {
    for (const m of text.matchAll(/^\s*MODULES\s*=\s*["']?(\w+)["']?\s*$/gm)) policy = m[1]!;
  }
  return policy;
}

/** A guest network config file, by path inside the guest. */
export interface ConfigFile {
  path: string;
  text: string;
}

/** One interface the guest's config names, with the MAC it was bound to when the config says. */
export interface NamedInterface {
  name: string;
  mac?: string;
  /** The file that names it. */
  source: string;
}

const PHYSICAL = /^(?:eth\d+|en[a-z0-9]+|em\d+|p\d+p\d+\S*)$/;
const MAC = /([0-9a-f]{2}(?::[0-9a-f]{2}){5})/i;

/**
 * Physical interface names referred to by: ifupdown (`iface`/`auto`/`allow-hotplug`), systemd-networkd
 * (`[Match] Name=`), NetworkManager (`interface-name=`), ifcfg (`DEVICE=`, `HWADDR=`), netplan
 * (a key under `ethernets:`), and udev persistent-net rules (`ATTR{address}` + `NAME`).
 */
export function referencedInterfaces(files: readonly ConfigFile[]): NamedInterface[] {
  const found: NamedInterface[] = [];
  const add = (name: string | undefined, source: string, mac?: string) => {
    if (!name || !PHYSICAL.test(name)) return;
    const known = found.find((f) => f.name === name);
    if (known) {
      if (mac && !known.mac) known.mac = mac.toLowerCase();
      return;
    }
    found.push({ name, source, ...(mac ? { mac: mac.toLowerCase() } : {}) });
  };
  for (const { path, text } of files) {
    if (/ifcfg-/.test(path)) {
      const device = /^\s*DEVICE=["']?([^"'\s]+)/m.exec(text)?.[1] ?? path.split('ifcfg-')[1];
      add(device, path, MAC.exec(/^\s*HWADDR=.*$/m.exec(text)?.[0] ?? '')?.[1]);
    } else if (path.endsWith('.network')) {
      for (const m of text.matchAll(/^\s*Name\s*=\s*(.+)$/gm)) m[1]!.split(/\s+/).forEach((n) => add(n, path));
    } else if (path.endsWith('.nmconnection')) {
      add(/^\s*interface-name\s*=\s*(\S+)/m.exec(text)?.[1], path, MAC.exec(/^\s*mac-address\s*=.*$/m.exec(text)?.[0] ?? '')?.[1]);
    } else if (/netplan\/.*\.ya?ml$/.test(path)) {
      const block = /^(\s*)ethernets:\s*\n((?:\1\s+.*\n?)*)/m.exec(text);
      const indent = block ? /^(\s+)\S/.exec(block[2]!)?.[1] : undefined;
      for (const m of indent ? block![2]!.matchAll(new RegExp(`^${indent}([\\w.-]+):`, 'gm')) : []) add(m[1], path);
    } else if (/rules\.d\/.*net.*\.rules$/.test(path)) {
      for (const line of text.split('\n')) add(/NAME="([^"]+)"/.exec(line)?.[1], path, /ATTR\{address\}=="([^"]+)"/.exec(line)?.[1]);
    } else {
      for (const m of text.matchAll(/^\s*(?:iface|auto|allow-hotplug)\s+(.+)$/gm)) m[1]!.split(/\s+/).forEach((n) => add(n, path));
    }
  }
  return found;
}

/** One pinned name: the new NIC (by MAC when known, else the only virtio NIC) gets the old name. */
export interface NicPin {
  name: string;
  newMac?: string;
}

/**
 * A udev rule file giving the new NICs the names the guest's config uses. A udev rule (not a
 * systemd `.link` file) so it also works with eudev and old udev; it sorts before
 * 80-net-setup-link.rules, which keeps a NAME already set.
 */
export function udevNamingRules(pins: readonly NicPin[]): string {
  const lines = ['# Written by Rehost OS fix-up: keep the interface names the network config uses after migration.'];
  for (const pin of pins) {
    const match = pin.newMac ? `ATTR{address}=="${pin.newMac.toLowerCase()}"` : 'DRIVERS=="virtio_net"';
    lines.push(`SUBSYSTEM=="net", ACTION=="add", ${match}, NAME="${pin.name}"`);
  }
  return `${lines.join('\n')}\n`;
}

/** Comments out `HWADDR=` in an ifcfg file: the new NIC has another MAC and the name pin above binds it. */
export function dropHwaddr(text: string): Edit {
  const changes: string[] = [];
  const out = text.replace(/^(\s*HWADDR=.*)$/gm, (line) => {
    changes.push(line.trim());
    return `# ${line.trim()}  # old NIC's MAC, disabled by Rehost OS fix-up`;
  });
  return { text: out, changes, warnings: [] };
}
