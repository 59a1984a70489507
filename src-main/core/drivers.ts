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
  /**
   * Credentials the driver learns while it works (a boot user's password, say), kept in the OS
   * keychain under the driver's record and removed with it: never in the database.
   */
  vault?: DriverVault;
}

/** A driver's own entry in the secrets store: string values by key. */
export interface DriverVault {
  get(key: string): Promise<string | null>;
  /** `null` removes the key. */
  set(key: string, value: string | null): Promise<void>;
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
  /**
   * The target's sinks take chunks straight from a source agent (`TargetCapabilities.directSinks`):
   * a source whose transport is direct links its disks to them (`SourceDisk.forwardTo`) instead
   * of opening a data channel to the engine.
   */
  directSinks?: boolean;
  /** The sync's speed limit in Mbps (seed `transfer_speed`), null = unlimited; see `SourceSnapshot.paced`. */
  limitMbps?: number | null;
}

/** A point-in-time view of a machine's disks; `close()` releases it (removes the VMware/LVM snapshot). */
export interface SourceSnapshot {
  /** How consistency was obtained, reported in the job steps. */
  readonly method: string;
  /** How disk data travels from the source (e.g. "relay over SSH", "direct TLS 1.3"), reported in the job steps. */
  readonly transport?: string;
  /**
   * The source itself sends at most `limitMbps` (the agent paces its replies), so the link carries
   * the limited rate and the engine does not throttle again; otherwise the engine paces sink writes.
   */
  readonly paced?: boolean;
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
  /**
   * Optional capability (transport direct to a sink agent): links this disk to `sink`'s direct
   * port, so chunks travel source → sink without passing through the engine. Null: the data comes
   * through `read`. Rejects (never falls back to `read`) when the link cannot be made.
   */
  forwardTo?(sink: DiskSink, signal: AbortSignal): Promise<ChunkForwarder | null>;
}

/** One chunk a forwarder moves: `held` is the digest the target holds there (replication's rule). */
export interface ForwardChunk {
  offset: number;
  length: number;
  held: bigint;
  /** Known to be all zeros: the sink writes zeros, nothing is read. */
  zero: boolean;
}

/** Moves chunks from a source disk to a sink directly; the engine sees only their digests. */
export interface ChunkForwarder {
  /** How the chunks travel, for the job step ("agent on A → sink agent on B:port, TLS 1.3 …"). */
  readonly description: string;
  /**
   * Reads the chunk at the source and, unless its digest equals `held`, writes it to the sink;
   * resolves once the sink acknowledged the write (not yet durable: `DiskSink.flush`).
   */
  forward(chunk: ForwardChunk, signal: AbortSignal): Promise<ForwardResult>;
  close(): Promise<void>;
}

export interface ForwardResult {
  digest: bigint;
  /** False: the chunk equals what the target holds; nothing was sent. */
  written: boolean;
  /** Bytes that crossed the source → sink link for it (compressed). */
  linkBytes: number;
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
  /** Its sinks have a `direct` port: a source agent can write chunks to them without the engine. */
  directSinks?: boolean;
}

export interface StoragePoolInfo {
  id: string;
  name: string;
  protocol: string;
  /** -1 when the backend does not tell (e.g. Cinder's "infinite"/"unknown"). */
  totalBytes: number;
  /** -1 when the backend does not tell. */
  usedBytes: number;
  status: string;
}

/** A target volume as the cloud sees it now (drivers that read it live: OpenStack). */
export interface TargetVolumeState {
  /** `Volume.ref`: the cloud's volume id. */
  ref: string;
  status: string;
  attached: boolean;
  /** The pool (`StoragePoolInfo.name`) the volume lives in, when the cloud tells. */
  pool: string | null;
}

export interface TargetInventory {
  displayName: string;
  /** Host name or IP of the target's endpoint (the seed's `target_ip`). */
  address: string;
  totalBytes: number;
  usedBytes: number;
  pools: StoragePoolInfo[];
  /** Live state of the target's volumes; absent when the driver does not read it from the cloud. */
  volumes?: TargetVolumeState[];
  /** How many more volumes the target takes (the project's volume quota); null = no limit or unknown. */
  freeVolumes?: number | null;
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
  /** The sink is written by an agent on the target side that a source agent can connect to (capability). */
  readonly direct?: DirectSinkPort;
}

/** A per-job TLS identity (PEM) and the far end's pinned certificate, minted by the engine. */
export interface DirectLinkKeys {
  identity: { key: string; cert: string };
  peer: { cert: string; fingerprint: string };
  timeoutMs: number;
}

/**
 * The sink agent's end of a direct link. Only the chunk writes for this volume are accepted on
 * the link; `flush` and `digests` stay on the engine's control channel.
 */
export interface DirectSinkPort {
  /** The sink agent, for messages: "the sink agent on 10.0.0.5 (KVM host)". */
  readonly where: string;
  /**
   * The sink agent listens for the pinned source agent (one connection, within the timeout) on the
   * address the source is to dial; resolves with it and the volume's handle there.
   */
  listen(keys: DirectLinkKeys, signal: AbortSignal): Promise<{ host: string; port: number; handle: number }>;
  /** The sink agent dials the pinned source agent listening at `host:port`. */
  dial(keys: DirectLinkKeys & { host: string; port: number }, signal: AbortSignal): Promise<{ handle: number }>;
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
