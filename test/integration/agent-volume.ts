/** Byte equality of a Local target volume and its source disk, whichever format the target keeps (raw or qcow2). */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File } from '../fixtures/disks.js';

/** The volume file of disk `index` in a Local target's host folder. */
export function volumeFile(hostDir: string, index = 0): string {
  for (const ext of ['qcow2', 'raw']) {
    const p = join(hostDir, `disk-${index}.${ext}`);
    if (existsSync(p)) return p;
  }
  throw new Error(`no volume for disk ${index} in ${hostDir}`);
}

/** True when the volume holds exactly the bytes of `device`. */
export function sameContent(hostDir: string, device: string, index = 0): boolean {
  const vol = volumeFile(hostDir, index);
  if (vol.endsWith('.raw')) return sha256File(vol) === sha256File(device);
  const cmp = spawnSync('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'raw', vol, device]);
  return cmp.status === 0;
}
