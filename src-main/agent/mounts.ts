/** The mount table (/proc/mounts) and file system usage (statfs), read tolerantly. */
import { realpathSync, statfsSync } from 'node:fs';
import { readText } from './probe.js';

export interface MountEntry {
  /** The source as the kernel lists it, resolved to its device node when it is a path. */
  device: string;
  mountPoint: string;
  fsType: string;
  options: string;
}

/** `\040` and friends in /proc/mounts fields. */
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Parses /proc/mounts text; `resolve` turns a device path into its node (realpath). Pure apart from `resolve`. */
export function parseMounts(text: string, resolve: (p: string) => string = resolveDevice): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const source = unescape(f[0]!);
    out.push({ device: source.startsWith('/') ? resolve(source) : source, mountPoint: unescape(f[1]!), fsType: f[2]!, options: f[3]! });
  }
  return out;
}

function resolveDevice(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

export function readMounts(): MountEntry[] {
  return parseMounts(readText('/proc/self/mounts') ?? readText('/proc/mounts') ?? '');
}

/** The first mount of `device` (a resolved node), preferring `/` and shorter paths. */
export function mountOf(mounts: readonly MountEntry[], device: string): MountEntry | null {
  const mine = mounts.filter((m) => m.device === device);
  return mine.sort((a, b) => a.mountPoint.length - b.mountPoint.length)[0] ?? null;
}

export interface Usage {
  size: number;
  used: number;
  free: number;
  blockSize: number;
  blocks: number;
  inodes: number;
}

/** statfs of a mounted path, or null. `free` is what an unprivileged writer can use. */
export function usageOf(path: string): Usage | null {
  try {
    const s = statfsSync(path);
    return { size: s.blocks * s.bsize, used: (s.blocks - s.bfree) * s.bsize, free: s.bavail * s.bsize, blockSize: s.bsize, blocks: s.blocks, inodes: s.files };
  } catch {
    return null;
  }
}
