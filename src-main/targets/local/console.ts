/**
 * Boot verification from the serial console file QEMU writes: read what was appended, pass it
 * on, and decide. Success is the first line matching the marker; failure is a known failure
 * pattern, QEMU exiting, the timeout, or the job being aborted, each with the console's tail.
 */
import { open } from 'node:fs/promises';
import { RehostError } from '../../../src-shared/errors.js';

const POLL_MS = 250;
const TAIL_IN_REASON = 1500;

export interface ConsoleWatch {
  consolePath: string;
  marker: RegExp;
  fail: RegExp;
  exited: Promise<number | null>;
  timeoutMs: number;
  signal: AbortSignal;
  onText?: (text: string) => void;
  /**
   * Another sign of a booted guest (the QEMU guest agent answering), asked every `everyMs`;
   * resolves with the text to report, or null while the guest is not there yet.
   */
  ready?: { probe: () => Promise<string | null>; everyMs: number };
  /**
   * QEMU's own log (its stderr): an accelerator error there (KVM's "internal error", emulation
   * failure) stops the guest without QEMU exiting, so it is a failure of its own kind. `from`:
   * its size before this machine started (the log is appended to across restarts).
   */
  qemuLog?: { path: string; from: number };
}

/** QEMU reported that its accelerator cannot run this guest (the machine is stopped, QEMU still up). */
export class HypervisorFailure extends Error {}

const HYPERVISOR_FAILURE = /KVM internal error.*|emulation failure.*|kvm run failed.*/;

/** The last `max` bytes of a file as text ('' when it is missing). */
export async function readTail(path: string, max: number): Promise<string> {
  const fh = await open(path, 'r').catch(() => null);
  if (fh === null) return '';
  try {
    const { size } = await fh.stat();
    const length = Math.min(size, max);
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, size - length);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

/** Resolves with the matching console line; rejects with the reason and the console tail. */
export async function watchConsole(w: ConsoleWatch): Promise<string> {
  let exitCode: number | null | undefined;
  void w.exited.then((code) => (exitCode = code));
  const deadline = Date.now() + w.timeoutMs;
  let seen = '';
  let offset = 0;
  let probeAt = Date.now() + (w.ready?.everyMs ?? 0);
  const decoder = new TextDecoder('utf-8');
  for (;;) {
    const chunk = await readFrom(w.consolePath, offset);
    if (chunk.length > 0) {
      offset += chunk.length;
      // stream: a character split between two reads is decoded once whole
      const text = decoder.decode(chunk, { stream: true });
      seen = (seen + text).slice(-64 * 1024);
      w.onText?.(text);
    }
    const clean = seen.replace(/\r/g, '');
    // A match in the unfinished last line counts only once the console stayed quiet for a poll:
    // QEMU writes lines in pieces, and the reported line must be whole (a login prompt never
    // gets its newline, so it is accepted when nothing follows).
    const hit = matchLine(chunk.length > 0 ? completeLines(clean) : clean, w.marker);
    if (hit !== null) return hit;
    if (w.ready && Date.now() >= probeAt) {
      const answer = await w.ready.probe().catch(() => null);
      if (answer !== null) return answer;
      probeAt = Date.now() + w.ready.everyMs;
    }
    const failed = matchLine(clean, w.fail);
    if (failed !== null) throw bootFailed(`the console reported a failure: ${failed}`, clean);
    const stuck = w.qemuLog ? HYPERVISOR_FAILURE.exec((await readFrom(w.qemuLog.path, w.qemuLog.from)).toString('utf8')) : null;
    if (stuck) throw new HypervisorFailure(`QEMU stopped the machine: ${stuck[0].trim()}`);
    if (exitCode !== undefined) throw bootFailed(`QEMU exited (code ${exitCode}) before the machine finished booting`, clean);
    if (w.signal.aborted) throw bootFailed(`boot aborted: ${w.signal.reason instanceof Error ? w.signal.reason.message : 'cancelled'}`, clean);
    if (Date.now() > deadline) throw bootFailed(`no login prompt or boot marker ${w.marker.source} within ${Math.round(w.timeoutMs / 1000)} s`, clean);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** The text up to and including its last newline. */
function completeLines(text: string): string {
  return text.slice(0, text.lastIndexOf('\n') + 1);
}

function matchLine(text: string, pattern: RegExp): string | null {
  const m = pattern.exec(text);
  if (!m) return null;
  const start = text.lastIndexOf('\n', m.index) + 1;
  const end = text.indexOf('\n', m.index);
  return text.slice(start, end === -1 ? undefined : end).trim();
}

function bootFailed(reason: string, console: string): RehostError {
  const tail = console.trim().slice(-TAIL_IN_REASON);
  return new RehostError('DRIVER', `${reason}; console tail:\n${tail || '(the console stayed empty)'}`);
}

async function readFrom(path: string, offset: number): Promise<Buffer> {
  const fh = await open(path, 'r').catch(() => null);
  if (fh === null) return Buffer.alloc(0);
  try {
    const { size } = await fh.stat();
    if (size <= offset) return Buffer.alloc(0);
    const buf = Buffer.alloc(Math.min(size - offset, 1024 * 1024));
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
