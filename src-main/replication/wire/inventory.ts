/**
 * What the agent reports about its host (seed 002's SMS shape), as it travels on the wire. The
 * engine's source driver maps it onto core's model; the check shape equals core's EnvCheck.
 */

export interface WireCheck {
  id: string;
  ok: boolean;
  severity: 'OK' | 'WARN' | 'ERROR';
  code: string;
  reason: string;
  params: Record<string, string | number | boolean>;
}

export interface WirePartition {
  name: string;
  sizeBytes: number;
  fsType: string | null;
  mountPoint: string | null;
  usedBytes: number | null;
  uuid: string | null;
}

export interface WireDisk {
  path: string;
  name: string;
  sizeBytes: number;
  partitionStyle: 'MBR' | 'GPT' | 'NONE';
  fsType: string | null;
  partitions: WirePartition[];
  serial: string | null;
}

export interface WireNic {
  name: string;
  mac: string;
  ipv4: string[];
  ipv6: string[];
  netmask: string | null;
  gateway: string | null;
  mtu: number | null;
}

export interface WireInventory {
  hostname: string;
  osType: 'Linux';
  osName: string;
  osVersion: string;
  kernel: string;
  arch: string;
  glibc: string | null;
  firmware: 'bios' | 'uefi';
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  rootDevice: string | null;
  disks: WireDisk[];
  lvm: { volumeGroups: { name: string; sizeBytes: number; freeBytes: number }[]; logicalVolumes: { name: string; vg: string; sizeBytes: number }[] };
  nics: WireNic[];
  mounts: { device: string; mountPoint: string; fsType: string; sizeBytes: number; freeBytes: number }[];
  initramfsDrivers: string[];
  services: { sshd: boolean; systemd: boolean };
  uid: number;
  /** How a point-in-time view can be had here: `lvm-snapshot`, `fsfreeze`, or `converging-passes`. */
  consistency: string;
}
