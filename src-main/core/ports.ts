/**
 * What core needs from the outside, as interfaces: the store, the keychain, password hashing,
 * logging. The composition roots (cli.ts, electron/main.ts, test harness) pass implementations.
 */
import type { Gateway, Host, Job, License, Session, Snapshot, Source, DiscoveredHost, Target, User, Volume } from './model.js';

export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export interface Page<T> {
  total: number;
  items: T[];
}

export interface HostQuery {
  step?: string;
  targetCloudType?: string;
  ids?: string[];
  macs?: string[];
  keyword?: string;
  includeUnregistered?: boolean;
  page: number;
  pageSize: number;
}

export interface JobQuery {
  statuses?: string[];
  ownerName?: string;
  ownerId?: string;
  jobType?: string;
  page: number;
  pageSize: number;
}

/**
 * Repositories over the database. Mutations apply in memory at once; `persist()` makes every
 * change so far durable (group commit) and must be awaited before a change is acknowledged.
 */
export interface Store {
  users: {
    get(username: string): User | null;
    put(user: User): void;
  };
  sessions: {
    get(tokenHash: string): Session | null;
    put(session: Session): void;
    deleteForUser(username: string): void;
    deleteExpired(now: number): void;
  };
  sources: Repo<Source>;
  discovered: {
    get(id: string): DiscoveredHost | null;
    listBySource(sourceId: string): DiscoveredHost[];
    put(host: DiscoveredHost): void;
    deleteBySource(sourceId: string): void;
  };
  hosts: Repo<Host> & { query(q: HostQuery): Page<Host>; listByTarget(targetId: string): Host[]; listBySource(sourceId: string): Host[] };
  targets: Repo<Target>;
  gateways: Repo<Gateway> & { listByTarget(targetId: string): Gateway[] };
  volumes: Repo<Volume> & { listByHost(hostId: string): Volume[]; listByTarget(targetId: string): Volume[] };
  snapshots: Repo<Snapshot> & { listByHost(hostId: string): Snapshot[] };
  jobs: Repo<Job> & { query(q: JobQuery): Page<Job>; listWorking(): Job[] };
  licenses: Repo<License>;
  /** Small key/value settings (data format version, first-start facts). */
  settings: { get(key: string): string | null; put(key: string, value: string): void };
  persist(): Promise<void>;
  close(): Promise<void>;
}

export interface Repo<T extends { id: string }> {
  get(id: string): T | null;
  list(): T[];
  put(item: T): void;
  delete(id: string): void;
}

/** Credentials live in the OS keychain; records keep only the reference. */
export interface SecretStore {
  readonly backend: string;
  set(ref: string, value: Record<string, string>): Promise<void>;
  get(ref: string): Promise<Record<string, string> | null>;
  delete(ref: string): Promise<void>;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /** A random token for sessions and the generated first password. */
  randomToken(bytes: number): string;
  /** One-way digest used to store session tokens. */
  digest(value: string): string;
}

export interface Clock {
  now(): number;
}
