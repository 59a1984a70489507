/**
 * The domain model. Code is camelCase; only `api/` maps these to the seed's snake_case wire names.
 * Secrets never appear here: records hold a `secretRef` that `secrets/` resolves.
 */
import type {
  BootStatus,
  CheckLevel,
  CloudType,
  HealthStatus,
  HostStatus,
  HostStep,
  IntervalUnit,
  JobStatus,
  JobType,
  SnapshotStatus,
  SourceStatus,
  SourceType,
  StepStatus,
  TargetStatus,
} from '../../src-shared/states.js';
import type { SourceServer } from '../../src-shared/api/inventory.js';

/** Milliseconds since the epoch, UTC. */
export type Millis = number;

export interface ByteRange {
  offset: number;
  length: number;
}

/** One environment check (seed 002): data, rendered by the UI. */
export interface EnvCheck {
  id: string;
  ok: boolean;
  severity: CheckLevel;
  code: string;
  reason: string;
  params: Record<string, string | number | boolean>;
}

export interface DiskInfo {
  index: number;
  name: string;
  sizeBytes: number;
  isBoot: boolean;
  serial?: string;
  /** Driver-specific locator (image path, device path, vmdk path). Not secret. */
  locator?: string;
  format?: string;
  partitionStyle?: 'MBR' | 'GPT' | 'NONE';
  /** The partitions the source reported (agent sources). */
  partitions?: PartitionInfo[];
}

export interface PartitionInfo {
  index: number;
  name: string;
  sizeBytes: number;
  fileSystem: string | null;
  mountPoint: string | null;
  usedBytes: number | null;
  uuid: string | null;
}

export interface NicInfo {
  name: string;
  mac: string;
  ipv4: string[];
  ipv6?: string[];
  netmask?: string;
  gateway?: string;
  mtu?: number;
}

/** A machine a source can offer for registration (a VM, an agent host, an image file). */
export interface DiscoveredHost {
  id: string;
  sourceId: string;
  /** The driver's handle for the machine: VM uuid, image path, SSH host. */
  ref: string;
  name: string;
  osType: 'Linux' | 'Windows' | 'Unknown';
  osVersion: string;
  firmware: 'bios' | 'uefi';
  cpus: number;
  memoryMiB: number;
  disks: DiskInfo[];
  nics: NicInfo[];
  checks: EnvCheck[];
  /** The source server in seed 002's shape, where the driver reports one (agent sources). */
  sourceServer?: SourceServer;
  /** False once the machine disappeared from the source (a deleted VM). */
  present: boolean;
}

export interface Source {
  id: string;
  type: SourceType;
  name: string;
  /** Non-secret configuration as given (secrets stripped into the keychain). */
  config: Record<string, unknown>;
  secretRef: string | null;
  status: SourceStatus;
  statusReason: string | null;
  /** Identity pinned on first use: SSH host key or TLS thumbprint. */
  pinned: string | null;
  /** Driver-specific tree (vSphere datacenters → … → VMs); opaque to core. */
  tree: unknown;
  createdAt: Millis;
  updatedAt: Millis;
  refreshedAt: Millis | null;
}

export interface SyncStrategy {
  doSnapshot: boolean;
  autoTrigger: boolean;
  interval: number;
  intervalUnit: IntervalUnit;
  quota: number;
  startTime: Millis | null;
}

export interface Host {
  id: string;
  sourceId: string;
  sourceRef: string;
  name: string;
  hostType: string;
  systemType: 'Linux' | 'Windows' | 'Unknown';
  osVersion: string;
  firmware: 'bios' | 'uefi';
  cpus: number;
  memoryMiB: number;
  ip: string | null;
  mac: string | null;
  disks: DiskInfo[];
  nics: NicInfo[];
  checks: EnvCheck[];
  /** The source server (seed 002 shape) as discovered at registration, when the source reports one. */
  sourceServer?: SourceServer;
  status: HostStatus;
  bootStatus: BootStatus;
  healthStatus: HealthStatus;
  step: HostStep;
  targetId: string | null;
  poolId: string | null;
  /** Mbps; null = unlimited (seed: 0 means unlimited on the wire, missing means keep). */
  transferSpeed: number | null;
  syncStrategy: SyncStrategy;
  cloudInstanceId: string | null;
  lastProjectName: string | null;
  /** The job that failed last (seed `task_id`), cleared by the next success. */
  failedJobId: string | null;
  licenseId: string | null;
  description: string | null;
  /** Last persisted progress (seed `detail_data`); live ticks are kept in memory. */
  progress: SyncProgress | null;
  lastSyncAt: Millis | null;
  syncCount: number;
  /** Per disk index, the source's change marker after the last completed sync (CBT changeId). */
  markers: Record<string, string | null>;
  createdAt: Millis;
  updatedAt: Millis;
}

export interface SyncProgress {
  totalBytes: number;
  doneBytes: number;
  bytesPerSecond: number;
  remainingSeconds: number;
  phase: string;
  updatedAt: Millis;
}

export interface Target {
  id: string;
  type: 'HyperGate';
  cloudType: CloudType;
  name: string;
  config: Record<string, unknown>;
  secretRef: string | null;
  status: TargetStatus;
  statusReason: string | null;
  createdAt: Millis;
  updatedAt: Millis;
}

/** A sync proxy ("HyperGate") where the sink role runs; the Local target's is this machine. */
export interface Gateway {
  id: string;
  targetId: string;
  name: string;
  address: string;
  mode: 'local' | 'dedicated' | 'shared';
  status: 'active' | 'creating' | 'failed';
  createdAt: Millis;
}

/** One volume on a target per host disk (seed `sync_vol_<host>_<disk>`). */
export interface Volume {
  id: string;
  hostId: string;
  targetId: string;
  diskIndex: number;
  name: string;
  sizeBytes: number;
  status: 'available' | 'in-use' | 'error';
  /** Driver handle (file path, Cinder volume id). */
  ref: string;
  createdAt: Millis;
}

export interface Snapshot {
  id: string;
  hostId: string;
  targetId: string;
  name: string;
  status: SnapshotStatus;
  sizeBytes: number;
  reason: string | null;
  /** Driver handle of the point-in-time copy. */
  ref: string | null;
  createdAt: Millis;
}

export interface JobStep {
  name: string;
  status: StepStatus;
  startAt: Millis | null;
  endAt: Millis | null;
  detail: string | null;
}

export interface Job {
  id: string;
  eventId: string;
  type: JobType;
  /** The host (or source/target) the job belongs to: seed `source_id`. */
  ownerId: string | null;
  ownerKind: 'host' | 'target' | 'source';
  /** Seed `host`: the owner's display name. */
  ownerName: string;
  description: string;
  status: JobStatus;
  detail: string;
  failedStep: string | null;
  failureReason: string | null;
  steps: JobStep[];
  params: Record<string, unknown>;
  startAt: Millis;
  endAt: Millis | null;
  updatedAt: Millis;
}

/** Placeholder license (seed 001): one evaluation license consumed per host. */
export interface License {
  id: string;
  name: string;
  total: number;
  used: number;
  expiresAt: Millis | null;
}

export interface User {
  username: string;
  passwordHash: string;
  mustChangePassword: boolean;
  failedAttempts: number;
  lockedUntil: Millis | null;
  updatedAt: Millis;
}

export interface Session {
  tokenHash: string;
  username: string;
  expiresAt: Millis;
  /** Issued to the desktop shell in-process (never over the network); exempt from the first-login password change. */
  local: boolean;
}
