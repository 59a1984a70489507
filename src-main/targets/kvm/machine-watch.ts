/**
 * Boot verification of a machine on the KVM host: the console file there is polled for the login
 * prompt or marker (or a failure line), the QEMU guest agent is asked `guest-ping` every few
 * seconds, and a guest KVM stopped with an internal error (nested or restricted hosts, where a
 * paused test VM still starts) is reported as `KvmFailed`, so the caller restarts it under TCG.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { BootRequest } from '../../core/drivers.js';
import { sh, type KvmSsh } from './ssh.js';

const FAIL = /MIGRATION-BOOT-FAIL|Kernel panic|No bootable device|Boot failed|Gave up waiting for root/;
/** How often boot verification asks the guest agent. */
const AGENT_PROBE_EVERY_MS = 3000;

/** A started machine: how to tell it still runs, where its console goes, what ran it. */
export interface Started {
  runningTest: string;
  /** Shell printing why the machine is not running, when the runner can tell. */
  stateReport?: string;
  /** Shell that succeeds when KVM stopped the guest with an internal error. */
  kvmFailedTest?: string;
  /** Whether the guest agent answers `guest-ping` now. */
  agentPing?: () => Promise<boolean>;
  consolePath: string;
  how: string;
}

/** KVM could not run the guest on this host; TCG can. */
export class KvmFailed extends Error {}

/** The line of `text` where `pattern` matches, or null. */
export function lineOf(text: string, pattern: RegExp): string | null {
  const m = pattern.exec(text);
  if (!m) return null;
  const end = text.indexOf('\n', m.index);
  return text.slice(text.lastIndexOf('\n', m.index) + 1, end === -1 ? undefined : end).trim();
}

/** Resolves with the line that proves the boot; rejects with the reason and the console tail. */
export async function watchMachine(ssh: Pick<KvmSsh, 'exec'>, sudo: string, m: Started, pattern: RegExp, timeoutMs: number, request: BootRequest): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let seen = '';
  let nextProbe = Date.now() + AGENT_PROBE_EVERY_MS;
  for (;;) {
    const kvm = m.kvmFailedTest ? `{ ${m.kvmFailedTest}; } && echo kvm-failed || echo kvm-ok` : 'echo kvm-ok';
    const out = await ssh.exec(`${m.runningTest} && echo up || echo down; ${kvm}; ${sudo}tail -c +${Buffer.byteLength(seen) + 1} ${sh(m.consolePath)} 2>/dev/null | head -c 1048576`);
    const [state = '', kvmState = ''] = out.split('\n', 2);
    const text = out.slice(state.length + kvmState.length + 2);
    if (text) request.onConsole?.(text);
    seen += text;
    const clean = seen.replace(/\r/g, '');
    const hit = lineOf(clean, pattern);
    if (hit !== null) return hit;
    const tail = `; console tail:\n${clean.trim().slice(-1500) || '(the console stayed empty)'}`;
    const bad = lineOf(clean, FAIL);
    if (bad !== null) throw new RehostError('DRIVER', `the console reported a failure: ${bad}${tail}`);
    if (kvmState === 'kvm-failed') throw new KvmFailed('KVM stopped the guest with an internal error');
    if (state !== 'up') {
      const why = m.stateReport ? ` (${(await ssh.exec(`${m.stateReport}; true`).catch(() => '')).trim() || 'gone'})` : '';
      throw new RehostError('DRIVER', `the machine stopped before it finished booting${why}${tail}`);
    }
    if (m.agentPing && Date.now() >= nextProbe) {
      if (await m.agentPing().catch(() => false)) return 'the QEMU guest agent answered guest-ping';
      nextProbe = Date.now() + AGENT_PROBE_EVERY_MS;
    }
    if (request.signal.aborted) throw new RehostError('DRIVER', `boot aborted${tail}`);
    if (Date.now() > deadline) throw new RehostError('DRIVER', `no login prompt, boot marker ${pattern.source} or guest agent answer within ${Math.round(timeoutMs / 1000)} s${tail}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
