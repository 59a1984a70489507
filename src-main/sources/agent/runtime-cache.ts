/**
 * The agent's Node runtime cached on the host, so an agent start uploads the small agent files
 * and not the runtime (over 100 MB) each time. Root keeps it in
 * /var/tmp/rehost-runtime/<sha256>/node, other login users in ~/.cache/rehost/runtime/<sha256>/node
 * (with sudo the upload still runs as the login user). A cached copy is run only after its sha256
 * was checked on the host; a missing or wrong one is uploaded again under a temp name, checked,
 * and renamed into place, so a concurrent start never runs a half-written file. Unregistering the
 * source removes the cache (removeRuntimeCache).
 */
import { randomBytes } from 'node:crypto';
import type { Client, SFTPWrapper } from 'ssh2';
import { RehostError } from '../../../src-shared/errors.js';
import type { PushFile } from './bundle.js';
import { execText, sh, upload } from './ssh.js';

/** The login user on the host. */
export interface HostUser {
  uid: number;
  name: string;
  home: string;
}

/** Where this start's runtime came from: the cache, a first upload, a re-upload over a bad copy, or the host's own node. */
export interface RuntimeUse {
  state: 'cached' | 'uploaded' | 'replaced' | 'host';
  path: string | null;
  /** Runtime bytes sent over SFTP for this start (0 when the cache was good). */
  uploadedBytes: number;
}

export async function hostUser(client: Client): Promise<HostUser> {
  const res = await execText(client, 'id -u && id -un && printf "%s\\n" "$HOME"');
  const [uid = '', name = '', home = ''] = res.stdout.trim().split('\n');
  if (res.code !== 0 || !/^\d+$/.test(uid.trim())) throw new RehostError('DRIVER', `cannot tell which user the SSH login runs as: ${res.stderr.trim() || res.stdout.trim()}`);
  return { uid: Number(uid), name: name.trim(), home: home.trim() };
}

/** The cache folder for `user` on the host. */
export function runtimeCacheRoot(user: Pick<HostUser, 'uid' | 'home'>): string {
  if (user.uid === 0) return '/var/tmp/rehost-runtime';
  if (!user.home.startsWith('/')) throw new RehostError('DRIVER', `the login user has no home folder for the runtime cache (HOME=${user.home || 'empty'})`);
  return `${user.home.replace(/\/+$/, '')}/.cache/rehost/runtime`;
}

/** The shell command that removes the cache and the folders it alone created. */
export function removeCacheCommand(user: Pick<HostUser, 'uid' | 'home'>): string {
  const root = runtimeCacheRoot(user);
  if (user.uid === 0) return `rm -rf ${sh(root)}`;
  const parent = root.replace(/\/runtime$/, '');
  // The emptied ~/.cache/rehost goes too; ~/.cache only when nothing else lives in it.
  return `rm -rf ${sh(root)} && { rmdir ${sh(parent)} 2>/dev/null; rmdir ${sh(parent.replace(/\/rehost$/, ''))} 2>/dev/null; true; }`;
}

/** Makes sure a runtime whose sha256 is `file.sha256` is in the cache; returns its path. */
export async function ensureRuntime(client: Client, sftp: SFTPWrapper, file: PushFile, user: HostUser, signal: AbortSignal): Promise<RuntimeUse & { path: string }> {
  const root = runtimeCacheRoot(user);
  const folder = `${root}/${file.sha256}`;
  const path = `${folder}/node`;
  // The folders must be the login user's and closed to others: /var/tmp is shared, and someone
  // else's folder would let them swap the binary between the check and the run.
  const prep = await execText(client, `mkdir -p ${sh(folder)} && chmod 700 ${sh(root)} ${sh(folder)} && stat -c %u ${sh(root)} ${sh(folder)} && { sha256sum ${sh(path)} 2>/dev/null || true; }`);
  const lines = prep.stdout.trim().split('\n');
  if (prep.code !== 0) throw new RehostError('DRIVER', `cannot prepare the runtime cache ${root} on the host: ${prep.stderr.trim() || `exit code ${prep.code}`}`);
  if (lines[0] !== String(user.uid) || lines[1] !== String(user.uid)) throw new RehostError('DRIVER', `the runtime cache ${root} on the host belongs to another user (uid ${lines[0]}); remove it and retry`);
  const sum = lines[2]?.split(/\s+/)[0];
  if (sum === file.sha256) return { state: 'cached', path, uploadedBytes: 0 };

  signal.throwIfAborted();
  const part = `${folder}/node.${randomBytes(6).toString('hex')}.part`;
  await upload(sftp, file.local, part);
  const check = await execText(client, `sha256sum ${sh(part)}`);
  if (check.stdout.split(/\s+/)[0] !== file.sha256) {
    await execText(client, `rm -f ${sh(part)}`).catch(() => undefined);
    throw new RehostError('DRIVER', `the uploaded Node runtime does not match its sha256 on the host (${check.stderr.trim() || 'checksum differs'})`);
  }
  const move = await execText(client, `mv -f ${sh(part)} ${sh(path)}`);
  if (move.code !== 0) throw new RehostError('DRIVER', `cannot put the Node runtime into ${folder}: ${move.stderr.trim()}`);
  const { size } = await new Promise<{ size: number }>((resolve, reject) => sftp.stat(path, (err, st) => (err ? reject(err) : resolve(st))));
  return { state: sum === undefined ? 'uploaded' : 'replaced', path, uploadedBytes: size };
}

/** Removes the runtime cache of the login user from the host (on unregister of the source). */
export async function removeRuntimeCache(client: Client): Promise<void> {
  const user = await hostUser(client);
  const res = await execText(client, removeCacheCommand(user));
  if (res.code !== 0) throw new RehostError('DRIVER', `cannot remove the runtime cache ${runtimeCacheRoot(user)} from the host: ${res.stderr.trim()}`);
}
