/**
 * qemu-nbd on the KVM host serving a qcow2 layer on a private unix socket there; the sink agent
 * on the host writes the layer through it (agent/disks.ts), so the layer's format stays qemu's
 * business and a source agent may still send chunks directly. qemu-nbd exits by itself once its
 * client disconnects; one left by an engine that died before connecting is stopped through the
 * pid file beside the image, and cleanup stops any (kvm-target.ts). Zero writes become
 * unallocated clusters, so a layer holds only what a sync changed.
 */
import { randomBytes } from 'node:crypto';
import { sh, type KvmSsh } from './ssh.js';

/** Where the pid of the qemu-nbd serving `image` is noted on the host. */
export function nbdPidFile(image: string): string {
  return `${image}.nbd-pid`;
}

/** Shell: stops the qemu-nbd noted in `pidFile` when it still serves `image` (pids are reused), and forgets it. */
export function stopNbdScript(pidFile: string, image: string): string {
  const [p, i] = [sh(pidFile), sh(image)];
  return (
    `{ pid=$(cat ${p} 2>/dev/null); if [ -n "$pid" ] && tr '\\0' '\\n' < /proc/$pid/cmdline 2>/dev/null | grep -qxF -- ${i}; then ` +
    `kill $pid; for n in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done; kill -9 $pid 2>/dev/null; fi; rm -f ${p}; }`
  );
}

/**
 * Starts qemu-nbd on the host serving the qcow2 layer `path` read-write on a fresh unix socket
 * there, and returns the socket's path. Zero writes leave clusters unallocated.
 */
export async function serveLayer(ssh: KvmSsh, path: string, signal: AbortSignal): Promise<string> {
  // Unix socket paths are short (108 bytes): the socket goes to /tmp, not beside the image.
  const socket = `/tmp/rehost-kvmnbd-${randomBytes(6).toString('hex')}.sock`;
  const log = `${path}.nbd-log`;
  const pid = nbdPidFile(path);
  await ssh.exec(
    `${stopNbdScript(pid, path)}; command -v qemu-nbd >/dev/null || { echo 'qemu-nbd is missing on the KVM host: install qemu-utils there' >&2; exit 3; }; ` +
      `qemu-nbd --fork --socket=${sh(socket)} --pid-file=${sh(pid)} --format=qcow2 --cache=writeback --discard=unmap --detect-zeroes=unmap -- ${sh(path)} </dev/null >/dev/null 2>${sh(log)} ` +
      `|| { cat ${sh(log)} >&2; rm -f ${sh(log)}; exit 1; }; rm -f ${sh(log)}`,
    signal,
  );
  return socket;
}

/** qemu-nbd leaves once its client has gone; a stuck one is stopped, its socket removed. */
export async function stopServingLayer(ssh: KvmSsh, path: string, socket: string): Promise<void> {
  const pid = sh(nbdPidFile(path));
  await ssh.exec(`p=$(cat ${pid} 2>/dev/null); for n in $(seq 50); do [ -n "$p" ] && kill -0 $p 2>/dev/null || break; sleep 0.1; done; ${stopNbdScript(nbdPidFile(path), path)}; rm -f ${sh(socket)}`).catch(() => undefined);
}
