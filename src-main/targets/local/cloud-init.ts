/**
 * cloud-init NoCloud seed for a Local machine: when the boot options carry `fixed_ip`,
 * `admin_pass` or a key pair, a small vfat volume labelled `cidata` with `meta-data`, `user-data`
 * and `network-config` (v2) is attached, and a guest with cloud-init applies them on first boot.
 * Guests without cloud-init ignore it (the OS fix-up covers those).
 *
 * The password never reaches the disk in clear: user-data carries its SHA-512 crypt hash.
 * YAML is written by hand with JSON-quoted scalars (valid YAML double-quoted strings).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RehostError } from '../../../src-shared/errors.js';

const run = promisify(execFile);

/** The default QEMU user-mode network; a fixed IP elsewhere moves the NAT network to its /24. */
const SLIRP_DEFAULT = { net: '10.0.2.0/24', gateway: '10.0.2.2', dns: '10.0.2.3' };

/** What the seed configures; absent fields are left to the guest. */
export interface GuestSettings {
  instanceId: string;
  hostname: string;
  /** The NIC's MAC, which network-config matches on. */
  mac: string;
  fixedIp: string | null;
  /** crypt(3) hash of admin_pass. */
  passwordHash: string | null;
  publicKeys: string[];
}

/** The user-mode NAT network for a machine: its /24, QEMU's host (gateway) and DNS addresses. */
export interface UserNet {
  net: string;
  gateway: string;
  dns: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const PUBLIC_KEY = /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]{16,}={0,3}( [^\r\n]*)?$/;

/** True when the options ask for anything cloud-init applies. */
export function wantsCloudInit(options: Record<string, unknown>): boolean {
  return ['fixed_ip', 'admin_pass', 'keypair_id', 'public_key'].some((k) => typeof options[k] === 'string' && options[k] !== '');
}

/** Checks the cloud-init options before a boot starts (4xx naming the field). */
export function checkGuestOptions(options: Record<string, unknown>): void {
  const ip = options.fixed_ip;
  if (typeof ip === 'string' && ip !== '' && !IPV4.test(ip)) {
    throw new RehostError('VALIDATION', `boot.fixed_ip: Local machines use an IPv4 user-mode network; ${ip} is not an IPv4 address`, { field: 'boot.fixed_ip' });
  }
  if (typeof ip === 'string' && /\.(0|255)$/.test(ip)) {
    throw new RehostError('VALIDATION', `boot.fixed_ip: ${ip} is a network or broadcast address`, { field: 'boot.fixed_ip' });
  }
  const key = options.public_key;
  if (typeof key === 'string' && key !== '' && !PUBLIC_KEY.test(key.trim())) {
    throw new RehostError('VALIDATION', 'boot.public_key: not an OpenSSH public key line ("ssh-ed25519 AAAA… comment")', { field: 'boot.public_key' });
  }
  const pair = options.keypair_id;
  if (typeof pair === 'string' && pair !== '' && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(pair)) {
    throw new RehostError('VALIDATION', `boot.keypair_id: ${JSON.stringify(pair)} is not a key pair name`, { field: 'boot.keypair_id' });
  }
}

/** The NAT network: QEMU's default, or the /24 around `fixed_ip` with QEMU at .2 (or .1 when the guest takes .2) and DNS at .3 (or .4). */
export function userNet(fixedIp: string | null): UserNet {
  if (fixedIp === null) return SLIRP_DEFAULT;
  const parts = fixedIp.split('.');
  const prefix = parts.slice(0, 3).join('.');
  const last = Number(parts[3]);
  return { net: `${prefix}.0/24`, gateway: `${prefix}.${last === 2 ? 1 : 2}`, dns: `${prefix}.${last === 3 ? 4 : 3}` };
}

/** A stable locally administered MAC for an instance (52:54:00 is QEMU's prefix). */
export function macFor(instanceId: string): string {
  const h = createHash('sha256').update(instanceId).digest();
  return ['52', '54', '00', ...[0, 1, 2].map((i) => h[i]!.toString(16).padStart(2, '0'))].join(':');
}

const q = (s: string) => JSON.stringify(s);

