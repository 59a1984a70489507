/**
 * Boot options written into a guest that has no cloud-init (seed 000 §4.5: `fixed_ip`,
 * `admin_pass`, `keypair_id`): a guest with cloud-init reads them from the target's NoCloud seed
 * instead, so this step leaves it alone. Edits are plain text edits on the mounted guest; each is
 * idempotent.
 */
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FixupStep, StepContext } from './steps.js';

/** What the target asks the guest to take on; absent fields are left as the guest has them. */
export interface GuestSettings {
  /** IPv4 address for the primary interface, with the network around it. */
  fixedIp?: { address: string; prefix: number; gateway?: string; dns?: string };
  /** crypt(3) hash (e.g. SHA-512 `$6$…`) for root. */
  passwordHash?: string;
  /** OpenSSH public key lines for root. */
  publicKeys?: readonly string[];
}

export interface TextEdit {
  text: string;
  changed: boolean;
}

/** Sets the password field of `user` in /etc/shadow text; other fields and lines stay as they are. */
export function setShadowPassword(text: string, user: string, hash: string): TextEdit {
  let changed = false;
  const lines = text.split('\n').map((line) => {
    const fields = line.split(':');
    if (fields[0] !== user || fields.length < 2 || fields[1] === hash) return line;
    changed = true;
    fields[1] = hash;
    if (fields.length > 2) fields[2] = String(Math.floor(Date.now() / 86_400_000)); // last change: today, so no forced expiry
    return fields.join(':');
  });
  return { text: lines.join('\n'), changed };
}

/** Appends the keys `text` lacks (compared by key type and body, not comment). */
export function addAuthorizedKeys(text: string, keys: readonly string[]): TextEdit {
  const body = (line: string) => line.trim().split(/\s+/).slice(0, 2).join(' ');
  const present = new Set(text.split('\n').filter((l) => l.trim() && !l.startsWith('#')).map(body));
  const missing = keys.map((k) => k.trim()).filter((k) => k && !present.has(body(k)));
  if (missing.length === 0) return { text, changed: false };
  const base = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  return { text: `${base}${missing.join('\n')}\n`, changed: true };
}

type FixedIp = NonNullable<GuestSettings['fixedIp']>;

/** systemd-networkd `.network`: the first IPv4 `Address=` becomes the fixed address; a DHCP-only file turns static. */
export function networkdFixedIp(text: string, ip: FixedIp): TextEdit {
  const want = `${ip.address}/${ip.prefix}`;
  const v4 = /^(\s*Address\s*=\s*)(\d+\.\d+\.\d+\.\d+)(\/\d+)?\s*$/m;
  const m = v4.exec(text);
  if (m) {
    const next = `${m[1]}${ip.address}/${m[3] ? m[3].slice(1) : ip.prefix}`;
    return next === m[0].trimEnd() ? { text, changed: false } : { text: text.replace(v4, next), changed: true };
  }
  if (!/^\s*\[Network\]/m.test(text)) return { text, changed: false };
  const lines = [`Address=${want}`, ...(ip.gateway ? [`Gateway=${ip.gateway}`] : []), ...(ip.dns ? [`DNS=${ip.dns}`] : [])];
  const out = text.replace(/^\s*DHCP\s*=.*$/m, 'DHCP=no').replace(/^(\s*\[Network\]\s*)$/m, `$1\n${lines.join('\n')}`);
  return { text: out, changed: out !== text };
}

/** ifupdown `interfaces`: the stanza of `iface` gets the fixed address (a dhcp stanza turns static). */
export function ifupdownFixedIp(text: string, iface: string, ip: FixedIp): TextEdit {
  const lines = text.split('\n');
  const name = iface.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const start = lines.findIndex((l) => new RegExp(`^\\s*iface\\s+${name}\\s+inet\\s+(static|dhcp)\\b`).test(l));
  if (start < 0) return { text, changed: false };
  let end = lines.findIndex((l, i) => i > start && /^\s*(iface|auto|allow-|mapping|source)\b/.test(l));
  if (end < 0) end = lines.length;
  const body = lines.slice(start + 1, end);
  const trailing = body.length - body.findLastIndex((l) => l.trim() !== '') - 1;
  const kept = body.slice(0, body.length - trailing).filter((l) => !/^\s*(address|netmask|gateway|dns-nameservers)\b/.test(l));
  const indent = '    ';
  const settings = [`${indent}address ${ip.address}/${ip.prefix}`, ...(ip.gateway ? [`${indent}gateway ${ip.gateway}`] : []), ...(ip.dns ? [`${indent}dns-nameservers ${ip.dns}`] : [])];
  const head = lines[start]!.replace(/\binet\s+dhcp\b/, 'inet static');
  const out = [...lines.slice(0, start), head, ...settings, ...kept, ...body.slice(body.length - trailing), ...lines.slice(end)].join('\n');
  return { text: out, changed: out !== text };
}

