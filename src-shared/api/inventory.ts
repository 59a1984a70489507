/**
 * A source server's inventory and environment checks in seed 002's shape (Huawei SMS
 * `GET /v3/sources/{id}`): field names as the seed spells them. Shown as `source_server` by
 * `GET /sources/:id` (each host) and `GET /hosts/:id?sheet=base` (`host_detail`). Fields the seed
 * lacks are marked "Extension". Sizes are bytes; `memory` is bytes too, as the seed's example
 * (2146553856 for a 2 GB server) shows, whatever its table says.
 */
import { Type, type Static } from '@sinclair/typebox';

const nstr = (description: string) => Type.Union([Type.String(), Type.Null()], { description });
const nint = (description: string) => Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description });
const bytes = (description: string) => Type.Integer({ minimum: 0, description });

export const DEVICE_USES = ['BOOT', 'OS', 'NORMAL'] as const;
export type DeviceUse = (typeof DEVICE_USES)[number];
const deviceUse = Type.Union(DEVICE_USES.map((u) => Type.Literal(u)), { description: 'BOOT: holds the boot loader or /boot; OS: holds /; NORMAL: data' });

/** A partition (seed: the disk's `physical_volumes`). */
export const ServerPartition = Type.Object({
  name: Type.String({ description: 'Device name (sda1), or disk name + number when the kernel shows no partition device' }),
  index: Type.Integer({ minimum: 0, description: 'Partition number' }),
  device_use: deviceUse,
  file_system: nstr('File system type as blkid names it (ext4, xfs, btrfs, vfat, swap, LVM2_member …)'),
  mount_point: nstr('Where it is mounted, or null'),
  size: bytes('Size'),
  used_size: nint('Used bytes of its mounted file system (or LVM PV), or null when unknown'),
  inode_nums: nint('Inodes of its mounted file system, or null'),
  uuid: nstr('File system UUID'),
  offset: Type.Optional(bytes('Extension. Start offset on the disk')),
  part_type: Type.Optional(nstr('Extension. Partition type (MBR type byte or GPT type GUID)')),
  label: Type.Optional(nstr('Extension. File system label')),
});
export type ServerPartition = Static<typeof ServerPartition>;

export const ServerDisk = Type.Object({
  name: Type.String(),
  partition_style: Type.Union([Type.Literal('MBR'), Type.Literal('GPT'), Type.Literal('NONE')]),
  device_use: deviceUse,
  size: bytes('Size'),
  used_size: bytes('Used bytes: the sum of what its partitions use (known ones)'),
  os_disk: Type.Boolean({ description: 'Holds the root file system' }),
  relation_name: nstr('Target disk name (set when a target is assigned)'),
  physical_volumes: Type.Array(ServerPartition),
  path: Type.Optional(Type.String({ description: 'Extension. Device path' })),
  file_system: Type.Optional(nstr('Extension. A file system on the whole disk (no partition table)')),
  serial: Type.Optional(nstr('Extension. Serial number')),
});
export type ServerDisk = Static<typeof ServerDisk>;

export const ServerLogicalVolume = Type.Object({
  name: Type.String(),
  file_system: nstr('File system type'),
  mount_point: nstr('Mount point'),
  size: bytes('Size'),
  used_size: nint('Used bytes of its mounted file system'),
  free_size: nint('Free bytes of its mounted file system'),
  block_count: Type.Integer({ minimum: 0 }),
  block_size: Type.Integer({ minimum: 0 }),
  inode_nums: nint('Inodes of its mounted file system'),
  device_use: deviceUse,
  path: Type.Optional(Type.String({ description: 'Extension. /dev/<vg>/<lv>' })),
});

export const ServerPhysicalVolume = Type.Object({
  name: Type.String({ description: 'The PV device (/dev/sda2)' }),
  size: bytes('Size'),
  free_size: bytes('Free bytes'),
  disk: nstr('The copied disk it lies on, or null'),
});

export const ServerVolumeGroup = Type.Object({
  name: Type.String(),
  components: Type.String({ description: 'Its physical volumes, comma-separated' }),
  size: bytes('Size'),
  free_size: bytes('Free bytes (room for snapshots)'),
  logical_volumes: Type.Array(ServerLogicalVolume),
  physical_volumes: Type.Optional(Type.Array(ServerPhysicalVolume, { description: 'Extension. The PVs with their sizes' })),
});

