/**
 * What the agent reports about its host, as it travels on the wire: the source server in seed
 * 002's shape (src-shared/api/inventory.ts), plus the facts the environment checks and the engine
 * need that the seed has no field for (snake_case too, so the source tree reads as one document).
 * The check shape equals core's EnvCheck.
 */
import type { SourceServer } from '../../../src-shared/api/inventory.js';

export interface WireCheck {
  id: string;
  ok: boolean;
  severity: 'OK' | 'WARN' | 'ERROR';
  code: string;
  reason: string;
  params: Record<string, string | number | boolean>;
}

export interface WireMount {
  device: string;
  mount_point: string;
  fs_type: string;
  size: number;
  free: number;
}

/** Where virtio drivers are found for DRIVER_FILE: module names without `.ko`. */
export interface WireDrivers {
  /** In the newest initramfs. */
  initramfs: string[];
  /** Built into the running kernel (modules.builtin). */
  builtin: string[];
  /** Module files present under /lib/modules/<kernel>/, so an initramfs rebuild can add them. */
  installable: string[];
  /** The initramfs that was listed, or null when none was found or no lister ran. */
  initramfs_file: string | null;
}

/** Agent-only facts beside the seed's fields. */
export interface AgentFacts {
  arch: string;
  glibc: string | null;
  cpu_model: string;
  /** MemAvailable from /proc/meminfo, bytes. */
  memory_available: number | null;
  /** The device mounted at / and its type, or null when / is not in the mount table. */
  root_device: string | null;
  root_fs_type: string | null;
  mounts: WireMount[];
  /** Free bytes where the agent runs (its temp folder). */
  agent_dir_free: number | null;
  drivers: WireDrivers;
  /** Running processes of services that block a consistent copy or need stopping, by service name. */
  services: { running: string[]; sshd: boolean; systemd: boolean };
  uid: number;
  /** CAP_SYS_ADMIN in the effective set: needed for fsfreeze and LVM snapshots. */
  cap_sys_admin: boolean;
  dmi: { vendor: string | null; product: string | null };
  /** How a point-in-time view can be had here: `lvm-snapshot` or `converging-passes`. */
  consistency: string;
}

export type WireInventory = SourceServer & AgentFacts;
