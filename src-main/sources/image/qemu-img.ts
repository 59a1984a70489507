/**
 * The qemu-img calls the Image source needs, run with argument arrays (never a shell) and an
 * AbortSignal that kills the child. Failures become RehostErrors carrying qemu-img's own message.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RehostError } from '../../../src-shared/errors.js';
import type { ByteRange } from '../../core/model.js';

const run = promisify(execFile);
/** `qemu-img map` lists one line per extent; a fragmented multi-TB image can print a lot. */
const MAX_OUTPUT = 256 * 1024 * 1024;

/** What `qemu-img info` says about an image. */
export interface ImageInfo {
  format: string;
  virtualSize: number;
  actualSize: number;
  backingFile: string | null;
  encrypted: boolean;
}

async function qemuImg(args: string[], signal: AbortSignal, what: string): Promise<string> {
  try {
    const { stdout } = await run('qemu-img', args, { signal, maxBuffer: MAX_OUTPUT, encoding: 'utf8' });
    return stdout;
  } catch (err) {
    signal.throwIfAborted();
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new RehostError('UNAVAILABLE', 'qemu-img is not installed (Debian/Ubuntu: apt install qemu-utils; macOS: brew install qemu)', {}, { cause: err });
    }
    const detail = ((e.stderr ?? '').trim().split('\n').filter(Boolean).at(-1) ?? e.message).replace(/^qemu-img: /, '');
    throw new RehostError('DRIVER', `${what}: ${detail}`, {}, { cause: err });
  }
}

/** The qemu-img version line, or a RehostError when it is missing. */
export async function qemuImgVersion(signal: AbortSignal): Promise<string> {
  const out = await qemuImg(['--version'], signal, 'qemu-img --version failed');
  return /qemu-img version (\S+)/.exec(out)?.[1] ?? 'unknown';
}

/**
 * Format and sizes. `-U` (force share) lets discovery look at an image a running VM holds open;
 * the conversion below does not use it, so copying an image in use fails loudly instead.
 * `format` pins the format (see `pinnedFormat`); null lets qemu-img probe it.
 */
export async function qemuInfo(path: string, format: string | null, signal: AbortSignal): Promise<ImageInfo> {
  const args = ['info', '--output=json', '-U', ...(format ? ['-f', format] : []), '--', path];
  const out = await qemuImg(args, signal, `cannot read image ${path}`);
  const info = JSON.parse(out) as Record<string, unknown>;
  return {
    format: String(info.format ?? 'unknown'),
    virtualSize: Number(info['virtual-size'] ?? 0),
    actualSize: Number(info['actual-size'] ?? 0),
    backingFile: typeof info['backing-filename'] === 'string' ? info['backing-filename'] : null,
    encrypted: info.encrypted === true,
  };
}

/** The extents of a raw file that hold data (qemu-img asks the file system with SEEK_DATA/SEEK_HOLE). */
export async function qemuDataExtents(rawPath: string, signal: AbortSignal): Promise<ByteRange[]> {
  const out = await qemuImg(['map', '--output=json', '-U', '-f', 'raw', '--', rawPath], signal, `cannot map image ${rawPath}`);
  const entries = JSON.parse(out) as { start: number; length: number; data: boolean }[];
  const ranges: ByteRange[] = [];
  for (const e of entries) {
    if (!e.data) continue;
    const last = ranges.at(-1);
    if (last !== undefined && last.offset + last.length === e.start) last.length += e.length;
    else ranges.push({ offset: e.start, length: e.length });
  }
  return ranges;
}

/** Converts an image to a sparse raw file (holes stay holes: qemu-img skips zero runs by default). */
export async function qemuConvertToRaw(src: string, format: string, dst: string, signal: AbortSignal): Promise<void> {
  await qemuImg(['convert', '-f', format, '-O', 'raw', '--', src, dst], signal, `cannot convert image ${src} to raw`);
}

/**
 * Reads `length` bytes at `offset` of a non-raw image through `qemu-img dd` into a scratch file.
 * Offset and length must be multiples of 512. qemu-img dd counts `count` from the start of the
 * input, not from `skip`, hence count = (offset + length) / 512.
 */
export async function qemuReadAt(path: string, format: string, offset: number, length: number, scratchDir: string, signal: AbortSignal): Promise<Uint8Array> {
  if (offset % 512 !== 0 || length % 512 !== 0) throw new RangeError('qemuReadAt needs 512-byte aligned offset and length');
  await mkdir(scratchDir, { recursive: true });
  const out = join(scratchDir, `read-${randomUUID()}.raw`);
  try {
    const args = ['dd', '-U', '-f', format, '-O', 'raw', 'bs=512', `skip=${offset / 512}`, `count=${(offset + length) / 512}`, `if=${path}`, `of=${out}`];
    await qemuImg(args, signal, `cannot read image ${path} at offset ${offset}`);
    const data = await readFile(out);
    if (data.length >= length) return data.subarray(0, length);
    const padded = Buffer.alloc(length);
    data.copy(padded);
    return padded;
  } finally {
    await rm(out, { force: true });
  }
}