export const ServerBtrfsSubvolume = Type.Object({
  uuid: Type.String(),
  is_snapshot: Type.String({ description: '"true" or "false" (a string in the seed)' }),
  subvol_id: Type.String(),
  parent_id: Type.String(),
  subvol_name: Type.String(),
  subvol_mount_path: Type.String(),
  subvol_uuid: Type.Optional(Type.String({ description: "Extension. The subvolume's own uuid (the seed's uuid is the file system's)" })),
  parent_uuid: Type.Optional(Type.String({ description: 'Extension. For a snapshot: the uuid of the subvolume it was taken of' })),
});

export const ServerBtrfs = Type.Object({
  name: Type.String({ description: 'The device holding it' }),
  label: Type.String(),
  uuid: Type.String(),
  device: Type.String(),
  size: bytes('Bytes used by data and metadata'),
  nodesize: Type.Integer(),
  sectorsize: Type.Integer(),
  data_profile: Type.String(),
  system_profile: Type.String(),
  metadata_profile: Type.String(),
  global_reserve1: Type.String(),
  g_vol_used_size: Type.Integer(),
  default_subvolid: Type.String(),
  default_subvol_name: Type.String(),
  default_subvol_mountpath: Type.String(),
  subvolumn: Type.Array(ServerBtrfsSubvolume),
});

export const ServerAddress = Type.Object({
  address: Type.String(),
  family: Type.Union([Type.Literal('IPv4'), Type.Literal('IPv6')]),
  netmask: Type.String(),
  prefix: Type.Integer({ minimum: 0, maximum: 128 }),
});

export const ServerNetwork = Type.Object({
  name: Type.String(),
  ip: nstr('First IPv4 address'),
  ipv6: nstr('First global or link IPv6 address'),
  netmask: nstr('Netmask of `ip`'),
  gateway: nstr('Default gateway through this NIC'),
  mtu: Type.Integer({ minimum: 0 }),
  mac: Type.String(),
  addresses: Type.Optional(Type.Array(ServerAddress, { description: 'Extension. Every address with its own netmask' })),
  ipv6_gateway: Type.Optional(nstr('Extension. Default IPv6 gateway through this NIC')),
});

export const SourceServer = Type.Object({
  hostname: Type.String(),
  os_type: Type.Union([Type.Literal('LINUX'), Type.Literal('WINDOWS')]),
  os_version: Type.String(),
  oem_system: Type.Boolean(),
  firmware: Type.Union([Type.Literal('BIOS'), Type.Literal('UEFI')]),
  cpu_quantity: Type.Integer({ minimum: 0 }),
  memory: bytes('Physical memory in bytes (as the seed example shows)'),
  disks: Type.Array(ServerDisk),
  volume_groups: Type.Array(ServerVolumeGroup),
  btrfs_list: Type.Array(ServerBtrfs),
  networks: Type.Array(ServerNetwork),
  kernel: Type.Optional(Type.String({ description: 'Extension. Kernel release (uname -r)' })),
  agent_version: Type.Optional(Type.String()),
});
export type SourceServer = Static<typeof SourceServer>;
export type ServerVolumeGroup = Static<typeof ServerVolumeGroup>;
export type ServerLogicalVolume = Static<typeof ServerLogicalVolume>;
export type ServerBtrfs = Static<typeof ServerBtrfs>;
export type ServerNetwork = Static<typeof ServerNetwork>;

/** One environment check as the API shows it: the seed's fields, and ours the UI reads. */
export const EnvironmentCheckItem = Type.Object({
  name: Type.String({ description: 'OS_VERSION, FIRMWARE, CPU, MEMORY, SYSTEM_ROOT, PARTITION_STYLE, FILE_SYSTEM, FREE_SPACE, OEM_SYSTEM, DRIVER_FILE, SERVICE, ACCOUNT_RIGHTS' }),
  result: Type.Union([Type.Literal('OK'), Type.Literal('WARN'), Type.Literal('ERROR')]),
  error_code: nstr('Why it is not OK (null when OK)'),
  error_or_warn: nstr('The reason, for WARN and ERROR'),
  error_params: Type.String({ description: 'key=value pairs behind the result, comma-separated ("" when OK)' }),
  params: Type.Array(Type.String(), { description: 'The same pairs, one string each' }),
  id: Type.String({ description: 'Extension: equals name' }),
  ok: Type.Boolean({ description: 'Extension: false exactly for ERROR' }),
  severity: Type.String({ description: 'Extension: equals result' }),
  code: Type.String({ description: 'Extension: OK or the error code' }),
  reason: Type.String({ description: 'Extension: the reason, for every level' }),
});
