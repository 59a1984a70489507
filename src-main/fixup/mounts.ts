/**
 * Opening a guest disk image on this machine without device-mapper or partition devices: a
 * qcow2 is exposed as a raw file through a `qemu-storage-daemon` FUSE export; partitions are
 * loop devices at a byte offset (`losetup -o … --sizelimit …`). Everything attached is recorded
 * on a stack and released in reverse order, also after a failure or an abort.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../core/ports.js';

const execFileP = promisify(execFile);

/** Runs a command; the error message carries the command's stderr (never the environment). */
export async function run(cmd: string, args: readonly string[], opts: { signal?: AbortSignal; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args as string[], {
      ...(opts.signal ? { signal: opts.signal } : {}),
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
      ...(opts.env ? { env: opts.env } : {}),
    });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; killed?: boolean };
    const why = e.code === 'ENOENT' ? 'is not installed' : e.killed ? 'timed out' : (e.stderr ?? '').trim().split('\n').slice(-4).join(' / ') || e.message;
    throw new Error(`${[cmd, ...args].join(' ')}: ${why}`, { cause: err });
  }
}

/** The attachments of one fix-up run, released newest first. */
export class Attachments {
  private readonly undo: { what: string; release: () => Promise<void> }[] = [];
  private scratch: string | null = null;

  constructor(
    private readonly log: Logger,
    private readonly signal: AbortSignal,
  ) {}

  /** A private temporary folder for mount points, removed last. */
  async tempDir(): Promise<string> {
    this.scratch ??= await mkdtemp(join(tmpdir(), 'rehost-fixup-'));
    return this.scratch;
  }

  /** The image as a raw byte file: itself, or a FUSE export of the qcow2 (writes go to the qcow2). */
  async rawView(imagePath: string, format: 'raw' | 'qcow2'): Promise<string> {
    if (format === 'raw') return imagePath;
    const file = join(await this.tempDir(), 'disk.raw');
    await writeFile(file, '');
    const daemon = spawn(
      'qemu-storage-daemon',
      ['--blockdev', `driver=file,node-name=file0,filename=${imagePath}`, '--blockdev', 'driver=qcow2,node-name=disk0,file=file0', '--export', `type=fuse,id=exp0,node-name=disk0,mountpoint=${file},writable=on`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    daemon.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    daemon.once('error', (err: NodeJS.ErrnoException) => (stderr += err.code === 'ENOENT' ? 'qemu-storage-daemon is not installed (qemu-utils)' : err.message));
    this.undo.push({ what: `qemu-storage-daemon (${imagePath})`, release: () => stopDaemon(daemon) });
    await waitForExport(file, daemon, () => stderr, this.signal);
    return file;
  }

  /** A loop device over `[offset, offset+size)` of `file`. */
  async loop(file: string, offset: number, size: number, readOnly: boolean): Promise<string> {
    const args = ['--find', '--show', '--offset', String(offset), '--sizelimit', String(size), ...(readOnly ? ['--read-only'] : []), file];
    // Not cut short by a cancel: a losetup killed after attaching would leave a device nobody knows.
    const dev = (await run('losetup', args)).trim();
    this.undo.push({ what: `loop ${dev}`, release: () => detachLoop(dev) });
    this.signal.throwIfAborted();
    return dev;
  }

  /** `mount [-t type] [-o opts] source dir`; the folder is made when missing. */
  async mount(source: string, dir: string, opts: { type?: string; options?: string } = {}): Promise<void> {
    await run('mkdir', ['-p', dir]);
    // As for losetup: a mount that was under way when cancelled is recorded, then released.
    await run('mount', [...(opts.type ? ['-t', opts.type] : []), ...(opts.options ? ['-o', opts.options] : []), source, dir]);
    this.undo.push({ what: `mount ${dir}`, release: () => unmount(dir) });
    this.signal.throwIfAborted();
  }

  /** Releases the newest attachments down to `depth` (all of them by default). */
  async release(depth = 0): Promise<void> {
    const errors: string[] = [];
    while (this.undo.length > depth) {
      const item = this.undo.pop()!;
      try {
        await item.release();
      } catch (err) {
        errors.push(`${item.what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (depth === 0 && this.scratch) {
      await rm(this.scratch, { recursive: true, force: true }).catch(() => undefined);
      this.scratch = null;
    }
    if (errors.length > 0) {
      this.log.error({ errors }, 'fix-up could not release everything');
      throw new Error(`fix-up cleanup left attachments behind: ${errors.join('; ')}`);
    }
  }

  /** How many attachments are held now (for a later partial `release`). */
  get depth(): number {
    return this.undo.length;
  }
}

async function unmount(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await run('umount', [dir]);
      return;
    } catch (err) {
      if (attempt === 4) {
        // Busy after retries (a stray process in the chroot): detach lazily so the loop can go.
        await run('umount', ['-l', dir]).catch(() => {
          throw err;
        });
        return;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

async function detachLoop(dev: string): Promise<void> {
  await run('losetup', ['--detach', dev]);
}

async function waitForExport(file: string, daemon: ChildProcess, stderr: () => string, signal: AbortSignal): Promise<void> {
  const dirDev = (await stat(join(file, '..'))).dev;
  for (let i = 0; i < 150; i++) {
    if (signal.aborted) throw signal.reason;
    if (daemon.exitCode !== null || daemon.signalCode !== null || (daemon.pid === undefined && stderr() !== '')) {
      const why = stderr().trim();
      throw new Error(`qemu-storage-daemon exited: ${why || 'no message'}${why === '' || /fuse/i.test(why) ? ' (is /dev/fuse available?)' : ''}`);
    }
    const st = await stat(file).catch(() => null);
    if (st && st.dev !== dirDev) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`qemu-storage-daemon did not export ${file} within 15 s: ${stderr().trim()}`);
}

async function stopDaemon(daemon: ChildProcess): Promise<void> {
  if (daemon.pid === undefined || daemon.exitCode !== null || daemon.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
  daemon.kill('SIGTERM');
  const timer = setTimeout(() => daemon.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