/** Red Hat / SUSE `ifcfg-*`: static with the fixed address. */
export function ifcfgFixedIp(text: string, ip: FixedIp): TextEdit {
  const set = (t: string, key: string, value: string) => (new RegExp(`^${key}=.*$`, 'm').test(t) ? t.replace(new RegExp(`^${key}=.*$`, 'm'), `${key}=${value}`) : `${t.replace(/\n?$/, '\n')}${key}=${value}\n`);
  let out = set(text, 'BOOTPROTO', 'none');
  out = set(out, 'IPADDR', ip.address);
  out = out.replace(/^NETMASK=.*\n?/m, '');
  out = set(out, 'PREFIX', String(ip.prefix));
  if (ip.gateway) out = set(out, 'GATEWAY', ip.gateway);
  if (ip.dns) out = set(out, 'DNS1', ip.dns);
  return { text: out, changed: out !== text };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function editFile(path: string, edit: (text: string) => TextEdit): Promise<boolean> {
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) return false;
  const next = edit(text);
  if (next.changed) await writeFile(path, next.text);
  return next.changed;
}

/** The interface the fixed IP goes on: the first one a config file names (networkd, ifupdown, ifcfg). */
async function applyFixedIp(root: string, ip: FixedIp): Promise<string> {
  const list = async (dir: string, match: RegExp) => (await readdir(join(root, dir)).catch(() => [] as string[])).filter((n) => match.test(n)).sort().map((n) => join(dir, n));
  for (const file of await list('etc/systemd/network', /\.network$/)) {
    const text = await readFile(join(root, file), 'utf8');
    if (!/^\s*Name\s*=\s*(?!lo\b)\S+/m.test(text)) continue;
    const changed = await editFile(join(root, file), (t) => networkdFixedIp(t, ip));
    return `${changed ? 'set' : 'already'} ${ip.address}/${ip.prefix} in /${file}`;
  }
  const interfaces = 'etc/network/interfaces';
  const ifaceText = await readFile(join(root, interfaces), 'utf8').catch(() => '');
  const iface = /^\s*iface\s+(?!lo\b)(\S+)\s+inet\s+(static|dhcp)/m.exec(ifaceText)?.[1];
  if (iface) {
    const changed = await editFile(join(root, interfaces), (t) => ifupdownFixedIp(t, iface, ip));
    return `${changed ? 'set' : 'already'} ${ip.address}/${ip.prefix} on ${iface} in /${interfaces}`;
  }
  for (const dir of ['etc/sysconfig/network-scripts', 'etc/sysconfig/network']) {
    const file = (await list(dir, /^ifcfg-(?!lo$)/))[0];
    if (!file) continue;
    const changed = await editFile(join(root, file), (t) => ifcfgFixedIp(t, ip));
    return `${changed ? 'set' : 'already'} ${ip.address}/${ip.prefix} in /${file}`;
  }
  throw new Error('fixed_ip: no networkd, ifupdown or ifcfg configuration names an interface (netplan and NetworkManager guests need cloud-init)');
}

/**
 * Applies `settings` to a guest without cloud-init: root's password hash, root's authorized keys,
 * the fixed IPv4 address on the primary interface. Skipped when nothing is asked or the guest has
 * cloud-init (it reads the same options from the NoCloud seed).
 */
export async function guestSettingsStep(ctx: StepContext, settings: GuestSettings | undefined): Promise<FixupStep> {
  const name = 'Boot options without cloud-init';
  const asked = settings && (settings.fixedIp || settings.passwordHash || (settings.publicKeys?.length ?? 0) > 0);
  if (!settings || !asked) return { name, status: 'skipped', detail: 'no fixed_ip, admin_pass or key pair asked for' };
  const root = ctx.guest.root;
  if ((await exists(join(root, 'usr/bin/cloud-init'))) || (await exists(join(root, 'etc/cloud/cloud.cfg')))) {
    return { name, status: 'skipped', detail: 'the guest has cloud-init: it applies them from the NoCloud seed' };
  }
  const notes: string[] = [];
  if (settings.passwordHash) {
    const changed = await editFile(join(root, 'etc/shadow'), (t) => setShadowPassword(t, 'root', settings.passwordHash!));
    notes.push(changed ? 'root password set (admin_pass)' : 'root password already set');
  }
  if (settings.publicKeys && settings.publicKeys.length > 0) {
    const dir = join(root, 'root/.ssh');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, 'authorized_keys');
    const text = await readFile(file, 'utf8').catch(() => '');
    const edit = addAuthorizedKeys(text, settings.publicKeys);
    if (edit.changed) await writeFile(file, edit.text, { mode: 0o600 });
    await chmod(file, 0o600).catch(() => undefined);
    notes.push(edit.changed ? `${settings.publicKeys.length} key(s) in /root/.ssh/authorized_keys` : 'keys already authorized');
  }
  if (settings.fixedIp) notes.push(await applyFixedIp(root, settings.fixedIp));
  return { name, status: 'done', detail: notes.join('; ') };
}
