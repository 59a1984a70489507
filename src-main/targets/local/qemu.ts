/**
 * QEMU on this machine: finding the binary, choosing the accelerator, building the command line
 * and starting a detached VM whose serial console goes to a file. The VM outlives the engine
 * process (a migrated server keeps running across engine restarts); its pid is recorded by the
 * caller so cleanup can stop it later.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { promisify } from 'node:util';
import { RehostError } from '../../../src-shared/errors.js';

const run = promisify(execFile);

/** The emulator: `REHOST_QEMU` (a path or a name on PATH) or `qemu-system-x86_64`. */
export function qemuBinary(): string {
  return process.env.REHOST_QEMU?.trim() || 'qemu-system-x86_64';
}

/** Fails with a clear reason when the emulator cannot be started at all. */
export async function checkQemu(binary: string, signal: AbortSignal): Promise<string> {
  try {
    const { stdout } = await run(binary, ['--version'], { signal, timeout: 30_000 });
    return stdout.split('\n')[0]?.trim() ?? binary;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'was not found' : code === 'EACCES' ? 'is not executable' : `does not run (${err instanceof Error ? err.message : String(err)})`;
    throw new RehostError('UNPROCESSABLE', `QEMU is missing: ${binary} ${why}; install qemu-system-x86 (Debian/Ubuntu) or set REHOST_QEMU to the emulator`, { field: 'boot' }, { cause: err });
  }
}

let kvmProbe: Promise<boolean> | null = null;

/**
 * KVM when it really works: /dev/kvm can exist and still abort QEMU at vCPU setup (nested or
 * restricted hosts), so a paused VM is started with `-accel kvm`; still alive after a second
 * means usable. `REHOST_QEMU_ACCEL=kvm|tcg` skips the probe. Probed once per process.
 */
export function chooseAccel(binary: string): Promise<'kvm' | 'tcg'> {
  const forced = process.env.REHOST_QEMU_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return Promise.resolve(forced);
  if (process.platform !== 'linux') return Promise.resolve('tcg');
  kvmProbe ??= new Promise<boolean>((resolve) => {
    const child = spawn(binary, ['-accel', 'kvm', '-machine', 'pc', '-cpu', 'host', '-display', 'none', '-nodefaults', '-m', '16', '-S', '-monitor', 'none'], { stdio: 'ignore' });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(true);
    }, 1500);
    child.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  return kvmProbe.then((ok) => (ok ? 'kvm' : 'tcg'));
}

/**
 * KVM passed the probe but failed real guest code (vm-run.ts saw QEMU's internal error): every
 * later machine of this process runs under TCG.
 */
export function markKvmUnusable(): void {
  kvmProbe = Promise.resolve(false);
}

export interface VmSpec {
  instanceId: string;
  accel: 'kvm' | 'tcg';
  vcpus: number;
  ramMiB: number;
  /** Boot disk first. */
  disks: { path: string; format: 'raw' | 'qcow2' }[];
  consolePath: string;
  /** The NIC's MAC (cloud-init's network-config matches on it). */
  mac?: string;
  /** The user-mode NAT network (QEMU's default 10.0.2.0/24 when absent). */
  net?: { net: string; gateway: string; dns: string };
  /** A cloud-init NoCloud seed image (vfat labelled cidata), attached after the disks. */
  seedPath?: string;
  /** Unix socket for the guest agent channel `org.qemu.guest_agent.0`. */
  agentSocket?: string;
}

/** The command line; `-name` carries the instance id so a recorded pid can be checked before a kill. */
export function qemuArgs(spec: VmSpec): string[] {
  const nic = ['user', 'model=virtio-net-pci'];
  if (spec.mac) nic.push(`mac=${spec.mac}`);
  if (spec.net) nic.push(`net=${spec.net.net}`, `host=${spec.net.gateway}`, `dns=${spec.net.dns}`);
  const args = [
    '-name', `rehost-${spec.instanceId}`,
    '-machine', 'pc', '-accel', spec.accel, '-cpu', spec.accel === 'kvm' ? 'host' : 'max',
    '-m', String(spec.ramMiB), '-smp', String(spec.vcpus),
    '-display', 'none', '-nodefaults', '-monitor', 'none',
    '-serial', `file:${spec.consolePath}`,
    '-nic', nic.join(','),
  ];
  for (const disk of spec.disks) args.push('-drive', `file=${disk.path},format=${disk.format},if=virtio,cache=writeback`);
  if (spec.seedPath) args.push('-drive', `file=${spec.seedPath},format=raw,if=virtio,readonly=on`);
  if (spec.agentSocket) {
    args.push(
      '-device', 'virtio-serial-pci,id=rehost-vser0',
      '-chardev', `socket,id=rehost-qga0,path=${spec.agentSocket},server=on,wait=off`,
      '-device', 'virtserialport,bus=rehost-vser0.0,chardev=rehost-qga0,name=org.qemu.guest_agent.0',
    );
  }
  return args;
}

/** Starts the VM detached, stderr to `logPath`; resolves with its pid once the process exists. */
export async function startVm(binary: string, args: string[], logPath: string): Promise<{ pid: number; exited: Promise<number | null> }> {
  const fd = openSync(logPath, 'a');
  try {
    const child = spawn(binary, args, { detached: true, stdio: ['ignore', fd, fd] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', reject);
    });
    child.unref();
    return { pid: child.pid!, exited };
  } finally {
    closeSync(fd);
  }
}

/** Creates a throwaway copy-on-write layer over a snapshot's file (a qcow2 layer or a raw clone). */
export async function createOverlay(backing: string, format: 'raw' | 'qcow2', overlay: string, signal: AbortSignal): Promise<void> {
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', format, '-b', backing, overlay], { signal });
}
