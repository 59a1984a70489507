/**
 * Reading a Local target's volume whatever format the target keeps: `disk-N.raw` (reflink file
 * systems, or no qemu-utils) or a `disk-N.qcow2` layer with its backing chain.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File } from './fixtures/disks.js';

/** The volume file of disk `index` in a Local target's host folder. */
export function volumeFile(hostDir: string, index = 0): string {
  for (const ext of ['qcow2', 'raw']) {
    const p = join(hostDir, `disk-${index}.${ext}`);
    if (existsSync(p)) return p;
  }
  throw new Error(`no volume for disk ${index} in ${hostDir}`);
}

/** sha256 of what the volume reads as; `path` may name the `.raw` file even when the target keeps `.qcow2`. */
export function volumeSha256(path: string): string {
  const qcow2 = path.replace(/\.raw$/, '.qcow2');
  if (!existsSync(qcow2)) return sha256File(path);
  const flat = `${qcow2}.flat-${process.pid}.raw`;
  try {
    execFileSync('qemu-img', ['convert', '-U', '-O', 'raw', qcow2, flat]);
    return sha256File(flat);
  } finally {
    rmSync(flat, { force: true });
  }
}

/** True when the volume of disk `index` holds exactly the bytes of `device`. */
export function sameContent(hostDir: string, device: string, index = 0): boolean {
  const vol = volumeFile(hostDir, index);
  if (vol.endsWith('.raw')) return sha256File(vol) === sha256File(device);
  return spawnSync('qemu-img', ['compare', '-q', '-U', '-f', 'qcow2', '-F', 'raw', vol, device]).status === 0;
}
