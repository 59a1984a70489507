/** Seed 000 §4.3–§4.8: hosts through register, sync, boot and cleanup. */
import { Type, type Static } from '@sinclair/typebox';
import { BOOT_STATUSES, HEALTH_STATUSES, HOST_STATUSES, SNAPSHOT_STATUSES } from '../states.js';
import { IdList, PageQuery, Uuid, paged } from './common.js';
import { SEED_CLOUD_TYPES } from './targets.js';
import { EnvironmentCheckItem, SourceServer } from './inventory.js';

const nullableString = Type.Union([Type.String(), Type.Null()]);
const loose = Type.Object({}, { additionalProperties: true });
const lit = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));

export const RegisterBody = Type.Object({ ids: IdList }, { additionalProperties: false });
export type RegisterBody = Static<typeof RegisterBody>;

export const SyncParams = Type.Object(
  {
    do_snapshot: Type.Boolean({ description: 'Take a snapshot when the sync completes' }),
    sync_mode: lit(['full', 'incremental'] as const),
    transfer_speed: Type.Optional(
      Type.Union([Type.Number({ minimum: 0, maximum: 1_000_000 }), Type.Null()], {
        description: 'Mbps. Missing or null: keep the last value (unlimited the first time); 0: unlimited; ≥ 1: limit',
      }),
    ),
  },
  { additionalProperties: false },
);

/** POST /hosts carries exactly one of sync, clean, next_step or stop_sync. */
export const HostsActionBody = Type.Object(
  {
    ids: IdList,
    sync: Type.Optional(SyncParams),
    clean: Type.Optional(Type.Object({ force: Type.Optional(Type.Boolean({ default: false })) }, { additionalProperties: false })),
    next_step: Type.Optional(Type.Object({ step: Type.Literal('4') }, { additionalProperties: false })),
    stop_sync: Type.Optional(Type.Object({}, { additionalProperties: false, description: 'Extension: stop a running sync and the sync schedule' })),
  },
  { additionalProperties: false },
);
export type HostsActionBody = Static<typeof HostsActionBody>;

const optStr = Type.Optional(Type.String({ maxLength: 1024 }));
export const BootParams = Type.Object(
  {
    backup_type: lit(['volume_snapshot', 'volume_backup'] as const),
    snapshot_id: Uuid,
    os_type: Type.Optional(lit(['Linux', 'Windows'] as const)),
    project_name: optStr,
    project_domain_id: optStr,
    user_name: optStr,
    user_domain_id: optStr,
    user_password: optStr,
    network_id: optStr,
    availability_zone_id: optStr,
    security_group_id: optStr,
    flavor_id: optStr,
    fixed_ip: Type.Optional(Type.String({ maxLength: 64, anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }, { const: '' }] })),
    keypair_id: optStr,
    subnet_id: optStr,
    floating_ip_id: optStr,
    admin_pass: optStr,
    floating_ip_address: optStr,
    floating_network_id: optStr,
    network_name: optStr,
    network_type: optStr,
    subnet_name: optStr,
    subnet_cidr: optStr,
    availability_zone_name: optStr,
    security_group_name: optStr,
    flavor_name: optStr,
    flavor_ram: optStr,
    flavor_vcpus: optStr,
    boot_timeout_seconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 86_400, description: 'Extension: how long boot verification waits for the login prompt or marker (default 600)' })),
    boot_marker: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'Extension: a regular expression on the serial console that means booted (default: a login prompt or MIGRATION-BOOT-OK)' })),
    fixup: Type.Optional(Type.Boolean({ description: 'Extension: run the OS fix-up (virtio drivers, device names, NIC names, VMware tools) on the copy before it boots; default true, Linux guests only' })),
    public_key: Type.Optional(
      Type.String({ maxLength: 16_384, description: 'Extension: an OpenSSH public key line that cloud-init installs for root (Local target: besides keypair_id, which names a <name>.pub file the target lists as a key pair)' }),
    ),
    stop_source_services: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9@_][A-Za-z0-9@._:-]*$' }), {
        maxItems: 64,
        description: 'Extension, cutover only (backup_type "volume_backup"): systemd units stopped on the source host (Agent sources) before the final sync, so no write is lost; reported as the job step "Stop source services"',
      }),
    ),
  },
  { additionalProperties: false },
);
export const BootBody = Type.Object({ boot: BootParams }, { additionalProperties: false });
export type BootBody = Static<typeof BootBody>;

export const AssignBody = Type.Object(
  {
    ids: IdList,
    storage_id: Uuid,
    storage_name: Type.Optional(Type.String({ maxLength: 256 })),
    pool_id: Uuid,
    pool_name: Type.Optional(Type.String({ maxLength: 256 })),
    step: Type.Literal('2'),
  },
  { additionalProperties: false },
);
export type AssignBody = Static<typeof AssignBody>;

