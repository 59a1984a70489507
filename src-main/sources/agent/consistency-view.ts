/**
 * The engine's side of consistency on an agent host: asks the agent for a point-in-time view of
 * the disks (an LVM snapshot with fsfreeze around its moment, see src-main/agent/consistency.ts),
 * reads from what the agent names, and releases the view when the snapshot closes. A view that
 * cannot be taken (lvcreate failed, say) falls back to reading the live disks with converging
 * passes, and the method says why.
 */
import type { Logger } from '../../core/ports.js';
import type { WirePeer } from '../../replication/wire/peer.js';

export interface ConsistentView {
  /** How consistency was obtained, for the job steps. */
  method: string;
  /** Per disk path, the device the agent reads (the snapshot's, or the disk itself). */
  reads: Record<string, string>;
  release(): Promise<void>;
}

interface Taken {
  id: string;
  method: string;
  reads: Record<string, string>;
  cleanup: string[][];
}

export async function takeView(peer: WirePeer, disks: string[], log: Logger, signal: AbortSignal): Promise<ConsistentView> {
  let taken: Taken;
  try {
    taken = await peer.call<Taken>('snapshot', { disks }, signal);
  } catch (err) {
    signal.throwIfAborted();
    const why = err instanceof Error ? err.message : String(err);
    log.warn({ err: why }, 'no point-in-time view; reading the live disks');
    return {
      method: `converging passes (a point-in-time view failed: ${why}; each incremental pass copies what changed during the previous one; run the final pass with services stopped)`,
      reads: Object.fromEntries(disks.map((d) => [d, d])),
      release: async () => undefined,
    };
  }
  return {
    method: taken.method,
    reads: taken.reads,
    release: async () => {
      if (taken.cleanup.length === 0 || peer.closed !== null) return;
      const res = await peer.call<{ removed: number; errors: string[] }>('release', { id: taken.id });
      if (res.errors.length > 0) log.warn({ errors: res.errors }, 'the agent could not remove its snapshot; the next snapshot of the volume removes it');
    },
  };
}
