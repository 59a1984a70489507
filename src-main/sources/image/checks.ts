/**
 * Environment checks for an image (seed 002 style: OK / WARN / ERROR with a code and params),
 * derived from a probe. Pure.
 */
import type { EnvCheck } from '../../core/model.js';
import type { ImageProbe } from './probe.js';
import { SUPPORTED_FORMATS } from './probe.js';

function check(id: string, severity: EnvCheck['severity'], code: string, reason: string, params: EnvCheck['params'] = {}): EnvCheck {
  return { id, ok: severity !== 'ERROR', severity, code, reason, params };
}

function formatCheck(probe: ImageProbe): EnvCheck {
  const info = probe.info;
  if (info === null) return check('FORMAT_SUPPORTED', 'ERROR', 'FORMAT_UNREADABLE', `qemu-img cannot read the image: ${probe.infoError ?? 'unknown error'}`);
  const params = { format: info.format, virtual_size: info.virtualSize };
  if (!SUPPORTED_FORMATS.has(info.format)) {
    return check('FORMAT_SUPPORTED', 'ERROR', 'FORMAT_UNSUPPORTED', `image format ${info.format} is not supported (use raw, qcow2, vmdk, vhd, vhdx or vdi)`, params);
  }
  if (info.encrypted) return check('FORMAT_SUPPORTED', 'ERROR', 'IMAGE_ENCRYPTED', 'encrypted images cannot be read without their key; decrypt it first', params);
  return check('FORMAT_SUPPORTED', 'OK', 'OK', `${info.format} image of ${info.virtualSize} bytes`, params);
}

function layoutChecks(probe: ImageProbe): EnvCheck[] {
  if (probe.table === null) {
    return [check('PARTITION_STYLE', 'WARN', 'LAYOUT_UNREADABLE', `the partition table could not be read: ${probe.layoutError ?? 'unknown error'}`)];
  }
  const style = probe.table.style;
  const fileSystems = probe.filesystems.map((f) => f.fs ?? 'unknown').join(',');
  const out: EnvCheck[] = [
    style === 'NONE'
      ? check('PARTITION_STYLE', 'WARN', 'NO_PARTITION_TABLE', 'no MBR or GPT partition table: the disk is empty or holds a bare file system', { partition_style: style })
      : check('PARTITION_STYLE', 'OK', 'OK', `${style} with ${probe.table.partitions.length} partition(s)`, { partition_style: style, partitions: probe.table.partitions.length }),
  ];
  const os = probe.os;
  out.push(
    os.osType === 'Unknown'
      ? check('OS_VERSION', 'WARN', 'OS_NOT_DETECTED', 'no Linux or Windows file system found; the disk is copied as is, without OS-specific fixes', { file_systems: fileSystems })
      : check('OS_VERSION', 'OK', 'OK', `${os.osVersion} detected`, { os_type: os.osType, file_systems: fileSystems }),
  );
  out.push(check('FIRMWARE', 'OK', 'OK', os.firmware === 'uefi' ? 'EFI System Partition found: boots with UEFI' : 'no EFI System Partition: boots with BIOS', { firmware: os.firmware }));
  return out;
}

/** The checks for one image, in the order the UI lists them. */
export function imageChecks(probe: ImageProbe): EnvCheck[] {
  if (probe.readError !== null) {
    return [check('FILE_READABLE', 'ERROR', 'FILE_NOT_READABLE', `the image file cannot be read: ${probe.readError}`, { path: probe.file })];
  }
  const out = [check('FILE_READABLE', 'OK', 'OK', 'the image file is readable', { path: probe.file }), formatCheck(probe)];
  if (probe.info?.backingFile) {
    out.push(check('BACKING_FILE', 'WARN', 'BACKING_CHAIN', `reads go through the backing file ${probe.info.backingFile}; keep it in place until the sync ends`, { backing_file: probe.info.backingFile }));
  }
  if (out.every((c) => c.ok) && SUPPORTED_FORMATS.has(probe.info?.format ?? '')) out.push(...layoutChecks(probe));
  return out;
}
