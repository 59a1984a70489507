/** Small host probes for the inventory: commands and files that may be missing, read tolerantly. */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

/** A command's stdout, or null when it is missing or fails. */
export function run(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 15_000 });
  } catch {
    return null;
  }
}

export function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** `KEY=value` lines (os-release). */
export function parseKeyValues(text: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (text ?? '').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/** MBR, GPT or NONE from the first two sectors of a disk. */
export function partitionStyle(path: string): 'MBR' | 'GPT' | 'NONE' {
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r');
    const b = Buffer.alloc(1024);
    readSync(fd, b, 0, 1024, 0);
    if (b.toString('latin1', 512, 520) === 'EFI PART') return 'GPT';
    return b[510] === 0x55 && b[511] === 0xaa ? 'MBR' : 'NONE';
  } catch {
    return 'NONE';
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** The glibc version (`2.36`), or null on musl or when unknown. */
export function glibcVersion(): string | null {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ?? null;
}
