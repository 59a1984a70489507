/**
 * The point-in-time view of an image: images are static, so a raw image is read in place and any
 * other format is converted once to a sparse raw cache file, reused while the source file's size
 * and modification time stay the same. The disk reads that raw file.
 */
import { mkdir, open, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';
import type { SourceDisk } from '../../core/drivers.js';
import type { ByteRange } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import { qemuConvertToRaw, qemuDataExtents } from './qemu-img.js';

interface CacheMeta {
  source: string;
  format: string;
  size: number;
  mtimeMs: number;
  virtualSize: number;
}

/**
 * Returns the raw file to read for `file`: the file itself for raw images, otherwise a cache under
 * `<workDir>/raw-cache/<id>.raw`. The meta file is written last and removed first, so a cache
 * without matching meta is never trusted (a crash mid-convert just converts again).
 */
export async function rawViewFor(file: string, format: string, virtualSize: number, cacheId: string, workDir: string, log: Logger, signal: AbortSignal): Promise<string> {
  if (format === 'raw') return file;
  const dir = join(workDir, 'raw-cache');
  const raw = join(dir, `${cacheId}.raw`);
  const metaFile = join(dir, `${cacheId}.json`);
  const st = await stat(file);
  const want: CacheMeta = { source: file, format, size: st.size, mtimeMs: st.mtimeMs, virtualSize };
  const have = await readFile(metaFile, 'utf8').then((t) => JSON.parse(t) as CacheMeta, () => null);
  const cached = await stat(raw).then((s) => s.size === virtualSize, () => false);
  if (cached && have !== null && JSON.stringify(have) === JSON.stringify(want)) {
    log.debug({ file, raw }, 'raw cache reused');
    return raw;
  }
  await mkdir(dir, { recursive: true });
  await rm(metaFile, { force: true });
  const tmp = `${raw}.partial`;
  await rm(tmp, { force: true });
  log.info({ file, format, raw }, 'converting image to a raw cache');
  try {
    await qemuConvertToRaw(file, format, tmp, signal);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await rename(tmp, raw);
  await writeFile(`${metaFile}.tmp`, JSON.stringify(want));
  await rename(`${metaFile}.tmp`, metaFile);
  return raw;
}

/** One image disk read from its raw view. */
export class ImageDisk implements SourceDisk {
  readonly index = 0;

  private constructor(
    private readonly fh: FileHandle,
    private readonly rawPath: string,
    readonly sizeBytes: number,
    private readonly mode: 'full' | 'incremental',
    private readonly version: string,
  ) {}

  static async open(rawPath: string, sizeBytes: number, mode: 'full' | 'incremental'): Promise<ImageDisk> {
    const fh = await open(rawPath, 'r');
    try {
      const st = await fh.stat();
      return new ImageDisk(fh, rawPath, sizeBytes, mode, `${st.size}:${Math.round(st.mtimeMs)}`);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /**
   * Full sync: the allocated extents (holes are zeros and need no reading). Incremental: null, as
   * an image file keeps no change log; the replicator compares chunk digests instead.
   */
  async areas(signal: AbortSignal): Promise<ByteRange[] | null> {
    if (this.mode === 'incremental') return null;
    return qemuDataExtents(this.rawPath, signal);
  }

  async read(offset: number, length: number, signal: AbortSignal): Promise<Uint8Array> {
    signal.throwIfAborted();
    if (offset < 0 || offset + length > this.sizeBytes) {
      throw new RehostError('DRIVER', `read of ${length} bytes at ${offset} is outside the ${this.sizeBytes}-byte image`);
    }
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) break; // a raw file shorter than its virtual size reads as zeros past its end
      done += bytesRead;
    }
    return buf;
  }

  /**
   * The image's size and modification time: an interrupted copy resumes only while the image is
   * unchanged, and a replaced image starts a new run instead of keeping chunks of the old one.
   */
  marker(): string | null {
    return this.version;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
