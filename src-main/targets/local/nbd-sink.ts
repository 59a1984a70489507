/**
 * A DiskSink over a qcow2 volume layer: `qemu-nbd` serves the file on a private unix socket and
 * NbdClient writes and reads it. qemu-nbd is started per sink and exits by itself when the client
 * disconnects (also when the engine dies: the kernel closes the socket), so no server outlives
 * its sync. Zero writes become unallocated clusters (`--detect-zeroes=unmap`), keeping layers small.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { DiskSink } from '../../core/drivers.js';
import type { ByteRange } from '../../core/model.js';
import { digestsByReading } from '../../replication/sink-digests.js';
import { NbdClient } from '../../replication/nbd-client.js';
import { isBlankImage } from './qcow2.js';

const START_TIMEOUT_MS = 20_000;

/** A running qemu-nbd for one image and a connected client. */
export interface NbdExport {
  client: NbdClient;
  close(): Promise<void>;
}

/** Starts `qemu-nbd` on `path` (format given) and connects to it. */
export async function serveImage(path: string, format: 'qcow2' | 'raw', writable: boolean, signal: AbortSignal): Promise<NbdExport> {
  // Unix socket paths are limited to ~108 bytes, so the socket lives in the temp folder, not beside the image.
  const socketPath = join(tmpdir(), `rehost-nbd-${randomBytes(6).toString('hex')}.sock`);
  const args = [`--socket=${socketPath}`, `--format=${format}`, '--cache=writeback', '--discard=unmap', '--detect-zeroes=unmap'];
  if (!writable) args.push('--read-only');
  await stopLeftover(path);
  const child = spawn('qemu-nbd', [...args, path], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (child.pid !== undefined) await writeFile(pidFile(path), String(child.pid)).catch(() => undefined);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (t: string) => (stderr = (stderr + t).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const spawnFailed = new Promise<Error>((resolve) => child.once('error', resolve));
  try {
    const client = await connectWhenReady(socketPath, exited, spawnFailed, () => stderr, signal);
    return {
      client,
      close: async () => {
        await client.close();
        await stopServer(child, exited);
        await rm(socketPath, { force: true });
        await rm(pidFile(path), { force: true });
      },
    };
  } catch (err) {
    await stopServer(child, exited);
    await rm(socketPath, { force: true });
    await rm(pidFile(path), { force: true });
    throw err;
  }
}

/** Where the pid of the qemu-nbd serving an image is noted (beside it, so cleanup takes it too). */
function pidFile(image: string): string {
  return `${image}.nbd-pid`;
}

/**
 * qemu-nbd leaves by itself once a connected client goes, but one whose engine died before the
 * handshake finished would keep the image locked: a noted pid still running qemu-nbd on this
 * image is terminated first.
 */
async function stopLeftover(image: string): Promise<void> {
  const pid = Number(await readFile(pidFile(image), 'utf8').catch(() => ''));
  if (!Number.isSafeInteger(pid) || pid <= 0) return;
  const alive = async () => {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    return argv[0]!.endsWith('qemu-nbd') && argv.includes(image);
  };
  if (process.platform !== 'linux' || !(await alive())) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 50 && (await alive()); i++) await new Promise((r) => setTimeout(r, 100));
}

async function connectWhenReady(socketPath: string, exited: Promise<number | null>, spawnFailed: Promise<Error>, stderr: () => string, signal: AbortSignal): Promise<NbdClient> {
  let gone: string | null = null;
  void exited.then((code) => (gone ??= `qemu-nbd exited (code ${code}): ${stderr().trim() || 'no message'}`));
  void spawnFailed.then((err) => (gone = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'qemu-nbd is missing: install qemu-utils (Debian/Ubuntu)' : `qemu-nbd did not start: ${err.message}`));
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    signal.throwIfAborted();
    if (gone !== null) throw new RehostError('DRIVER', gone);
    try {
      return await NbdClient.connect(socketPath, '', signal);
    } catch (err) {
      if (Date.now() > deadline) throw new RehostError('DRIVER', `qemu-nbd did not answer within ${START_TIMEOUT_MS / 1000} s: ${stderr().trim()}`, {}, { cause: err });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** qemu-nbd leaves after the client disconnects; a stuck one is terminated. */
async function stopServer(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const timer = setTimeout(() => child.kill('SIGTERM'), 5000);
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
    clearTimeout(killer);
  }
}

/** The sink `LocalTarget.openSink` returns for a layered (qcow2) volume. */
export class NbdSink implements DiskSink {
  private closed = false;

  private constructor(
    private readonly served: NbdExport,
    private blank: boolean,
    private readonly path: string,
    private readonly onClose: (sink: NbdSink) => void,
  ) {}

  get sizeBytes(): number {
    return this.served.client.sizeBytes;
  }

  /** Serves the qcow2 active layer at `path` read-write. */
  static async open(path: string, signal: AbortSignal, onClose: (sink: NbdSink) => void = () => {}): Promise<NbdSink> {
    const blank = await isBlankImage(path, signal);
    const served = await serveImage(path, 'qcow2', true, signal);
    return new NbdSink(served, blank, path, onClose);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check();
    this.blank = false;
    await this.served.client.write(offset, data);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.check();
    return this.served.client.read(offset, length);
  }

  async digests(ranges: readonly ByteRange[], signal: AbortSignal): Promise<bigint[]> {
    this.check();
    // Each read is a round trip to qemu-nbd: four in flight keep it busy while one is hashed.
    return digestsByReading(ranges, (buf, offset) => this.served.client.read(offset, buf.length, buf), signal, 4);
  }

  /** A new layer without backing and nothing allocated reads as zeros (the first sync). */
  async isBlank(): Promise<boolean> {
    return this.blank;
  }

  async flush(): Promise<void> {
    if (!this.closed) await this.served.client.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
    await this.served.close();
  }

  private check(): void {
    if (this.closed) throw new RehostError('CONFLICT', `volume ${this.path} is closed`);
  }
}
