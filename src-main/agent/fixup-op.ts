/**
 * The agent's `fixup` operation: the OS fix-up of a boot disk (src-main/fixup) run on the host
 * that holds the disk file, e.g. a KVM host, since the fix-up mounts the file's partitions and
 * chroots into them. Log lines go to stderr as JSON, like the agent's other diagnostics.
 */
import { fixupLinuxGuest, type FixupOptions, type FixupReport } from '../fixup/index.js';

type Log = FixupOptions['log'];

function stderrLog(bindings: Record<string, unknown>): Log {
  const line = (level: string) => (obj: object | string, msg?: string) => {
    const fields = typeof obj === 'string' ? { msg: obj } : { ...obj, ...(msg ? { msg } : {}) };
    process.stderr.write(`${JSON.stringify({ level, ...bindings, ...fields })}\n`);
  };
  return { debug: () => undefined, info: line('info'), warn: line('warn'), error: line('error'), child: (more) => stderrLog({ ...bindings, ...more }) };
}

/** `{path, format?, nicMacs?}` → the fix-up report; rejects with the failed step's message. */
export async function runFixup(args: Record<string, unknown>): Promise<FixupReport> {
  const path = String(args.path ?? '');
  if (!path.startsWith('/')) throw new Error('fixup: path must be an absolute path');
  const format = args.format === 'qcow2' || args.format === 'raw' ? args.format : undefined;
  const nicMacs = Array.isArray(args.nicMacs) ? args.nicMacs.map(String) : undefined;
  return fixupLinuxGuest(path, {
    signal: new AbortController().signal,
    log: stderrLog({ area: 'agent' }),
    ...(format ? { format } : {}),
    ...(nicMacs ? { nicMacs } : {}),
  });
}
