/**
 * The agent's `fixup` operation: the OS fix-up of a boot disk (src-main/fixup) run on the host
 * that holds the disk file, e.g. a KVM host, since the fix-up mounts the file's partitions and
 * chroots into them. The engine passes the new NIC's MAC (the old interface name is pinned to
 * it) and the boot options' settings for guests without cloud-init; `fixup-cancel` aborts a
 * running fix-up, which then releases its mounts and loop devices before it answers, and so does
 * the agent's shutdown. Log lines go to stderr as JSON, like the agent's other diagnostics.
 */
import { fixupLinuxGuest, type FixupOptions, type FixupReport, type GuestSettings } from '../fixup/index.js';

type Log = FixupOptions['log'];

/** Running fix-ups by the id the engine gave, so `fixup-cancel` and shutdown can abort them. */
const running = new Map<string, { abort: AbortController; done: Promise<unknown> }>();

function stderrLog(bindings: Record<string, unknown>): Log {
  const line = (level: string) => (obj: object | string, msg?: string) => {
    const fields = typeof obj === 'string' ? { msg: obj } : { ...obj, ...(msg ? { msg } : {}) };
    process.stderr.write(`${JSON.stringify({ level, ...bindings, ...fields })}\n`);
  };
  return { debug: () => undefined, info: line('info'), warn: line('warn'), error: line('error'), child: (more) => stderrLog({ ...bindings, ...more }) };
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** The settings argument, field by field; anything else is refused. */
export function settingsArg(value: unknown): GuestSettings | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error('fixup: settings must be an object');
  const v = value as Record<string, unknown>;
  const out: GuestSettings = {};
  if (v.fixedIp !== undefined) {
    const ip = v.fixedIp as Record<string, unknown>;
    if (typeof ip !== 'object' || ip === null || typeof ip.address !== 'string' || !Number.isInteger(ip.prefix)) throw new Error('fixup: settings.fixedIp needs address and prefix');
    out.fixedIp = { address: ip.address, prefix: ip.prefix as number, ...(typeof ip.gateway === 'string' ? { gateway: ip.gateway } : {}), ...(typeof ip.dns === 'string' ? { dns: ip.dns } : {}) };
  }
  if (v.passwordHash !== undefined) {
    if (typeof v.passwordHash !== 'string' || !/^\$[0-9a-z]+\$/.test(v.passwordHash)) throw new Error('fixup: settings.passwordHash must be a crypt(3) hash');
    out.passwordHash = v.passwordHash;
  }
  if (v.publicKeys !== undefined) {
    if (!Array.isArray(v.publicKeys) || !v.publicKeys.every((k) => typeof k === 'string')) throw new Error('fixup: settings.publicKeys must be strings');
    out.publicKeys = v.publicKeys as string[];
  }
  return out;
}

/** `{id?, path, format?, nicMacs?, settings?}` → the fix-up report; rejects with the failed step's message. */
export async function runFixup(args: Record<string, unknown>): Promise<FixupReport> {
  const path = String(args.path ?? '');
  if (!path.startsWith('/')) throw new Error('fixup: path must be an absolute path');
  const format = args.format === 'qcow2' || args.format === 'raw' ? args.format : undefined;
  const nicMacs = Array.isArray(args.nicMacs) ? args.nicMacs.map(String) : undefined;
  if (nicMacs && !nicMacs.every((m) => MAC.test(m))) throw new Error('fixup: nicMacs must be MAC addresses');
  const settings = settingsArg(args.settings);
  const id = typeof args.id === 'string' && args.id !== '' ? args.id : `fixup-${running.size}-${Date.now()}`;
  if (running.has(id)) throw new Error(`fixup: ${id} is already running`);
  const abort = new AbortController();
  const done = fixupLinuxGuest(path, {
    signal: abort.signal,
    log: stderrLog({ area: 'agent' }),
    ...(format ? { format } : {}),
    ...(nicMacs ? { nicMacs } : {}),
    ...(settings ? { settings } : {}),
  });
  running.set(id, { abort, done: done.catch(() => undefined) });
  try {
    return await done;
  } finally {
    running.delete(id);
  }
}

/** `{id}`: aborts that fix-up; answers at once (the fix-up's own call answers once it has released everything). */
export function cancelFixup(args: Record<string, unknown>): { cancelled: boolean } {
  const entry = running.get(String(args.id ?? ''));
  entry?.abort.abort(new Error('fixup: cancelled by the engine'));
  return { cancelled: entry !== undefined };
}

/** Aborts every running fix-up and waits (at most `timeoutMs`) until each has released its mounts. */
export async function cancelAllFixups(timeoutMs: number): Promise<void> {
  const all = [...running.values()];
  for (const entry of all) entry.abort.abort(new Error('fixup: the agent is shutting down'));
  await Promise.race([Promise.all(all.map((e) => e.done)), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
}
