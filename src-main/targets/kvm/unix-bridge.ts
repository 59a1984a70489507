/**
 * A unix socket on the KVM host made reachable here: a private local socket (a named pipe on
 * Windows) whose every connection is carried over the target's SSH connection to the remote
 * socket (OpenSSH stream-local forwarding). Clients written for local sockets (the NBD client,
 * the guest agent probe) then talk to qemu-nbd or a guest agent channel on the host unchanged.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KvmSsh } from './ssh.js';

/** A local end of a remote unix socket; `close()` ends every carried connection. */
export interface UnixBridge {
  /** The local socket path (or pipe name) to connect to. */
  path: string;
  close(): Promise<void>;
}

function localPath(purpose: string): string {
  const name = `rehost-kvm-${purpose}-${randomBytes(6).toString('hex')}`;
  return process.platform === 'win32' ? `\\\\.\\pipe\\${name}` : join(tmpdir(), `${name}.sock`);
}

/** Opens a local socket whose connections reach `remotePath` on the host. */
export async function bridgeUnixSocket(ssh: Pick<KvmSsh, 'forwardUnix'>, remotePath: string, purpose: string): Promise<UnixBridge> {
  const path = localPath(purpose);
  const open = new Set<Socket>();
  const server = createServer((local) => {
    open.add(local);
    local.once('close', () => open.delete(local));
    local.on('error', () => local.destroy());
    // Bytes the client sends before the channel is up wait in the paused socket.
    local.pause();
    ssh.forwardUnix(remotePath).then(
      (remote) => {
        if (local.destroyed) {
          remote.destroy();
          return;
        }
        remote.on('error', () => local.destroy());
        remote.once('close', () => local.destroy());
        local.once('close', () => remote.destroy());
        local.pipe(remote);
        remote.pipe(local);
        local.resume();
      },
      () => local.destroy(),
    );
  });
  if (process.platform !== 'win32') await rm(path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return {
    path,
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (process.platform !== 'win32') await rm(path, { force: true });
    },
  };
}
