/**
 * The KVM target driver: a Linux host with QEMU (the way plain KVM and Proxmox VE hosts are used),
 * reached over SSH. Volumes, snapshots and machines live on that host under `config.path`; machines
 * are libvirt domains when `virsh -c <config.libvirt_uri, default qemu:///system>` answers there
 * (through `sudo -n` with `config.sudo`), plain QEMU processes otherwise.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { DriverDeps, TargetDriver } from '../../core/drivers.js';
import { KvmTarget } from './kvm-target.js';
import { KvmLayout } from './layout.js';
import { DEFAULT_LIBVIRT_URI, Libvirt } from './libvirt.js';
import { KvmSsh } from './ssh.js';

/** Kept in the OS keychain, never in the database. */
export const secretFields: readonly string[] = ['password', 'private_key', 'passphrase'];

/** Builds a KVM target for `config.address` (SSH), storing under `config.path` (default /var/lib/rehost). */
export function createKvmTarget(deps: DriverDeps, config: Record<string, unknown>): TargetDriver {
  const address = typeof config.address === 'string' ? config.address : '';
  const username = typeof config.username === 'string' ? config.username : '';
  if (address === '' || username === '') throw new RehostError('VALIDATION', 'config.address and config.username: the KVM host and SSH user are required', { field: 'config.address' });
  if (!deps.secret.password && !deps.secret.private_key) throw new RehostError('VALIDATION', 'config.password or config.private_key: a KVM target needs an SSH password or key', { field: 'config.password' });
  const ssh = new KvmSsh({
    address,
    port: typeof config.port === 'number' ? config.port : 22,
    username,
    hostKey: typeof config.host_key === 'string' ? config.host_key : null,
    secret: deps.secret,
  });
  const uri = typeof config.libvirt_uri === 'string' && config.libvirt_uri !== '' ? config.libvirt_uri : null;
  if (uri !== null && !/^[a-z0-9+]+:\/\/[^\s'"]*$/i.test(uri)) throw new RehostError('VALIDATION', `config.libvirt_uri: ${uri} is not a libvirt URI such as qemu:///system`, { field: 'config.libvirt_uri' });
  const libvirt = new Libvirt(ssh, { uri: uri ?? DEFAULT_LIBVIRT_URI, sudo: config.sudo === true, required: uri !== null });
  const directAddress = typeof config.direct_address === 'string' && config.direct_address.trim() !== '' ? config.direct_address.trim() : null;
  return new KvmTarget(deps, ssh, new KvmLayout(typeof config.path === 'string' ? config.path : '/var/lib/rehost'), libvirt, directAddress);
}
