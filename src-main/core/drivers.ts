/**
 * The two driver interfaces (DESIGN.md): a source gives disks to read, a target gives disks to
 * write and machines to boot. Core knows drivers only through these; optional features are
 * declared in `capabilities` and checked with the guards below, never stubbed.
 */
import type { CloudType, ResourceKind, SourceType } from '../../src-shared/states.js';
import type { ByteRange, DiscoveredHost, EnvCheck, Host, Snapshot, Volume } from './model.js';
import type { Logger } from './ports.js';

/** What every driver factory receives from the composition root. */
export interface DriverDeps {
  log: Logger;
  /** Folder the driver may use for its own working files (caches, keys). */
  workDir: string;
  /** Resolved secret fields (password, private key …), kept only in memory. */
  secret: Record<string, string>;
}

// ---------------------------------------------------------------- sources

export interface SourceCapabilities {
  /** How incremental syncs find changes: the driver reports changed areas, or the engine compares hashes. */
  changeTracking: 'driver' | 'hash';
  /** The driver can give a point-in-time view while the machine runs. */
  pointInTime: boolean;
}

export interface SourceConnection {
  /** The identity to pin on first use (SSH host key "SHA256:…", TLS thumbprint). */
  identity: string | null;
  description: string;
}

export interface SourceInventory {
  tree: unknown;
  hosts: Omit<DiscoveredHost, 'sourceId' | 'present'>[];
}

export interface OpenSnapshotOptions {
  mode: 'full' | 'incremental';
  /** Per disk, the marker the driver returned after the last completed sync (e.g. a CBT changeId). */
  markers: Record<number, string | null>;
}

/** A point-in-time view of a machine's disks; `close()` releases it (removes the VMware/LVM snapshot). */
export interface SourceSnapshot {
  /** How consistency was obtained, reported in the job steps. */
  readonly method: string;
  /** How disk data travels from the source (e.g. "relay over SSH", "direct TLS 1.3"), reported in the job steps. */
  readonly transport?: string;
  readonly disks: SourceDisk[];
  close(): Promise<void>;
}

export interface SourceDisk {
  readonly index: number;
  readonly sizeBytes: number;
  /**
   * The ranges worth reading: allocated areas for a full sync, changed areas for an incremental
   * one when the source tracks changes; `null` means "all of it, compare hashes".
   */
  areas(signal: AbortSignal): Promise<ByteRange[] | null>;
  read(offset: number, length: number, signal: AbortSignal): Promise<Uint8Array>;
  /** The marker to store after this sync completes (CBT changeId), or null. */
  marker(): string | null;
  /**
   * Optional capability: compares chunks where the data lives (the agent on the source host), so
   * unchanged chunks are never read across the link. `known` maps chunk indexes (of `chunkSize`
   * bytes) to the digest the target holds (replication's xxh64 rule: 0 = all zeros, all-ones =
   * unknown); resolves with the chunks whose current digest differs, and that digest.
   */
  changedChunks?(known: ReadonlyMap<number, bigint>, chunkSize: number, signal: AbortSignal): Promise<Map<number, bigint>>;
  /**
   * Optional: the replicator is done with a buffer `read` returned (written and hashed), so a
   * driver that pools its chunk buffers may reuse it.
   */
  release?(data: Uint8Array): void;
}

