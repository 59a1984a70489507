/**
 * Which files of `config.path` are disk images, what they are called, and their stable host ids.
 */
import { createHash } from 'node:crypto';
import { access, constants, readdir, stat } from 'node:fs/promises';
import { basename, extname, join, relative, resolve, isAbsolute } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';

/**
 * Extensions qemu-img reads, with the format each one pins. Pinning instead of probing means a
 * damaged .qcow2 is reported as such (not read as a raw disk), a fixed-size VHD (footer only,
 * which probing misses) is read as VHD, and a guest cannot make its raw disk pass for a qcow2
 * with a backing file pointing elsewhere. `.img` is used for both raw and qcow2, so it is probed.
 */
const IMAGE_FORMATS: Record<string, string | null> = {
  '.img': null,
  '.raw': 'raw',
  '.qcow2': 'qcow2',
  '.qcow': 'qcow',
  '.vmdk': 'vmdk',
  '.vhd': 'vpc',
  '.vpc': 'vpc',
  '.vhdx': 'vhdx',
  '.vdi': 'vdi',
};
/** VMDK extents belong to a descriptor `.vmdk` beside them and are not disks of their own. */
const VMDK_EXTENT = /-(flat|delta|sesparse|s\d{3}|f\d{3})\.vmdk$/i;
/** Fixed namespace for image host ids (RFC 4122 v5 over "source path \0 file path"). */
const NAMESPACE = Buffer.from('6f1d2c1e8a4b4f0e9c3d5b7a2e1f0a9c', 'hex');

/** True for file names this source offers as disks (known extension, not a VMDK extent, not hidden). */
export function isImageFile(name: string): boolean {
  return !name.startsWith('.') && extname(name).toLowerCase() in IMAGE_FORMATS && !VMDK_EXTENT.test(name);
}

/** The format to pin for a file name, or null to let qemu-img probe it. */
export function pinnedFormat(file: string): string | null {
  return IMAGE_FORMATS[extname(file).toLowerCase()] ?? null;
}

/** The host name: the file name without its extension. */
export function hostName(file: string): string {
  const name = basename(file);
  return name.slice(0, name.length - extname(name).length) || name;
}

/** A version-5 (SHA-1, name-based) UUID: the same source path and file always give the same id. */
export function hostId(sourcePath: string, file: string): string {
  const hash = createHash('sha1').update(NAMESPACE).update(`${resolve(sourcePath)}\0${resolve(file)}`, 'utf8').digest();
  const b = hash.subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `config.path` after checking: a folder of images or one image file. */
export interface SourceRoot {
  path: string;
  kind: 'folder' | 'file';
}

function pathError(path: string, err: unknown): RehostError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' || code === 'EPERM' ? 'is not readable (permission denied)' : `cannot be read (${code ?? String(err)})`;
  return new RehostError('VALIDATION', `config.path: ${path} ${why}`, { field: 'config.path' }, { cause: err });
}

/** Checks that `config.path` exists and can be read; tells a folder from a single image file. */
export async function checkRoot(path: string): Promise<SourceRoot> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) {
      await access(path, constants.R_OK | constants.X_OK);
      await readdir(path);
      return { path, kind: 'folder' };
    }
    if (!st.isFile()) throw new RehostError('VALIDATION', `config.path: ${path} is neither a folder nor a file`, { field: 'config.path' });
    await access(path, constants.R_OK);
    return { path, kind: 'file' };
  } catch (err) {
    if (RehostError.is(err)) throw err;
    throw pathError(path, err);
  }
}

/** The image files of the root: the file itself, or the folder's image files (not recursive), sorted. */
export async function listImages(root: SourceRoot): Promise<string[]> {
  if (root.kind === 'file') return [root.path];
  const entries = await readdir(root.path, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && isImageFile(e.name))
    .map((e) => join(root.path, e.name))
    .sort();
}

/** A ref handed back by core must be an image file of this source (never an arbitrary path). */
export function assertRef(root: SourceRoot, ref: string): string {
  const file = resolve(ref);
  const rel = relative(root.path, file);
  const inFolder = root.kind === 'folder' && rel !== '' && !isAbsolute(rel) && basename(file) === rel && isImageFile(rel);
  if (!(root.kind === 'file' && file === root.path) && !inFolder) {
    throw new RehostError('NOT_FOUND', `image ${ref} is not an image file of this source (${root.path})`, { field: 'ref' });
  }
  return file;
}
