/**
 * A DiskSink over a qcow2 layer on the KVM host: `qemu-nbd` serves the file there on a private
 * unix socket, and the engine's NBD client (the Local target's) reaches it through the SSH
 * connection (unix-bridge.ts). qemu-nbd exits by itself once the client disconnects; one left
 * by an engine that died before connecting is stopped through the pid file beside the image,
 * and cleanup stops any (kvm-target.ts). Zero writes become unallocated clusters, so a layer
 * holds only what a sync changed.
 */
import { randomBytes } from 'node:crypto';
import { RehostError } from '../../../src-shared/errors.js';
import type { DiskSink } from '../../core/drivers.js';
import type { ByteRange } from '../../core/model.js';
import { digestsByReading } from '../../replication/sink-digests.js';
import { NbdClient } from '../local/nbd-client.js';
import { sh, type KvmSsh } from './ssh.js';
import { bridgeUnixSocket, type UnixBridge } from './unix-bridge.js';

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

export class RemoteNbdSink implements DiskSink {
  private closed = false;

  private constructor(
    private readonly ssh: KvmSsh,
    private readonly path: string,
    private readonly socket: string,
    private readonly bridge: UnixBridge,
    private readonly client: NbdClient,
  ) {}

  get sizeBytes(): number {
    return this.client.sizeBytes;
  }

  /** Serves the qcow2 layer `path` on the host read-write and connects to it. */
  static async open(ssh: KvmSsh, path: string, signal: AbortSignal): Promise<RemoteNbdSink> {
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
    let bridge: UnixBridge | null = null;
    try {
      bridge = await bridgeUnixSocket(ssh, socket, 'nbd');
      const client = await NbdClient.connect(bridge.path, '', signal);
      return new RemoteNbdSink(ssh, path, socket, bridge, client);
    } catch (err) {
      await bridge?.close();
      await ssh.exec(`${stopNbdScript(pid, path)}; rm -f ${sh(socket)}`).catch(() => undefined);
      const forbidden = err instanceof Error && /FORWARD_REFUSED/.test(err.message);
      throw new RehostError('DRIVER', `cannot write ${path} through qemu-nbd on the KVM host: ${forbidden ? 'the SSH server forbids stream-local forwarding (AllowStreamLocalForwarding)' : err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
    }
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check();
    await this.client.write(offset, data);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.check();
    return this.client.read(offset, length);
  }

  /** Read back over SSH: only the chunks a sync wrote are verified, so this stays small. */
  async digests(ranges: readonly ByteRange[], signal: AbortSignal): Promise<bigint[]> {
    this.check();
    return digestsByReading(ranges, (buf, offset) => this.client.read(offset, buf.length, buf), signal, 4);
  }

  /** A layer over earlier data never reads as all zeros. */
  async isBlank(): Promise<boolean> {
    return false;
  }

  async flush(): Promise<void> {
    if (!this.closed) await this.client.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close().catch(() => undefined);
    await this.bridge.close();
    // qemu-nbd leaves once its client has gone; a stuck one is stopped, its socket removed.
    const pid = sh(nbdPidFile(this.path));
    await this.ssh.exec(`p=$(cat ${pid} 2>/dev/null); for n in $(seq 50); do [ -n "$p" ] && kill -0 $p 2>/dev/null || break; sleep 0.1; done; ${stopNbdScript(nbdPidFile(this.path), this.path)}; rm -f ${sh(this.socket)}`).catch(() => undefined);
  }

  private check(): void {
    if (this.closed) throw new RehostError('CONFLICT', `volume ${this.path} is closed`);
  }
}
