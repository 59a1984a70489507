/**
 * Which ranges of a disk hold data, for a full sync that must never read holes: a disk that is a
 * regular file, or a loop device over one (its backing file and offset from /sys/block/loopN/loop/),
 * is asked with SEEK_DATA / SEEK_HOLE. Node has no lseek, so a few lines of perl (present on
 * Debian-family hosts: perl-base is essential) or python3 (RHEL's platform-python) ask the
 * kernel. Anything else (a plain block device, no interpreter, a file system that cannot say)
 * answers null: the whole disk is read, and zero chunks are still detected and not sent.
 */
import { statSync } from 'node:fs';
import { loopInfo } from './loop-info.js';
import { run } from './probe.js';

/** `[offset, length]` pairs in disk bytes. */
export type Ranges = [number, number][];

/** Prints "data hole" pairs in [start, end); exit 3 when the kernel cannot answer. */
const PERL = `open(my $f, '<', $ARGV[0]) or exit 2; my ($p, $e) = ($ARGV[1] + 0, $ARGV[2] + 0);
while ($p < $e) { my $d = sysseek($f, $p, 3); if (!defined $d) { last if $!{ENXIO}; exit 3 } $d += 0; last if $d >= $e;
my $h = sysseek($f, $d, 4); exit 3 unless defined $h; $h += 0; print "$d $h\\n"; $p = $h }`;
const PYTHON = `import os, sys, errno
f = os.open(sys.argv[1], os.O_RDONLY); p, e = int(sys.argv[2]), int(sys.argv[3])
while p < e:
    try: d = os.lseek(f, p, os.SEEK_DATA)
    except OSError as x:
        if x.errno == errno.ENXIO: break
        sys.exit(3)
    if d >= e: break
    h = os.lseek(f, d, os.SEEK_HOLE); print(d, h); p = h`;

/** Parses "data hole" lines into ranges clipped to [start, end), relative to `start`. Pure. */
export function parseDataHoles(text: string, start: number, end: number): Ranges {
  const out: Ranges = [];
  for (const line of text.split('\n')) {
    const [d, h] = line.trim().split(/\s+/).map(Number);
    if (d === undefined || h === undefined || !Number.isFinite(d) || !Number.isFinite(h)) continue;
    const from = Math.max(d, start);
    const to = Math.min(h, end);
    if (to > from) out.push([from - start, to - from]);
  }
  return out;
}

/** The ways to ask the kernel, in order: perl, then python. */
export const SEEKERS: readonly { name: string; cmd: string; flag: string; script: string }[] = [
  { name: 'perl', cmd: 'perl', flag: '-e', script: PERL },
  { name: 'python3', cmd: 'python3', flag: '-c', script: PYTHON },
  { name: 'platform-python', cmd: '/usr/libexec/platform-python', flag: '-c', script: PYTHON },
];

/**
 * The data ranges of a regular file within [start, start + length), relative to `start`; null
 * when unknown. `seekers` are tried in order.
 */
export function fileDataRanges(file: string, start: number, length: number, seekers = SEEKERS): Ranges | null {
  const args = [file, String(start), String(start + length)];
  for (const s of seekers) {
    const out = run(s.cmd, [s.flag, s.script, ...args]);
    if (out !== null) return parseDataHoles(out, start, start + length);
  }
  return null;
}

/**
 * The allocated ranges of the disk at `path` (`size` bytes), or null when they cannot be known
 * and the whole disk must be read.
 */
export function allocatedAreas(path: string, size: number): Ranges | null {
  try {
    if (statSync(path).isFile()) return fileDataRanges(path, 0, size);
    const loop = loopInfo(path);
    if (loop === null || !statSync(loop.backingFile).isFile()) return null;
    // The loop shows `size` bytes of its backing file from `offset` (sizelimit, or the file's end).
    return fileDataRanges(loop.backingFile, loop.offset, size);
  } catch {
    return null;
  }
}
