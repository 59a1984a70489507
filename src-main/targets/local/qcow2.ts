/**
 * qemu-img steps behind the Local target's layered volumes: a volume is a qcow2 "active layer";
 * a snapshot freezes it and a new active layer goes on top (backing = the frozen one), so a
 * snapshot costs only what changed since the previous one. Backing paths are written relative to
 * the image's folder, so a target folder can be moved as a whole.
 */
import { execFile } from 'node:child_process';
import { dirname, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { RehostError } from '../../../src-shared/errors.js';

const run = promisify(execFile);

/** What `qemu-img info` says about one image. */
export interface ImageInfo {
  format: string;
  virtualSize: number;
  /** Absolute path of the backing file, or null. */
  backing: string | null;
  /** The backing name as the header holds it (relative names count from the image's folder). */
  backingName: string | null;
  backingFormat: string | null;
}

async function qemuImg(args: string[], signal: AbortSignal): Promise<string> {
  try {
    const { stdout } = await run('qemu-img', args, { signal, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new RehostError('UNPROCESSABLE', 'qemu-img is missing: install qemu-utils (Debian/Ubuntu) for Local target volumes', { field: 'config.path' }, { cause: err });
    const detail = (e.stderr ?? '').trim() || (err instanceof Error ? err.message : String(err));
    throw new RehostError('DRIVER', `qemu-img ${args[0]} failed: ${detail}`, {}, { cause: err });
  }
}

/** True when qemu-img and qemu-nbd both run (layered volumes need them). */
export async function hasQemuTools(): Promise<boolean> {
  const runs = (cmd: string) => run(cmd, ['--version'], { timeout: 30_000 }).then(() => true, () => false);
  return (await runs('qemu-img')) && (await runs('qemu-nbd'));
}

/** Grows an image's virtual size. */
export async function resizeImage(path: string, sizeBytes: number, signal: AbortSignal): Promise<void> {
  await qemuImg(['resize', '-q', path, String(sizeBytes)], signal);
}

/**
 * A qcow2 layer over `backing` (its format given, so qemu never probes). `-u` because the backing
 * may not be at that path yet (it is renamed into place right after), so the size comes from the caller.
 */
export async function createLayer(path: string, backing: string, backingFormat: 'raw' | 'qcow2', sizeBytes: number, signal: AbortSignal): Promise<void> {
  const rel = relative(dirname(resolve(path)), resolve(backing));
  await qemuImg(['create', '-q', '-u', '-f', 'qcow2', '-F', backingFormat, '-b', rel, path, String(sizeBytes)], signal);
}

/** Reads the image header; `-U` because a running machine or qemu-nbd may hold the image. */
export async function imageInfo(path: string, signal: AbortSignal): Promise<ImageInfo> {
  const info = JSON.parse(await qemuImg(['info', '-U', '--output=json', path], signal)) as Record<string, unknown>;
  // Relative backing names count from the image's folder (absolute ones pass through resolve).
  const backingName = typeof info['backing-filename'] === 'string' ? info['backing-filename'] : null;
  const backing = backingName === null ? null : resolve(dirname(resolve(path)), backingName);
  return {
    format: String(info.format),
    virtualSize: Number(info['virtual-size']),
    backing,
    backingName,
    backingFormat: typeof info['backing-filename-format'] === 'string' ? info['backing-filename-format'] : null,
  };
}

/**
 * The raw `base` when `path` lies directly on it and holds nothing itself (every extent, zeros
 * included, is read from below), so writing the base changes what `path` reads; else null.
 */
export async function directBase(path: string, base: string, signal: AbortSignal): Promise<{ base: string; virtualSize: number } | null> {
  const info = await imageInfo(path, signal);
  if (info.backing !== resolve(base) || info.backingFormat !== 'raw') return null;
  const map = JSON.parse(await qemuImg(['map', '-U', '--output=json', path], signal)) as { depth: number }[];
  return map.every((m) => m.depth > 0) ? { base: info.backing, virtualSize: info.virtualSize } : null;
}

/** True when the image has no backing and no allocated cluster: it reads as zeros everywhere. */
export async function isBlankImage(path: string, signal: AbortSignal): Promise<boolean> {
  const info = await imageInfo(path, signal);
  if (info.backing !== null) return false;
  const map = JSON.parse(await qemuImg(['map', '-U', '--output=json', path], signal)) as { data: boolean }[];
  return map.every((m) => !m.data);
}

/**
 * Writes what `top` holds into its backing file, keeping `top` as it is (`-d`): afterwards the
 * backing file reads exactly like `top`. Fails (rather than waits) when a running machine holds
 * the backing file, since qemu locks images it uses.
 */
export async function commitIntoBacking(top: string, signal: AbortSignal): Promise<void> {
  await qemuImg(['commit', '-q', '-d', top], signal);
}

/** Points `image` at another backing file without touching data (`rebase -u`): for when the data already reads right. */
export async function rebaseHeader(image: string, backing: string, backingFormat: string, signal: AbortSignal): Promise<void> {
  await qemuImg(['rebase', '-q', '-u', '-F', backingFormat, '-b', relative(dirname(resolve(image)), resolve(backing)), image], signal);
}

/**
 * A new qcow2 that reads exactly like `from`: holding only what differs from `backing` when one
 * is given, everything otherwise. Reads with `-U`, so it works while machines use `from`.
 */
export async function convertLayer(from: string, to: string, backing: { path: string; format: string } | null, signal: AbortSignal): Promise<void> {
  const args = ['convert', '-q', '-U', '-O', 'qcow2', '-o', 'cluster_size=65536'];
  if (backing) args.push('-B', relative(dirname(resolve(to)), resolve(backing.path)), '-F', backing.format);
  await qemuImg([...args, from, to], signal);
}

/** An independent sparse raw copy of what `from` reads as (its whole backing chain flattened). */
export async function flattenToRaw(from: string, to: string, signal: AbortSignal): Promise<void> {
  await qemuImg(['convert', '-q', '-U', '-O', 'raw', '-S', '4k', from, to], signal);
}
