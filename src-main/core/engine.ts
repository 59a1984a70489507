/**
 * The engine: one object per process that every face (REST API, CLI, Electron) drives. Built from
 * a typed `deps` object by a composition root; core never constructs a driver itself.
 */
import { AuthService } from './auth.js';
import type { DriverRegistry } from './drivers.js';
import { DriverPool } from './driver-pool.js';
import type { EngineCore } from './engine-core.js';
import { EventBus } from './events.js';
import { HostService } from './hosts.js';
import { INTERRUPTED_BY_RESTART, JobRunner } from './jobs.js';
import { LifecycleService } from './lifecycle.js';
import type { HostStatus } from '../../src-shared/states.js';
import { ProgressBoard } from './progress.js';
import { SyncScheduler } from './scheduler.js';
import { SnapshotQuota } from './snapshot-quota.js';
import type { Clock, Logger, PasswordHasher, SecretStore, Store } from './ports.js';
import type { Replicator } from './replicator.js';
import { SourceService } from './sources.js';
import { LicenseService } from './licenses.js';
import { SyncService } from './sync.js';
import { TargetService } from './targets.js';

export interface EngineDeps {
  store: Store;
  secrets: SecretStore;
  hasher: PasswordHasher;
  registry: DriverRegistry;
  replicator: Replicator;
  log: Logger;
  /** Working folder per driver instance (caches, keys), under the data dir. */
  workDir: (kind: string, id: string) => string;
  clock?: Clock;
}

export interface Engine {
  core: EngineCore;
  auth: AuthService;
  sources: SourceService;
  targets: TargetService;
  hosts: HostService;
  sync: SyncService;
  lifecycle: LifecycleService;
  licenses: LicenseService;
  scheduler: SyncScheduler;
  /** The snapshot quota: applied after each create_done snapshot, and when the API changes it. */
  quota: SnapshotQuota;
  /** Recovers from an unclean stop: nothing is left in a *_doing state. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Where a host left in a *_doing state by a crash goes: the failed state it can be retried from. */
const RECOVERY: Partial<Record<HostStatus, HostStatus>> = {
  sync_doing: 'sync_failed',
  clean_doing: 'clean_failed',
  host_unregister_doing: 'host_unregister_failed',
};

export function createEngine(deps: EngineDeps): Engine {
  const clock = deps.clock ?? { now: () => Date.now() };
  const events = new EventBus();
  const log = deps.log;
  const core: EngineCore = {
    store: deps.store,
    secrets: deps.secrets,
    pool: new DriverPool({ registry: deps.registry, secrets: deps.secrets, log, workDir: deps.workDir }),
    jobs: new JobRunner({ store: deps.store, events, log: log.child({ name: 'rehost:core:jobs' }), clock }),
    events,
    progress: new ProgressBoard(events),
    replicator: deps.replicator,
    clock,
    log,
  };
  const hosts = new HostService(core);
  const licenses = new LicenseService(core);
  const sources = new SourceService(core);
  const sync = new SyncService(core, hosts, licenses);
  const lifecycle = new LifecycleService(core, hosts, sync, licenses);
  const scheduler = new SyncScheduler(core, hosts, sync);
  const quota = new SnapshotQuota(core);
  const engine: Engine = {
    core,
    auth: new AuthService({ store: deps.store, hasher: deps.hasher, clock, log: log.child({ name: 'rehost:core:auth' }) }),
    sources,
    targets: new TargetService(core),
    hosts,
    sync,
    lifecycle,
    scheduler,
    licenses,
    quota,
    start: async () => {
      await recover(core);
      licenses.ensureDefault();
      await core.store.persist();
      scheduler.start();
      sources.startAutoRefresh();
      // Read each target's storage again so capacity and pools are known after a restart.
      for (const target of core.store.targets.list()) {
        void engine.targets.refresh(target.id, AbortSignal.timeout(60_000)).catch(() => undefined);
      }
    },
    close: async () => {
      scheduler.close();
      sources.stopAutoRefresh();
      await core.jobs.close();
      core.progress.close();
      await quota.close();
      await core.pool.close();
      await core.store.close();
    },
  };
  return engine;
}

/**
 * Why a job that was running when the process died failed. A sync says that a retry resumes: its
 * checkpoints (kept by the replicator) survive the engine.
 */
function interruptedReason(type: string, step: string | null): string {
  const where = step === null ? '' : ` while "${step}" was running`;
  const retry = type === 'Sync' ? '; retry the sync: it resumes from the last checkpoint' : '; retry it';
  return `the engine stopped${where} (${INTERRUPTED_BY_RESTART})${retry}`;
}

/** Marks jobs that were running when the process died as failed, and their owners retryable. */
async function recover(core: EngineCore): Promise<void> {
  const { store, clock, log } = core;
  const now = clock.now();
  /** Per owner, the reason its interrupted job gives. */
  const reasons = new Map<string, string>();
  for (const job of store.jobs.listWorking()) {
    const step = job.steps.find((s) => s.status === 'working');
    const reason = interruptedReason(job.type, step?.name ?? null);
    if (job.ownerId !== null) reasons.set(job.ownerId, reason);
    if (step) {
      step.status = 'failed';
      step.endAt = now;
      step.detail = reason;
    }
    store.jobs.put({
      ...job,
      status: 'failed',
      failedStep: step?.name ?? null,
      failureReason: reason,
      detail: step ? `Failed at "${step.name}": ${reason}` : `Failed: ${reason}`,
      endAt: now,
      updatedAt: now,
    });
    log.warn({ job: job.id, type: job.type, step: step?.name }, 'job interrupted by restart');
  }
  for (const host of store.hosts.list()) {
    const status = RECOVERY[host.status] ?? host.status;
    const bootStatus = host.bootStatus === 'boot_doing' ? 'boot_failed' : host.bootStatus;
    if (status !== host.status || bootStatus !== host.bootStatus) {
      store.hosts.put({ ...host, status, bootStatus, description: reasons.get(host.id) ?? INTERRUPTED_BY_RESTART, updatedAt: now });
    }
  }
  for (const snapshot of store.snapshots.list()) {
    if (snapshot.status === 'create_doing') store.snapshots.put({ ...snapshot, status: 'create_failed', reason: INTERRUPTED_BY_RESTART });
  }
  for (const target of store.targets.list()) {
    if (target.status === 'creating') store.targets.put({ ...target, status: 'create_failed', statusReason: INTERRUPTED_BY_RESTART, updatedAt: now });
    if (target.status === 'removing') store.targets.put({ ...target, status: 'remove_failed', statusReason: INTERRUPTED_BY_RESTART, updatedAt: now });
  }
  for (const source of store.sources.list()) {
    if (source.status === 'connecting') store.sources.put({ ...source, status: 'failed', statusReason: INTERRUPTED_BY_RESTART, updatedAt: now });
  }
  await store.persist();
}
