/**
 * What every engine service shares. Built once by `createEngine()`; services receive it instead
 * of importing each other's internals.
 */
import type { DriverPool } from './driver-pool.js';
import type { EventBus } from './events.js';
import type { JobRunner } from './jobs.js';
import type { ProgressBoard } from './progress.js';
import type { Clock, Logger, SecretStore, Store } from './ports.js';
import type { Replicator } from './replicator.js';

export interface EngineCore {
  store: Store;
  secrets: SecretStore;
  pool: DriverPool;
  jobs: JobRunner;
  events: EventBus;
  progress: ProgressBoard;
  replicator: Replicator;
  clock: Clock;
  log: Logger;
}
