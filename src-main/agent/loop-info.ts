/**
 * Loop devices as the kernel describes them in /sys/block/loopN/loop/: the backing file, the
 * offset into it and the size limit. The inventory uses them to find a partition that is exposed
 * as its own loop device (hosts and test benches without partition devices), and the allocation
 * map uses them to ask the backing file which ranges hold data.
 */
import { readdirSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { readText } from './probe.js';

export interface LoopInfo {
  /** /dev/loopN */
  device: string;
  backingFile: string;
  offset: number;
  /** 0 = up to the end of the backing file. */
  sizeLimit: number;
}

/** The loop behind `device` (any path that resolves to /dev/loopN), or null for other devices. */
export function loopInfo(device: string): LoopInfo | null {
  let real: string;
  try {
    real = realpathSync(device);
  } catch {
    return null;
  }
  const name = basename(real);
  if (!/^loop\d+$/.test(name)) return null;
  const dir = `/sys/block/${name}/loop`;
  const backing = readText(`${dir}/backing_file`)?.trim();
  if (!backing) return null;
  return {
    device: `/dev/${name}`,
    // A deleted backing file reads "/path (deleted)": its data is still there, but not by that name.
    backingFile: backing.replace(/ \(deleted\)$/, ''),
    offset: Number(readText(`${dir}/offset`)?.trim() ?? 0),
    sizeLimit: Number(readText(`${dir}/sizelimit`)?.trim() ?? 0),
  };
}

/** Every attached loop device. */
export function allLoops(): LoopInfo[] {
  let names: string[];
  try {
    names = readdirSync('/sys/block').filter((n) => /^loop\d+$/.test(n));
  } catch {
    return [];
  }
  return names.map((n) => loopInfo(`/dev/${n}`)).filter((l): l is LoopInfo => l !== null);
}

/**
 * Where a device's bytes live: the backing file and offset for a loop device, the device itself at
 * 0 otherwise. Two devices with the same `source` see the same bytes from their `base` on.
 */
export function byteSource(device: string): { source: string; base: number } {
  const loop = loopInfo(device);
  if (loop !== null) return { source: loop.backingFile, base: loop.offset };
  try {
    return { source: realpathSync(device), base: 0 };
  } catch {
    return { source: device, base: 0 };
  }
}
