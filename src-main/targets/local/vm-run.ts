/**
 * One Local machine's process: started detached under QEMU, recorded (pid, console) so a restarted
 * engine can still stop it, and watched until boot verification decides. KVM is taken when its
 * probe passes (qemu.ts), but a host can pass the probe and still fail real guest code ("KVM
 * internal error", emulation failure: nested or restricted virtualization), which stops the guest
 * without QEMU exiting. Then KVM is given up for this process and the machine starts again under
 * TCG on the same disks (a reset, as far as the guest can tell), and the boot detail says so.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../core/ports.js';
import { HypervisorFailure, watchConsole, type ConsoleWatch } from './console.js';
import { guestAgentPing } from './guest-agent.js';
import { chooseAccel, markKvmUnusable, qemuArgs, startVm, type VmSpec } from './qemu.js';

/** How often boot verification asks the guest agent, and how long one answer may take. */
const AGENT_PROBE_EVERY_MS = 3000;
const AGENT_PROBE_TIMEOUT_MS = 1500;

/** `<host>/machines/<instance>.json`: what it takes to find and stop the machine later. */
export interface MachineRecord {
  instanceId: string;
  pid: number;
  kind: 'test' | 'cutover';
  snapshotRef: string;
  /** Overlays (test) or the migrated copy (cutover). */
  dir: string;
  consolePath: string;
  /** The guest agent's socket (outside the target folder: unix socket paths are short). */
  agentSocket?: string;
  startedAt: number;
}

/** What a machine run needs beyond the VM spec (whose `accel` the run chooses). */
export interface MachineRun {
  binary: string;
  spec: Omit<VmSpec, 'accel'> & { agentSocket: string };
  record: Omit<MachineRecord, 'pid' | 'startedAt'>;
  recordPath: string;
  qemuLog: string;
  watch: Omit<ConsoleWatch, 'consolePath' | 'exited' | 'ready' | 'qemuLog'>;
  log: Logger;
  /** Holds the record of the machine running now, so the caller can stop it after a failure. */
  current: { record: MachineRecord | null };
}

/** Starts the machine and waits for verification; resolves with the console's line and how it ran. */
export async function runVerified(m: MachineRun): Promise<{ line: string; accel: 'kvm' | 'tcg'; startedAt: number; fellBack: string | null }> {
  let accel = await chooseAccel(m.binary);
  let fellBack: string | null = null;
  for (;;) {
    const args = qemuArgs({ ...m.spec, accel });
    if (m.record.kind === 'cutover') await writeStartScript(m.record.dir, m.binary, args);
    await writeFile(m.spec.consolePath, '');
    const from = (await stat(m.qemuLog).catch(() => null))?.size ?? 0;
    const startedAt = Date.now();
    const vm = await startVm(m.binary, args, m.qemuLog);
    const record: MachineRecord = { ...m.record, pid: vm.pid, startedAt };
    m.current.record = record;
    await writeFile(m.recordPath, JSON.stringify(record));
    m.log.info({ instanceId: record.instanceId, pid: vm.pid, kind: record.kind, accel }, 'machine started');
    const socket = m.spec.agentSocket;
    const ready = { probe: async () => ((await guestAgentPing(socket, AGENT_PROBE_TIMEOUT_MS)) ? 'the QEMU guest agent answered guest-ping' : null), everyMs: AGENT_PROBE_EVERY_MS };
    try {
      const line = await watchConsole({ ...m.watch, consolePath: m.spec.consolePath, exited: vm.exited, ready, qemuLog: { path: m.qemuLog, from } });
      return { line, accel, startedAt, fellBack };
    } catch (err) {
      if (!(err instanceof HypervisorFailure) || accel !== 'kvm' || process.env.REHOST_QEMU_ACCEL === 'kvm') throw err;
      m.log.warn({ instanceId: record.instanceId, err: err.message }, 'KVM cannot run this guest here; starting it again under TCG');
      await killVm(record);
      markKvmUnusable();
      fellBack = err.message;
      accel = 'tcg';
    }
  }
}

/** SIGTERM, then SIGKILL; only when the pid still runs this instance (pids are reused). */
export async function killVm(record: MachineRecord): Promise<void> {
  if (!(await isOurs(record))) return;
  try {
    process.kill(record.pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    if (!(await isOurs(record))) return;
  }
  try {
    process.kill(record.pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}

async function isOurs(record: MachineRecord): Promise<boolean> {
  if (process.platform === 'linux') {
    const cmdline = await readFile(`/proc/${record.pid}/cmdline`, 'utf8').catch(() => '');
    const state = await readFile(`/proc/${record.pid}/stat`, 'utf8').catch(() => '');
    return cmdline.includes(`rehost-${record.instanceId}`) && !/^\d+ \(.*\) Z/.test(state);
  }
  try {
    process.kill(record.pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** So the migrated server can be started again by hand after an engine or host restart. */
async function writeStartScript(dir: string, binary: string, args: string[]): Promise<void> {
  const interactive = args.map((a) => (a.startsWith('file:') ? 'mon:stdio' : a));
  const quoted = [binary, ...interactive].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  await writeFile(join(dir, 'start.sh'), `#!/bin/sh\n# Starts the migrated machine as Rehost booted it at cutover.\nexec ${quoted}\n`, { mode: 0o755 });
}
