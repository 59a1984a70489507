/**
 * Reading a Local target's volume or snapshot file whatever format the target keeps: `disk-N.raw`
 * (reflink file systems, or no qemu-utils) or a `disk-N.qcow2` layer with its backing chain.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { sha256File } from '../fixtures/disks.js';

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
