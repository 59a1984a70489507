/**
 * The source disk of `rehost demo` and the checks on it: the bootable busybox fixture when this
 * machine can build and boot it, a generated disk otherwise; the data changes between syncs; the
 * sha256 of source and target; the migrated machine the demo stops when it is done.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

const MiB = 1024 * 1024;
export const DISK_MIB = 256;
/** The busybox fixture: disk size, payload checked at boot, raw data region printed at boot. */
export const BOOT_DISK_MIB = 128;
export const DATA_MIB = 4;

/** Where the source disk comes from: the bootable fixture, or a generated disk and why. */
export type DiskPlan = { bootable: true; image: string } | { bootable: false; why: string };

/**
 * The bootable fixture when this machine can build and boot it: `make-image.sh` (found beside the
 * sources, `REHOST_IMAGE_SCRIPT` to override) run as root, into `~/.cache/rehost-images`.
 */
export function planDisk(out: (line: string) => void): DiskPlan {
  const script = process.env.REHOST_IMAGE_SCRIPT ?? findUp(import.meta.dirname, join('test', 'fixtures', 'images', 'make-image.sh'));
  if (script === null) return { bootable: false, why: 'test/fixtures/images/make-image.sh is not shipped with this build' };
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return { bootable: false, why: 'building the bootable image needs Linux and root' };
  const qemu = process.env.REHOST_QEMU ?? 'qemu-system-x86_64';
  if (spawnSync(qemu, ['--version'], { stdio: 'ignore' }).status !== 0) return { bootable: false, why: `${qemu} is not installed` };
  const cache = process.env.REHOST_IMAGE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'rehost-images');
  const image = join(cache, `busybox-${BOOT_DISK_MIB}M-p16.raw`);
  const t0 = Date.now();
  const res = spawnSync('bash', [script, 'busybox', image], {
    env: { ...process.env, STATE_DIR: cache, SIZE: `${BOOT_DISK_MIB}M`, PAYLOAD_MB: '16', DATA_MB: String(DATA_MIB) },
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (res.status !== 0) return { bootable: false, why: `make-image.sh failed: ${(res.stderr || res.stdout).trim().split('\n').slice(-2).join(' / ')}` };
  out(`  ✓ bootable busybox disk ready in ${image} (${((Date.now() - t0) / 1000).toFixed(1)} s; cached)`);
  return { bootable: true, image };
}

function findUp(from: string, rel: string): string | null {
  let dir = from;
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, rel))) return join(dir, rel);
    dir = dirname(dir);
  }
  return null;
}

export function copySparse(from: string, to: string): void {
  const res = spawnSync('cp', ['--sparse=always', '--', from, to], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`copying ${from}: ${res.stderr}`);
}

/** Fresh random bytes in the raw region at the end of the disk; returns the sha256 the guest prints. */
export function writeDataRegion(path: string): string {
  const bytes = randomBytes(DATA_MIB * MiB);
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, fstatSync(fd).size - bytes.length);
  } finally {
    closeSync(fd);
  }
  return createHash('sha256').update(bytes).digest('hex');
}

export function makeDisk(path: string): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, DISK_MIB * MiB);
    const text = Buffer.from('Rehost demo disk. Lift and shift, block by block. ');
    // In 4 MiB stretches, one chunk each: random, random, zeros (a hole), text.
    for (let mib = 0; mib < DISK_MIB; mib++) {
      const kind = Math.floor(mib / 4) % 4;
      if (kind === 2) continue;
      const buf = kind === 3 ? Buffer.alloc(MiB) : randomBytes(MiB);
      if (kind === 3) for (let o = 0; o < MiB; o += text.length) text.copy(buf, o);
      writeSync(fd, buf, 0, MiB, mib * MiB);
    }
  } finally {
    closeSync(fd);
  }
}

/** Rewrites 4 KiB in two of the 64 blocks of 4 MiB (about 3% of the blocks). */
export function changeDisk(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    for (const block of [5, 37]) writeSync(fd, randomBytes(4096), 0, 4096, block * 4 * MiB + 8192);
  } finally {
    closeSync(fd);
  }
}

export function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Fails unless the target's volume holds the source's bytes; prints the hash. */
export function verify(out: (line: string) => void, source: string, target: string, when: string): void {
  const a = sha256(source);
  const flat = volumeContent(target);
  const b = sha256(flat);
  if (flat !== target) rmSync(flat, { force: true });
  if (a !== b) throw new Error(`verification after ${when}: target ${b} differs from source ${a}`);
  out(`    verified after ${when}: sha256 ${a.slice(0, 16)}… on both sides`);
}

/**
 * The Local target keeps a volume as `<stem>.qcow2` (layered snapshots) or `<stem>.raw`; a qcow2
 * volume is read through qemu-img into a raw file beside it, so both sides hash the same bytes.
 */
function volumeContent(rawPath: string): string {
  const qcow2 = rawPath.replace(/\.raw$/, '.qcow2');
  if (!existsSync(qcow2)) return rawPath;
  const flat = `${qcow2}.verify.raw`;
  const res = spawnSync('qemu-img', ['convert', '-U', '-O', 'raw', qcow2, flat], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`reading ${qcow2}: ${res.stderr || res.error?.message}`);
  return flat;
}

/** Pids of the QEMU processes whose command line holds every one of `parts` (Linux only). */
function pidsWith(...parts: string[]): number[] {
  if (process.platform !== 'linux') return [];
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
    .filter((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
        return parts.every((part) => cmd.includes(part));
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Pids of the machine `instanceId` (QEMU runs it as `-name rehost-<id>`). */
export function machinePids(instanceId: string): number[] {
  return pidsWith(`rehost-${instanceId}`);
}

/**
 * Stops every machine running from the demo's target folder: the demo's own teardown of the
 * machines it booted (the migrated one included: cleanup never stops that one). Resolves with their pids.
 */
export async function stopMachines(targetDir: string): Promise<number[]> {
  const ours = () => pidsWith('-name\0rehost-', `${targetDir}/`);
  const pids = ours();
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of ours()) {
      try {
        process.kill(pid, sig);
      } catch {
        // gone meanwhile
      }
    }
  };
  signal('SIGTERM');
  for (let i = 0; i < 50 && ours().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  signal('SIGKILL');
  return pids;
}