/** The three NoCloud files. network-config only when a fixed IP is asked for (else the guest keeps its own). */
export function nocloudFiles(g: GuestSettings): Record<string, string> {
  const files: Record<string, string> = {
    'meta-data': `instance-id: ${q(g.instanceId)}\nlocal-hostname: ${q(g.hostname)}\n`,
  };
  const user = ['#cloud-config', `hostname: ${q(g.hostname)}`, 'preserve_hostname: false'];
  if (g.passwordHash !== null) {
    user.push('ssh_pwauth: true', 'chpasswd:', '  expire: false', '  list: |', `    root:${g.passwordHash}`);
  }
  if (g.publicKeys.length > 0) {
    user.push('disable_root: false', 'ssh_authorized_keys:', ...g.publicKeys.map((k) => `  - ${q(k.trim())}`));
  }
  files['user-data'] = `${user.join('\n')}\n`;
  if (g.fixedIp !== null) {
    const net = userNet(g.fixedIp);
    files['network-config'] = [
      'version: 2',
      'ethernets:',
      '  primary:',
      '    match:',
      `      macaddress: ${q(g.mac)}`,
      '    dhcp4: false',
      `    addresses: [${q(`${g.fixedIp}/24`)}]`,
      `    gateway4: ${q(net.gateway)}`,
      '    nameservers:',
      `      addresses: [${q(net.dns)}]`,
      '',
    ].join('\n');
  }
  return files;
}

/** SHA-512 crypt of a password (openssl reads it on stdin, so it shows in no process list). */
export async function hashPassword(password: string, signal: AbortSignal): Promise<string> {
  const child = execFile('openssl', ['passwd', '-6', '-stdin'], { signal });
  child.stdin?.end(`${password}\n`);
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (t: string) => (out += t));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  }).catch((err: unknown) => {
    throw new RehostError('UNPROCESSABLE', 'admin_pass needs the openssl command to hash the password; install openssl', { field: 'boot.admin_pass' }, { cause: err });
  });
  const hash = out.trim();
  if (code !== 0 || !hash.startsWith('$6$')) throw new RehostError('DRIVER', 'openssl passwd did not produce a SHA-512 crypt hash');
  return hash;
}

/** Public keys from `public_key` and from `keypair_id` (a `<name>.pub` file in the target's key pair folder). */
export async function publicKeys(options: Record<string, unknown>, keypairDir: string): Promise<string[]> {
  const keys: string[] = [];
  if (typeof options.public_key === 'string' && options.public_key !== '') keys.push(options.public_key.trim());
  const pair = options.keypair_id;
  if (typeof pair === 'string' && pair !== '') {
    const text = await readFile(join(keypairDir, `${pair}.pub`), 'utf8').catch(() => {
      throw new RehostError('NOT_FOUND', `boot.keypair_id: key pair ${pair} is not in ${keypairDir} (put ${pair}.pub there)`, { field: 'boot.keypair_id' });
    });
    keys.push(...text.split('\n').map((l) => l.trim()).filter((l) => PUBLIC_KEY.test(l)));
  }
  return keys;
}

/** The key pairs a Local target offers: `<name>.pub` files in its key pair folder. */
export async function listKeypairs(keypairDir: string): Promise<Record<string, unknown>[]> {
  const names = (await readdir(keypairDir).catch(() => [] as string[])).filter((n) => /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.pub$/.test(n)).sort();
  const out: Record<string, unknown>[] = [];
  for (const name of names) {
    const line = (await readFile(join(keypairDir, name), 'utf8')).split('\n')[0]!.trim();
    if (!PUBLIC_KEY.test(line)) continue;
    const blob = Buffer.from(line.split(' ')[1]!, 'base64');
    out.push({ id: name.slice(0, -4), name: name.slice(0, -4), type: line.split(' ')[0], fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}` });
  }
  return out;
}

/** Finds a tool on PATH or in the sbin folders (mkfs.* live there and PATH may lack them). */
async function tool(name: string): Promise<string> {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const path = join(dir || '.', name);
    if (await run(path, ['--version']).then(() => true, (e: NodeJS.ErrnoException) => e.code !== 'ENOENT' && e.code !== 'EACCES')) return path;
  }
  throw new RehostError('UNPROCESSABLE', `${name} is missing: install dosfstools and mtools (Debian/Ubuntu) to give machines a cloud-init seed`, { field: 'boot' });
}

/** Writes the seed image `path` (vfat, label `cidata`) holding `files`. */
export async function buildSeed(path: string, files: Record<string, string>, signal: AbortSignal): Promise<void> {
  const mkfs = await tool('mkfs.vfat');
  const mcopy = await tool('mcopy');
  await rm(path, { force: true });
  await run(mkfs, ['-n', 'cidata', '-C', path, '1024'], { signal });
  const staging = `${path}.d`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { mode: 0o700 });
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(join(staging, name), text, { mode: 0o600 });
    await run(mcopy, ['-i', path, ...Object.keys(files).map((n) => join(staging, n)), '::'], { signal, env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