export interface SourceDriver {
  readonly kind: SourceType;
  readonly capabilities: SourceCapabilities;
  /** Opens the connection, checking a pinned identity when given. */
  connect(pinned: string | null, signal: AbortSignal): Promise<SourceConnection>;
  discover(signal: AbortSignal): Promise<SourceInventory>;
  checkHost(ref: string, signal: AbortSignal): Promise<EnvCheck[]>;
  openSnapshot(ref: string, options: OpenSnapshotOptions, signal: AbortSignal): Promise<SourceSnapshot>;
  /** Optional: the source is being deleted; remove what the driver left on it (an agent's runtime cache). */
  unregister?(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
  /** Services on the source host (capability: sources that run commands on their hosts, e.g. Agent). */
  services?: SourceServices;
}

/** What stopping one service gave. */
export interface ServiceStopResult {
  name: string;
  ok: boolean;
  /** The service manager's message (why it failed, or the state after the stop). */
  detail: string;
}

export interface SourceServices {
  /** Stops the named services (systemd units) on host `ref`, in order; resolves with one result per name. */
  stop(ref: string, names: readonly string[], signal: AbortSignal): Promise<ServiceStopResult[]>;
}

export function canStopServices(driver: SourceDriver): driver is SourceDriver & { services: SourceServices } {
  return driver.services !== undefined;
}

export type SourceDriverFactory = (deps: DriverDeps, config: Record<string, unknown>) => SourceDriver;

// ---------------------------------------------------------------- targets

export interface TargetCapabilities {
  resources: readonly ResourceKind[];
}

export interface StoragePoolInfo {
  id: string;
  name: string;
  protocol: string;
  totalBytes: number;
  usedBytes: number;
  status: string;
}

export interface TargetInventory {
  displayName: string;
  address: string;
  totalBytes: number;
  usedBytes: number;
  pools: StoragePoolInfo[];
}

/** Where one disk's bytes land. Writes may be out of order; `flush()` makes them durable. */
export interface DiskSink {
  readonly sizeBytes: number;
  write(offset: number, data: Uint8Array): Promise<void>;
  read(offset: number, length: number): Promise<Uint8Array>;
  flush(): Promise<void>;
  /**
   * True when the sink provably holds only zeros (a new sparse file). Without replication state,
   * a blank sink lets zero chunks be skipped; any other sink gets them written.
   */
  isBlank(): Promise<boolean>;
  close(): Promise<void>;
  /**
   * The chunk digests (replication's rule) of what the sink holds in `ranges`, in order, computed
   * where the data lives (capability): verification then moves digests instead of the data.
   */
  digests?(ranges: readonly ByteRange[], signal: AbortSignal): Promise<bigint[]>;
}

export interface BootRequest {
  backupType: 'volume_snapshot' | 'volume_backup';
  snapshot: Snapshot;
  options: Record<string, unknown>;
  signal: AbortSignal;
  /** Called with console output as it arrives. */
  onConsole?: (text: string) => void;
}

export interface BootResult {
  instanceId: string;
  detail: string;
}

export interface TargetDriver {
  readonly cloudType: CloudType;
  readonly capabilities: TargetCapabilities;
  verify(signal: AbortSignal): Promise<TargetInventory>;
  listResources(kind: ResourceKind, signal: AbortSignal): Promise<Record<string, unknown>[]>;
  /** Creates (or finds) one volume per disk of the host; idempotent so a failed step can be retried. */
  prepareVolumes(host: Host, signal: AbortSignal): Promise<Omit<Volume, 'id' | 'createdAt'>[]>;
  openSink(volume: Volume, signal: AbortSignal): Promise<DiskSink>;
  /** Removes everything the target holds for the host; `force` goes on past missing parts. */
  cleanup(host: Host, volumes: Volume[], snapshots: Snapshot[], force: boolean, signal: AbortSignal): Promise<void>;
  /** Optional: the target is being deleted; remove what the driver left there for itself (an agent's runtime cache). */
  unregister?(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
  /** Point-in-time copies of a host's volumes (capability: present when the target has them). */
  snapshots?: TargetSnapshots;
  /** Machines booted from a snapshot (capability: present when the target can boot). */
  machines?: TargetMachines;
}

export interface TargetSnapshots {
  create(host: Host, volumes: Volume[], name: string, signal: AbortSignal): Promise<{ ref: string; sizeBytes: number }>;
  remove(ref: string, signal: AbortSignal): Promise<void>;
}

export interface TargetMachines {
  /**
   * Optional: refuses a boot request before its job starts (unknown or too small flavor, bad
   * boot option) by throwing a 4xx RehostError, so the caller gets the answer at once.
   */
  check?(host: Host, volumes: Volume[], options: Record<string, unknown>): Promise<void>;
  /** Boots from `request.snapshot`; resolves once the machine is verified up (it keeps running). */
  boot(host: Host, volumes: Volume[], request: BootRequest): Promise<BootResult>;
  /** The last part of the booted machine's serial console, when the target captures it. */
  console(host: Host): Promise<string | null>;
}

export function hasSnapshots(driver: TargetDriver): driver is TargetDriver & { snapshots: TargetSnapshots } {
  return driver.snapshots !== undefined;
}

export function canBoot(driver: TargetDriver): driver is TargetDriver & { machines: TargetMachines } {
  return driver.machines !== undefined;
}

export type TargetDriverFactory = (deps: DriverDeps, config: Record<string, unknown>) => TargetDriver;

/** Driver factories by kind, built by the composition root (`src-main/drivers.ts`). */
export interface DriverRegistry {
  sources: Partial<Record<SourceType, { factory: SourceDriverFactory; secretFields: readonly string[] }>>;
  targets: Partial<Record<CloudType, { factory: TargetDriverFactory; secretFields: readonly string[] }>>;
}
