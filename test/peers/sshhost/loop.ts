/** Loop devices for the agent tests: a disk image attached as /dev/loopN (needs root). */
import { execFileSync } from 'node:child_process';

/**
 * Attaches `file` to the first free loop device and returns its path. `directIo`: the loop device
 * reads and writes its file with direct I/O (no second page cache under the device's own).
 */
export function attachLoop(file: string, options: { directIo?: boolean } = {}): string {
  return execFileSync('losetup', ['-f', '--show', ...(options.directIo ? ['--direct-io=on'] : []), file], { encoding: 'utf8' }).trim();
}

/** Detaches a loop device this test attached; a device already gone is fine. */
export function detachLoop(device: string): void {
  try {
    execFileSync('losetup', ['-d', device], { stdio: 'ignore' });
  } catch {
    // Already detached.
  }
}

/** True when this process may attach loop devices (root, and the kernel has them). */
export function canUseLoop(): boolean {
  try {
    execFileSync('losetup', ['-f'], { stdio: 'ignore' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}