export const SyncStrategyBody = Type.Object(
  {
    do_snapshot: Type.Optional(Type.Boolean()),
    snapshot_auto_trigger: Type.Optional(Type.Boolean()),
    snapshot_interval: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    snapshot_interval_unit: Type.Optional(lit(['1', '2', '3'] as const)),
    snapshot_quota: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    snapshot_start_time: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
    transfer_speed: Type.Optional(Type.Union([Type.Number({ minimum: 0, maximum: 1_000_000 }), Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type SyncStrategyBody = Static<typeof SyncStrategyBody>;

export const HostListQuery = Type.Object(
  {
    status: Type.Optional(lit(['register', 'sync', 'boot'] as const)),
    ...PageQuery,
    target_platform: Type.Optional(lit(SEED_CLOUD_TYPES)),
    ids: Type.Optional(Type.String({ maxLength: 65536, description: 'Comma-separated host ids' })),
    macs: Type.Optional(Type.String({ maxLength: 65536, description: 'Comma-separated MAC addresses' })),
    kw: Type.Optional(Type.String({ maxLength: 256, description: 'Search in host names' })),
  },
  { additionalProperties: false },
);

export const HostDetailQuery = Type.Object(
  { sheet: lit(['base', 'storage', 'snapshot'] as const), ...PageQuery },
  { additionalProperties: false },
);

export const DetailData = Type.Object({
  percent: Type.Number(),
  remaining_time: Type.String(),
  speed: Type.String(),
  sync_detail: Type.String(),
  sync_total: Type.String(),
  synced: Type.String(),
});

export const SnapshotItem = Type.Object({
  created_at: Type.String(),
  size: Type.String(),
  id: Type.String(),
  snapshot_name: Type.String(),
  status: lit(SNAPSHOT_STATUSES),
});

/** One host row: the union of the fields the seed shows in §4.7, §4.7.1, §4.7.3 and §4.7.4. */
export const HostItem = Type.Object({
  id: Type.String(),
  host_name: Type.String(),
  host_type: Type.String(),
  system_type: Type.String(),
  ip_address: nullableString,
  mac_address: nullableString,
  created_at: Type.String(),
  description: nullableString,
  detail: nullableString,
  detail_data: Type.Union([DetailData, Type.Null()]),
  h_host_status: lit(HOST_STATUSES),
  h_boot_status: lit(BOOT_STATUSES),
  h_health_status: lit(HEALTH_STATUSES),
  h_sync_status: Type.String(),
  host_status: Type.String(),
  boot_status: Type.String(),
  health_status: Type.String(),
  sync_status: Type.String(),
  host_icon: Type.String(),
  boot_icon: nullableString,
  health_icon: Type.String(),
  sync_icon: Type.String(),
  is_clean: Type.Boolean(),
  is_doing: Type.Boolean(),
  is_next_step: Type.Boolean(),
  is_stop_sync: Type.Boolean(),
  is_sync: Type.Boolean(),
  has_success_snapshot: Type.Boolean(),
  last_snapshots_at: nullableString,
  last_project_name: nullableString,
  license_id: nullableString,
  license_valid: Type.Boolean(),
  snapshots: Type.Array(SnapshotItem),
  storage_id: nullableString,
  target_name: nullableString,
  task_id: nullableString,
  cloud_instance_id: nullableString,
  sync_required_volumes: Type.Integer(),
  step: Type.String(),
});

export const HostListReply = paged(HostItem);

export const HostBaseReply = Type.Object({
  host_detail: Type.Object({
    primary_information: Type.Object({
      data: Type.Record(Type.String(), Type.Object({ title: Type.String(), value: Type.String() })),
      health_status: Type.String(),
      title: Type.String(),
    }),
    inventory: loose,
    checks: Type.Array(EnvironmentCheckItem),
    source_server: Type.Union([SourceServer, Type.Null()], { description: 'Extension: the source server in seed 002 shape (Agent sources), else null' }),
  }),
});

export const HostStorageReply = Type.Object({
  description: Type.String(),
  disk: Type.Object({ data: Type.Array(loose) }),
  volume: Type.Object({ data: Type.Array(loose) }),
});

export const SyncStrategyItem = Type.Object({
  do_snapshot: Type.Boolean(),
  snapshot_auto_trigger: Type.Boolean(),
  snapshot_interval: Type.Integer(),
  snapshot_interval_unit: Type.String(),
  snapshot_quota: Type.Integer(),
  snapshot_start_time: nullableString,
  transfer_speed: Type.Number(),
});

export const HostSnapshotReply = Type.Object({
  data: Type.Array(
    Type.Object({
      created_at: Type.String(),
      id: Type.String(),
      is_available: Type.Boolean(),
      size: Type.Number(),
      snapshot_name: Type.String(),
      display_is_available: Type.String(),
      status: lit(SNAPSHOT_STATUSES),
      reason: nullableString,
    }),
  ),
  sync_strategy: SyncStrategyItem,
  total: Type.Integer(),
  page_size: Type.Integer(),
});
