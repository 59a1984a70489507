/** Seed 000 §4.2 and §4.8.1: target platforms ("HyperGate" storages). */
import { Type, type Static, type TObject } from '@sinclair/typebox';
import { CLOUD_TYPES, RESOURCE_KINDS, TARGET_STATUSES, type CloudType } from '../states.js';

/** Values the seed lists for `cloud_type` / `target_platform` filters (more than this build drives). */
export const SEED_CLOUD_TYPES = [
  'OpenStack', 'H3CCloudOS', 'AWSEBS', 'ZStack', 'Aliyun', 'TencentCloud', 'AzureCloud', 'HuaweiCloud',
  'JinshanCloud', 'OpenStackImageBootV2', 'PinganCloud', 'QingCloud', 'KVM', 'Local',
] as const;

const str = (description: string, examples?: string[]) => Type.String({ minLength: 1, maxLength: 1024, description, ...(examples ? { examples } : {}) });

/** Per cloud type, the `config` fields; checked after the common envelope. */
export const TargetConfigSchemas: Record<CloudType, TObject> = {
  OpenStack: Type.Object(
    {
      cloud_type: Type.Literal('OpenStack'),
      os_auth_url: Type.String({ minLength: 1, maxLength: 1024, pattern: '^https?://', description: 'Keystone v3 URL', examples: ['http://192.168.10.201:5000/v3'] }),
      os_username: str('User name'),
      os_password: str('Password (kept in the OS keychain)'),
      os_project_name: str('Project name'),
      os_user_domain_id: Type.Optional(str('User Domain ID', ['default'])),
      os_project_domain_id: Type.Optional(str('Project Domain ID', ['default'])),
      os_region_name: Type.Optional(str('Region', ['RegionOne'])),
      volume_availability_zone: Type.Optional(str('Volume availability zone', ['nova'])),
      port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'HyperGate service port' })),
      auth_url: Type.Optional(str('HyperGate service address')),
      volume_type: Type.Optional(str('Cinder volume type of the sync volumes (default: the cloud\'s default type)', ['standard'])),
      os_interface: Type.Optional(
        Type.Union([Type.Literal('public'), Type.Literal('internal'), Type.Literal('admin')], { default: 'public', description: 'Endpoint interface taken from the Keystone service catalog' }),
      ),
      cutover_copy: Type.Optional(
        Type.Union([Type.Literal('auto'), Type.Literal('clone')], {
          default: 'auto',
          description: 'How a cutover volume is made independent of the snapshot chain: auto = Cinder backup and restore when the backup service works, else a flattened clone; clone = always the clone',
        }),
      ),
      gateway_mode: Type.Optional(
        Type.Union([Type.Literal('dedicated'), Type.Literal('shared')], {
          description: 'dedicated: gateway and volumes in this project; shared: in this (service) project, volumes handed to the user\'s project by volume transfer at boot',
        }),
      ),
      gateway_server_id: Type.Optional(str('Existing gateway (HyperGate) instance id')),
      gateway_image_id: Type.Optional(str('Image for a gateway Rehost creates')),
      gateway_flavor_id: Type.Optional(str('Flavor for a gateway Rehost creates')),
      gateway_network_id: Type.Optional(str('Network for a gateway Rehost creates')),
      gateway_address: Type.Optional(str('SSH address of the gateway (default: its floating or fixed IP)', ['192.168.10.50'])),
      gateway_ssh_port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 22, description: 'SSH port of the gateway' })),
      gateway_username: Type.Optional(str('SSH user on the gateway', ['root'])),
      gateway_password: Type.Optional(str('SSH password of the gateway (kept in the OS keychain)')),
      gateway_private_key: Type.Optional(Type.String({ minLength: 1, maxLength: 65536, description: 'SSH private key of the gateway, PEM/OpenSSH (kept in the OS keychain)' })),
      gateway_passphrase: Type.Optional(str('Passphrase of the gateway key (kept in the OS keychain)')),
      gateway_host_key: Type.Optional(Type.String({ pattern: '^SHA256:[A-Za-z0-9+/]{43}$', description: 'Pinned SSH host key of the gateway, SHA256:… (default: pinned on first use)' })),
      gateway_sudo: Type.Optional(Type.Boolean({ description: 'Run the agent through sudo -n (a non-root gateway user)' })),
      gateway_direct_address: Type.Optional(
        Type.String({ minLength: 1, maxLength: 255, pattern: '^[0-9A-Za-z.:%-]+$', description: 'Extension. Address of the gateway that source agents with transport direct connect to (its sink agent listens there); default: the address the SSH connection reached' }),
      ),
    },
    { additionalProperties: false },
  ),
  KVM: Type.Object(
    {
      cloud_type: Type.Literal('KVM'),
      address: str('SSH address of the KVM host', ['127.0.0.1']),
      port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 22 })),
      username: str('SSH user'),
      password: Type.Optional(str('SSH password (kept in the OS keychain)')),
      private_key: Type.Optional(Type.String({ minLength: 1, maxLength: 65536, description: 'SSH private key, PEM/OpenSSH (kept in the OS keychain)' })),
      passphrase: Type.Optional(str('Private key passphrase')),
      host_key: Type.Optional(Type.String({ pattern: '^SHA256:', description: 'Pinned SSH host key' })),
      sudo: Type.Optional(Type.Boolean()),
      path: Type.Optional(str('Storage folder on the KVM host', ['/var/lib/rehost'])),
      libvirt_uri: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, pattern: '^[A-Za-z0-9+]+://', description: 'libvirt URI on the KVM host (default qemu:///system; plain QEMU when libvirt is absent and this is unset)', examples: ['qemu:///system'] })),
      direct_address: Type.Optional(
        Type.String({ minLength: 1, maxLength: 255, pattern: '^[0-9A-Za-z.:%-]+$', description: 'Extension. Address of the KVM host that source agents with transport direct connect to (its sink agent listens there); default: the address the SSH connection reached' }),
      ),
    },
    { additionalProperties: false },
  ),
  Local: Type.Object(
    {
      cloud_type: Type.Literal('Local'),
      path: Type.String({ minLength: 2, maxLength: 4096, pattern: '^(/|[A-Za-z]:[\\\\/])', description: 'Absolute path of a folder on this machine where migrated disks live' }),
    },
    { additionalProperties: false },
  ),
};

