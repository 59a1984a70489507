/**
 * The state machines of seed 000 §4.7 as data. Every status change goes through `transition()`,
 * which refuses what the diagrams do not allow (HTTP 409).
 */
import type { BootStatus, HostStatus, SnapshotStatus, TargetStatus } from '../../src-shared/states.js';
import { errors } from '../../src-shared/errors.js';
import type { Host } from './model.js';

type Machine<S extends string> = Readonly<Record<S, readonly S[]>>;

/**
 * h_host_status. From the detailed diagram, plus one edge from the overview diagram:
 * a host whose snapshot is done syncs again ("boot_done --> sync_snapshot_done: 同步数据"),
 * which is how incremental syncs run, so sync_snapshot_done → sync_doing is allowed.
 */
export const HOST_MACHINE: Machine<HostStatus> = {
  host_register_done: ['sync_doing', 'host_unregister_doing'],
  sync_doing: ['sync_failed', 'sync_snapshot_done'],
  sync_failed: ['sync_doing', 'clean_doing'],
  sync_snapshot_done: ['sync_doing', 'clean_doing'],
  clean_doing: ['clean_failed', 'clean_done'],
  clean_failed: ['clean_doing'],
  clean_done: ['host_unregister_doing'],
  host_unregister_doing: ['host_unregister_failed', 'host_unregister_done'],
  host_unregister_failed: ['host_unregister_doing'],
  host_unregister_done: [],
};

/**
 * h_boot_status. boot_done → boot_doing is the overview's cycle (sync again, boot again): test
 * boots are repeatable; cleanup returns a host to not_boot.
 */
export const BOOT_MACHINE: Machine<BootStatus> = {
  not_boot: ['boot_doing'],
  boot_doing: ['boot_failed', 'boot_done'],
  boot_failed: ['boot_doing', 'not_boot'],
  boot_done: ['boot_doing', 'not_boot'],
};

/** target_status (§4.2.2 lists the states; the edges are ours, documented in docs/states.md). */
export const TARGET_MACHINE: Machine<TargetStatus> = {
  creating: ['active', 'create_failed'],
  create_failed: ['creating', 'removing'],
  active: ['disconnected', 'available', 'removing'],
  available: ['active', 'disconnected', 'removing'],
  disconnected: ['active', 'removing'],
  removing: ['remove_failed'],
  remove_failed: ['removing'],
};

export const SNAPSHOT_MACHINE: Machine<SnapshotStatus> = {
  create_doing: ['create_done', 'create_failed'],
  create_done: [],
  create_failed: [],
};

export function canTransition<S extends string>(machine: Machine<S>, from: S, to: S): boolean {
  return machine[from]?.includes(to) ?? false;
}

/** Throws a 409 naming both states when the machine has no such edge. */
export function assertTransition<S extends string>(machine: Machine<S>, what: string, from: S, to: S, hostId?: string): void {
  if (!canTransition(machine, from, to)) {
    throw errors.transition(what, from, to, hostId === undefined ? {} : { hostId });
  }
}

export function isDoing(host: Pick<Host, 'status' | 'bootStatus'>): boolean {
  return host.status.endsWith('_doing') || host.bootStatus === 'boot_doing';
}

/** The seed's action flags, computed in one place from the stored states. */
export interface HostFlags {
  isSync: boolean;
  isClean: boolean;
  isNextStep: boolean;
  isStopSync: boolean;
  isDoing: boolean;
  hasSuccessSnapshot: boolean;
}

export function hostFlags(
  host: Pick<Host, 'status' | 'bootStatus' | 'step' | 'targetId' | 'syncStrategy'>,
  hasSuccessSnapshot: boolean,
): HostFlags {
  const doing = isDoing(host);
  const syncable = canTransition(HOST_MACHINE, host.status, 'sync_doing');
  return {
    isSync: !doing && syncable && host.targetId !== null && host.step !== '1',
    isClean:
      !doing &&
      (canTransition(HOST_MACHINE, host.status, 'clean_doing') ||
        canTransition(HOST_MACHINE, host.status, 'host_unregister_doing')),
    isNextStep: !doing && host.step === '2' && host.status === 'sync_snapshot_done' && hasSuccessSnapshot,
    isStopSync: host.status === 'sync_doing' || host.syncStrategy.autoTrigger,
    isDoing: doing,
    hasSuccessSnapshot,
  };
}
