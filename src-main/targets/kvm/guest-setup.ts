/**
 * Boot options a KVM machine's guest takes on (seed 000 §4.5 `fixed_ip`, `admin_pass`,
 * `keypair_id` / `public_key`), the way the Local target applies them: a cloud-init NoCloud seed
 * (a vfat image labelled `cidata`) attached to the machine for guests with cloud-init, and the
 * same settings handed to the OS fix-up on the KVM host for guests without it. The seed is built
 * on the KVM host when it has dosfstools and mtools, else here and pushed over SFTP. The password
 * travels on stdin only and reaches the seed and the guest as a SHA-512 crypt hash. Key pairs are
 * `<path>/keypairs/<name>.pub` files on the KVM host, listed as the `keypairs` resource.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { Host } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import type { GuestSettings } from '../../fixup/index.js';
import { buildSeed, hashPassword, macFor, nocloudFiles, wantsCloudInit } from '../local/cloud-init.js';
import type { NicSpec } from './domain-xml.js';
import { fixedIpOption, guestNet, networkConfig, type GuestNet, type Subnet } from './guest-net.js';
import type { KvmLayout } from './layout.js';
import { sh, type KvmSsh } from './ssh.js';

const PUBLIC_KEY = /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]{16,}={0,3}( [^\r\n]*)?$/;
const PAIR_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** dosfstools and mtools live in sbin, which a login user's PATH may lack. */
const SBIN_PATH = 'PATH="$PATH:/usr/sbin:/sbin"';

/** What a machine's guest gets: its NIC's MAC, the seed (when asked for), the fix-up's settings. */
export interface GuestSetup {
  mac: string;
  seedPath: string | null;
  net: GuestNet | null;
  settings: GuestSettings;
  /** For the job step: what the seed carries. */
  note: string;
}

export class KvmGuests {
  constructor(
    private readonly ssh: KvmSsh,
    private readonly layout: KvmLayout,
    private readonly log: Logger,
    /** Where a seed built on this machine waits before it is pushed. */
    private readonly workDir: string,
  ) {}

  /** Refuses bad guest options before a boot job starts; an unknown key pair is a 404. */
  async check(options: Record<string, unknown>, signal: AbortSignal): Promise<void> {
    fixedIpOption(options);
    const key = options.public_key;
    if (key !== undefined && key !== '' && (typeof key !== 'string' || !PUBLIC_KEY.test(key.trim()))) {
      throw new RehostError('VALIDATION', 'boot.public_key: not an OpenSSH public key line ("ssh-ed25519 AAAA… comment")', { field: 'boot.public_key' });
    }
    const pass = options.admin_pass;
    if (pass !== undefined && typeof pass !== 'string') throw new RehostError('VALIDATION', 'boot.admin_pass: must be a string', { field: 'boot.admin_pass' });
    await this.publicKeys(options, signal);
  }

