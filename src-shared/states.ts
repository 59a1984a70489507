/**
 * State enums of seed 000 §4.7 (and the target list of §4.2.2), verbatim: these strings are
 * wire values, stored as they are and never translated.
 */

export const HOST_STATUSES = [
  'host_register_done',
  'host_unregister_doing',
  'host_unregister_done',
  'host_unregister_failed',
  'sync_doing',
  'sync_failed',
  'sync_snapshot_done',
  'clean_doing',
  'clean_done',
  'clean_failed',
] as const;
export type HostStatus = (typeof HOST_STATUSES)[number];

export const BOOT_STATUSES = ['not_boot', 'boot_doing', 'boot_failed', 'boot_done'] as const;
export type BootStatus = (typeof BOOT_STATUSES)[number];

export const HEALTH_STATUSES = ['active', 'disconnected'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

export const TARGET_STATUSES = [
  'active',
  'disconnected',
  'creating',
  'removing',
  'create_failed',
  'remove_failed',
  'available',
] as const;
export type TargetStatus = (typeof TARGET_STATUSES)[number];

export const SNAPSHOT_STATUSES = ['create_doing', 'create_failed', 'create_done'] as const;
export type SnapshotStatus = (typeof SNAPSHOT_STATUSES)[number];

export const JOB_STATUSES = ['working', 'done', 'failed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const STEP_STATUSES = ['pending', 'working', 'done', 'failed', 'skipped'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** Job types as `GET /jobs?job_type=` accepts them (seed 000 §4.8.4 shows `Register`). */
export const JOB_TYPES = [
  'Register',
  'Sync',
  'Snapshot',
  'Boot',
  'Clean',
  'Unregister',
  'StopSync',
  'CreateTarget',
  'RemoveTarget',
  'AddSource',
  'RefreshSource',
] as const;
export type JobType = (typeof JOB_TYPES)[number];

/** The wizard steps of seed 000: 1 registered, 2 assigned to a platform (sync list), 4 boot list. */
export const HOST_STEPS = ['1', '2', '4'] as const;
export type HostStep = (typeof HOST_STEPS)[number];

/** `GET /hosts?status=` values and the step each one lists. */
export const HOST_LIST_STEP = { register: '1', sync: '2', boot: '4' } as const satisfies Record<string, HostStep>;
export type HostListStatus = keyof typeof HOST_LIST_STEP;

export const SOURCE_TYPES = ['VMware', 'Agent', 'Image'] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

export const SOURCE_STATUSES = ['connecting', 'connected', 'disconnected', 'failed'] as const;
export type SourceStatus = (typeof SOURCE_STATUSES)[number];

/** Target platforms this build can drive (`GET /targets/types` → `query_name`). */
export const CLOUD_TYPES = ['OpenStack', 'KVM', 'Local'] as const;
export type CloudType = (typeof CLOUD_TYPES)[number];

/** Seed §4.7.5: `snapshot_interval_unit` is a string code. */
export const INTERVAL_UNITS = { '1': 'minutes', '2': 'hours', '3': 'days' } as const;
export type IntervalUnit = keyof typeof INTERVAL_UNITS;

export const RESOURCE_KINDS = [
  'flavors',
  'networks',
  'subnets',
  'security_groups',
  'keypairs',
  'floating_ips',
  'availability_zones',
  'volume_types',
  'projects',
  'quotas',
] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export const CHECK_LEVELS = ['OK', 'WARN', 'ERROR'] as const;
export type CheckLevel = (typeof CHECK_LEVELS)[number];
