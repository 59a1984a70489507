/**
 * Unit formatting in the seed's shapes ("512MB", "14Mbps", "2Minute(s)19Sec(s)", "0:2:19"):
 * one implementation for the engine, the CLI and the renderer.
 */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Bytes as the seed shows sizes in `detail_data` ("512MB", "1.5GB"). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '0MB';
  if (bytes >= GiB) return `${trim(bytes / GiB)}GB`;
  if (bytes >= MiB || bytes === 0) return `${trim(bytes / MiB)}MB`;
  return `${trim(bytes / 1024)}KB`;
}

/** Capacity as in `sheet=storage` ("5.0G") and target details ("40.0GB"). */
export function formatCapacity(bytes: number, suffix: 'G' | 'GB' = 'GB'): string {
  return `${(bytes / GiB).toFixed(1)}${suffix}`;
}

/** Bits per second as `speed` ("14Mbps"). */
export function formatSpeed(bytesPerSecond: number): string {
  const mbps = (bytesPerSecond * 8) / 1_000_000;
  if (!Number.isFinite(mbps) || mbps <= 0) return '0Mbps';
  return mbps >= 10 ? `${Math.round(mbps)}Mbps` : `${trim(mbps)}Mbps`;
}

/** Seconds as `remaining_time` ("2Minute(s)19Sec(s)", "1Hour(s)0Minute(s)5Sec(s)"). */
export function formatRemaining(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return 'Unknown';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}Hour(s)${m}Minute(s)${sec}Sec(s)`;
  if (m > 0) return `${m}Minute(s)${sec}Sec(s)`;
  return `${sec}Sec(s)`;
}

/** Seconds as the clock form inside `sync_detail` ("0:2:19"). */
export function formatClock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  return `${Math.floor(s / 3600)}:${Math.floor((s % 3600) / 60)}:${s % 60}`;
}

/** Seed timestamps: ISO 8601 in UTC, whole seconds ("2019-06-27T11:05:47Z"). */
export function formatTimestamp(ms: number | null | undefined): string | null {
  if (ms === null || ms === undefined) return null;
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Snapshot names: `HyperMotion-YYYYMMDDTHHMMSS` in the engine's local time, as seed 000's example
 * has it (created_at `2020-01-02T03:00:10Z`, name `HyperMotion-20200102T110011`: UTC+8, a second
 * later). `created_at` stays UTC; a name repeated by a clock change gets the next free second.
 */
export function snapshotName(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  const day = `${d.getFullYear()}${two(d.getMonth() + 1)}${two(d.getDate())}`;
  return `HyperMotion-${day}T${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
}

function trim(n: number): string {
  return n >= 100 ? String(Math.round(n)) : String(Math.round(n * 10) / 10);
}
