/**
 * Finding a sync volume's device inside the gateway, never by attach order: by serial (virtio-blk
 * shows the first 20 characters of the Cinder volume id, virtio-scsi the whole id), by WWN when
 * the backend reports one, else by the path the attachment reports when that exists there (a
 * block device of an iSCSI/FC connector, or a file with file-backed volumes). The gateway is
 * probed with one read-only shell command per attempt; choosing is a pure function over its output.
 */
import { RehostError } from '../../../src-shared/errors.js';
import { sh } from '../../sources/agent/ssh.js';

/** What the cloud tells about an attachment, to find the device inside the gateway. */
export interface DeviceHint {
  /** `connection_info.device_path` (a file path with file-backed or local drivers). */
  path: string | null;
  /** A SCSI WWN when the backend reports one. */
  wwn: string | null;
}

export type FoundBy = 'serial' | 'wwn' | 'attachment';

export interface FoundDevice {
  path: string;
  how: FoundBy;
}

/** Runs a command on the gateway (SSH there; a fake shell in unit tests). */
export interface GatewayShell {
  run(command: string): Promise<{ code: number | null; stdout: string; stderr?: string }>;
}

/** The probe: `/dev/disk/by-id` links, `lsblk` pairs, and what the hint path is. Read-only. */
export function probeCommand(hint: DeviceHint): string {
  const lines = [
    `for p in /dev/disk/by-id/*; do [ -b "$p" ] && printf 'id %s %s\\n' "\${p##*/}" "$(readlink -f "$p")"; done`,
    `lsblk -dnP -o NAME,SERIAL,WWN 2>/dev/null | sed 's/^/blk /'`,
  ];
  if (hint.path !== null) {
    const p = sh(hint.path);
    lines.push(`if [ -b ${p} ]; then echo "hint block"; elif [ -f ${p} ]; then echo "hint file"; fi`);
  }
  return `${lines.join('\n')}\ntrue`;
}

function pairs(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out[m[1]!] = m[2]!.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return out;
}

const devPath = (name: string) => (name.startsWith('/') ? name : `/dev/${name}`);

/** The device the probe's output shows for `volumeId`, or null when none (yet). Pure. */
export function chooseDevice(output: string, volumeId: string, hint: DeviceHint): FoundDevice | null {
  const id20 = volumeId.slice(0, 20);
  const wwn = hint.wwn !== null && /^(0x)?[0-9a-fA-F]+$/.test(hint.wwn) ? hint.wwn.toLowerCase().replace(/^0x/, '') : null;
  const ids = new Map<string, string>();
  const blocks: Record<string, string>[] = [];
  let hinted = false;
  for (const line of output.split('\n')) {
    const [kind, ...rest] = line.trim().split(' ');
    if (kind === 'id' && rest.length >= 2) ids.set(rest[0]!, rest.slice(1).join(' '));
    else if (kind === 'blk') blocks.push(pairs(rest.join(' ')));
    else if (kind === 'hint') hinted = rest[0] === 'block' || rest[0] === 'file';
  }
  for (const name of [`virtio-${id20}`, `scsi-0QEMU_QEMU_HARDDISK_${volumeId}`, `scsi-0QEMU_QEMU_HARDDISK_${id20}`]) {
    if (ids.has(name)) return { path: ids.get(name)!, how: 'serial' };
  }
  const bySerial = blocks.find((b) => b.SERIAL === volumeId || b.SERIAL === id20);
  if (bySerial?.NAME) return { path: devPath(bySerial.NAME), how: 'serial' };
  if (wwn !== null) {
    for (const name of [`wwn-0x${wwn}`, `scsi-3${wwn}`]) if (ids.has(name)) return { path: ids.get(name)!, how: 'wwn' };
    const byWwn = blocks.find((b) => (b.WWN ?? '').toLowerCase().replace(/^0x/, '') === wwn);
    if (byWwn?.NAME) return { path: devPath(byWwn.NAME), how: 'wwn' };
  }
  return hinted && hint.path !== null ? { path: hint.path, how: 'attachment' } : null;
}

/** Probes until the device shows (a just-attached disk takes a moment to appear). */
export async function locateDevice(shell: GatewayShell, volumeId: string, hint: DeviceHint, options: { attempts?: number; delayMs?: number; signal?: AbortSignal } = {}): Promise<FoundDevice> {
  const attempts = options.attempts ?? 60;
  const command = probeCommand(hint);
  for (let i = 0; i < attempts; i++) {
    options.signal?.throwIfAborted();
    const res = await shell.run(command);
    const found = res.code === 0 ? chooseDevice(res.stdout, volumeId, hint) : null;
    if (found !== null) return found;
    if (i + 1 < attempts) await new Promise((r) => setTimeout(r, options.delayMs ?? 1000));
  }
  const seconds = Math.round((attempts * (options.delayMs ?? 1000)) / 1000);
  throw new RehostError('DRIVER', `volume ${volumeId} is attached but no device with its serial${hint.wwn ? ` or WWN ${hint.wwn}` : ''} appeared in the gateway within ${seconds} s${hint.path ? ` (nor ${hint.path})` : ''}`);
}
