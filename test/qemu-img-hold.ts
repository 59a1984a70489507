/**
 * Holds a Local target snapshot in `create_doing` for as long as a test needs: a `qemu-img`
 * first on the engine's PATH that runs the real one, except that `qemu-img create` (a snapshot
 * makes its new active layer with it) waits while the control file says `hold`, and fails when
 * it says `fail`. Everything else, and `create` after `go`, is the real qemu-img.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface QemuImgHold {
  /** PATH for the engine, with the holding qemu-img first. */
  path: string;
  hold(): void;
  fail(): void;
  go(): void;
}

export function qemuImgHold(dir: string): QemuImgHold {
  const real = execFileSync('sh', ['-c', 'command -v qemu-img'], { encoding: 'utf8' }).trim();
  const bin = join(dir, 'bin');
  const control = join(dir, 'qemu-img.control');
  mkdirSync(bin, { recursive: true });
  writeFileSync(control, 'go');
  const script = [
    '#!/bin/sh',
    `ctl='${control}'`,
    'if [ "$1" = create ]; then',
    '  while [ "$(cat "$ctl" 2>/dev/null)" = hold ]; do sleep 0.1; done',
    '  if [ "$(cat "$ctl" 2>/dev/null)" = fail ]; then echo "qemu-img create refused by the test" >&2; exit 1; fi',
    'fi',
    `exec '${real}' "$@"`,
    '',
  ].join('\n');
  writeFileSync(join(bin, 'qemu-img'), script);
  chmodSync(join(bin, 'qemu-img'), 0o755);
  return {
    path: `${bin}:${process.env.PATH ?? ''}`,
    hold: () => writeFileSync(control, 'hold'),
    fail: () => writeFileSync(control, 'fail'),
    go: () => writeFileSync(control, 'go'),
  };
}