  /** The key pairs of the target: `<path>/keypairs/<name>.pub` on the KVM host. */
  async keypairs(signal: AbortSignal): Promise<Record<string, unknown>[]> {
    const dir = sh(this.layout.keypairDir());
    const out = await this.ssh.exec(`cd ${dir} 2>/dev/null || exit 0; for f in *.pub; do [ -f "$f" ] && printf '%s\\t%s\\n' "$f" "$(head -n 1 "$f")"; done; true`, signal);
    const rows: Record<string, unknown>[] = [];
    for (const line of out.split('\n')) {
      const [file = '', key = ''] = line.split('\t');
      const name = file.slice(0, -4);
      if (!file.endsWith('.pub') || !PAIR_NAME.test(name) || !PUBLIC_KEY.test(key.trim())) continue;
      const blob = Buffer.from(key.trim().split(' ')[1]!, 'base64');
      rows.push({ id: name, name, type: key.split(' ')[0], fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}` });
    }
    return rows.sort((a, b) => String(a.id).localeCompare(String(b.id)));
  }

  /** The MAC, and when the options ask for guest settings: the seed in `dir` and the fix-up's settings. */
  async prepare(host: Host, instanceId: string, dir: string, options: Record<string, unknown>, nic: NicSpec, subnet: Subnet | null, signal: AbortSignal): Promise<GuestSetup> {
    const mac = macFor(instanceId);
    if (!wantsCloudInit(options)) return { mac, seedPath: null, net: null, settings: {}, note: '' };
    const fixedIp = fixedIpOption(options);
    const net = fixedIp === null ? null : guestNet(fixedIp, nic, subnet);
    const passwordHash = typeof options.admin_pass === 'string' && options.admin_pass !== '' ? await this.hash(options.admin_pass, signal) : null;
    const keys = await this.publicKeys(options, signal);
    const hostname = host.name.replace(/[^A-Za-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 63) || 'rehost';
    const files = nocloudFiles({ instanceId, hostname, mac, fixedIp: null, passwordHash, publicKeys: keys });
    if (net) files['network-config'] = networkConfig(mac, net);
    const seedPath = this.layout.seed(dir);
    const how = await this.buildSeed(seedPath, files, signal);
    const what = [net ? `fixed_ip ${net.address}/${net.prefix}` : '', passwordHash ? 'admin_pass' : '', keys.length ? `${keys.length} public key(s)` : ''].filter(Boolean).join(', ');
    const settings: GuestSettings = {
      ...(net ? { fixedIp: { address: net.address, prefix: net.prefix, ...(net.gateway ? { gateway: net.gateway } : {}), ...(net.dns ? { dns: net.dns } : {}) } } : {}),
      ...(passwordHash ? { passwordHash } : {}),
      ...(keys.length > 0 ? { publicKeys: keys } : {}),
    };
    return { mac, seedPath, net, settings, note: `cloud-init NoCloud seed attached (${what}; built ${how})` };
  }

  /** Public keys from `public_key` and from `keypair_id` (its `.pub` file on the KVM host). */
  private async publicKeys(options: Record<string, unknown>, signal: AbortSignal): Promise<string[]> {
    const keys: string[] = typeof options.public_key === 'string' && options.public_key !== '' ? [options.public_key.trim()] : [];
    const pair = options.keypair_id;
    if (pair === undefined || pair === null || pair === '') return keys;
    if (typeof pair !== 'string' || !PAIR_NAME.test(pair)) throw new RehostError('VALIDATION', `boot.keypair_id: ${JSON.stringify(pair)} is not a key pair name`, { field: 'boot.keypair_id' });
    const file = posix.join(this.layout.keypairDir(), `${pair}.pub`);
    const text = await this.ssh.exec(`cat -- ${sh(file)} 2>/dev/null || echo '#missing'`, signal);
    const found = text.split('\n').map((l) => l.trim()).filter((l) => PUBLIC_KEY.test(l));
    if (text.trim() === '#missing' || found.length === 0) {
      throw new RehostError('NOT_FOUND', `boot.keypair_id: key pair ${pair} is not on the KVM host (put ${pair}.pub into ${this.layout.keypairDir()})`, { field: 'boot.keypair_id' });
    }
    return [...keys, ...found];
  }

  /** SHA-512 crypt with the KVM host's openssl (the password on stdin), else with this machine's. */
  private async hash(password: string, signal: AbortSignal): Promise<string> {
    const there = await this.ssh.exec('command -v openssl >/dev/null && openssl passwd -6 -stdin || true', signal, `${password}\n`).catch(() => '');
    const hash = there.trim();
    if (hash.startsWith('$6$')) return hash;
    return hashPassword(password, signal);
  }

  /** Writes the seed on the KVM host; returns where it was built. */
  private async buildSeed(seedPath: string, files: Record<string, string>, signal: AbortSignal): Promise<string> {
    const tools = await this.ssh.exec(`${SBIN_PATH}; command -v mkfs.vfat >/dev/null && command -v mcopy >/dev/null && echo yes || true`, signal);
    const dir = posix.dirname(seedPath);
    await this.ssh.exec(`mkdir -p ${sh(dir)} && rm -f ${sh(seedPath)}`, signal);
    const sftp = await this.ssh.sftp();
    const put = (path: string, text: string) => new Promise<void>((resolve, reject) => sftp.writeFile(path, text, { mode: 0o600 }, (err) => (err ? reject(err) : resolve())));
    if (tools.trim() === 'yes') {
      const staging = `${seedPath}.d`;
      await this.ssh.exec(`rm -rf ${sh(staging)} && mkdir -m 700 ${sh(staging)}`, signal);
      try {
        for (const [name, text] of Object.entries(files)) await put(posix.join(staging, name), text);
        const names = Object.keys(files).map((n) => sh(posix.join(staging, n))).join(' ');
        await this.ssh.exec(`${SBIN_PATH}; (umask 077 && mkfs.vfat -n cidata -C ${sh(seedPath)} 1024 >/dev/null) && MTOOLS_SKIP_CHECK=1 mcopy -i ${sh(seedPath)} ${names} ::`, signal);
      } finally {
        await this.ssh.exec(`rm -rf ${sh(staging)}`).catch(() => undefined);
      }
      return 'on the KVM host';
    }
    const local = join(this.workDir, `cidata-${randomBytes(6).toString('hex')}.img`);
    try {
      await mkdir(this.workDir, { recursive: true });
      await buildSeed(local, files, signal).catch((err: unknown) => {
        throw new RehostError('UNPROCESSABLE', `boot: a cloud-init seed needs dosfstools and mtools on the KVM host ${this.ssh.where} or on this machine (${err instanceof Error ? err.message : String(err)})`, { field: 'boot' }, { cause: err });
      });
      await new Promise<void>((resolve, reject) => sftp.fastPut(local, seedPath, { mode: 0o600 }, (err) => (err ? reject(err) : resolve())));
      this.log.info({ seed: seedPath }, 'cloud-init seed built here and pushed: no dosfstools/mtools on the KVM host');
      return 'here and pushed';
    } finally {
      await rm(local, { force: true });
    }
  }
}