/** Secret fields per cloud type: stored in the keychain, never in the database. */
export const TARGET_SECRET_FIELDS: Record<CloudType, readonly string[]> = {
  OpenStack: ['os_password', 'gateway_password', 'gateway_private_key', 'gateway_passphrase'],
  KVM: ['password', 'private_key', 'passphrase'],
  Local: [],
};

export const CreateTargetBody = Type.Object(
  {
    type: Type.Literal('HyperGate', { description: 'Cloud platform type' }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Display name (default: <cloud_type>_<address>)' })),
    config: Type.Object({ cloud_type: Type.Union(CLOUD_TYPES.map((t) => Type.Literal(t))) }, { additionalProperties: true }),
    metadata: Type.Optional(Type.Object({ driver_name: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type CreateTargetBody = Static<typeof CreateTargetBody>;

export const TargetListQuery = Type.Object(
  {
    type: Type.Optional(Type.Literal('HyperGate')),
    cloud_type: Type.Optional(Type.Union(SEED_CLOUD_TYPES.map((t) => Type.Literal(t)))),
  },
  { additionalProperties: false },
);

export const TargetListItem = Type.Object({
  assign_size: Type.Number(),
  cloud_type: Type.String(),
  is_doing: Type.Boolean(),
  online: Type.Integer({ description: '1 online, 0 offline' }),
  status_icon: Type.String(),
  target_display_name: Type.String(),
  target_status: Type.Union(TARGET_STATUSES.map((s) => Type.Literal(s))),
  status_reason: Type.Union([Type.String(), Type.Null()]),
  uuid: Type.String(),
});

export const StorageItem = Type.Object({
  pools: Type.Array(Type.Object({ pool_display_name: Type.String(), pool_uuid: Type.String(), storage_id: Type.String() })),
  storage_display_name: Type.String(),
  storage_id: Type.String(),
  storage_name: Type.String(),
  volumes_allocated_num: Type.Integer(),
  volumes_unused_num: Type.Integer(),
});

export const TargetListReply = Type.Object({
  targets: Type.Object({ data: Type.Array(TargetListItem), storages: Type.Array(StorageItem) }),
});

const loose = Type.Object({}, { additionalProperties: true });

export const TargetDetailReply = Type.Object({
  Storage: Type.Object({ data: Type.Array(loose) }),
  storage_pools: Type.Object({ data: Type.Array(loose) }),
  volume_groups: Type.Object({ data: Type.Array(loose) }),
  volumes: Type.Object({ data: Type.Array(loose) }),
});

export const TargetDeleteQuery = Type.Object({ force: Type.Optional(Type.Boolean()) }, { additionalProperties: false });

export const TargetTypesReply = Type.Object({
  target_types: Type.Array(Type.Object({ display_name: Type.String(), query_name: Type.String() })),
});

export const ResourceQuery = Type.Object(
  { kind: Type.Union(RESOURCE_KINDS.map((k) => Type.Literal(k)), { description: 'Which resource list' }) },
  { additionalProperties: false },
);

export const ResourceReply = Type.Object({ kind: Type.String(), data: Type.Array(loose) });
