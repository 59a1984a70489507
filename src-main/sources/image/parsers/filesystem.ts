/**
 * File-system signatures at the start of a partition, and a cheap operating-system guess from
 * them. Pure: the caller hands over the first FS_PROBE_BYTES of each partition.
 */
import type { Partition } from './partition-table.js';

/** Covers the btrfs superblock at 64 KiB; every other signature here lies in the first 4 KiB. */
export const FS_PROBE_BYTES = 68 * 1024;

/** File systems (and volume-manager labels) the probe recognises. */
export type FileSystem = 'ext2' | 'ext3' | 'ext4' | 'xfs' | 'btrfs' | 'ntfs' | 'vfat' | 'exfat' | 'swap' | 'lvm2';

const LINUX_FS = new Set<FileSystem>(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'lvm2']);

function ascii(buf: Uint8Array, at: number, len: number): string {
  if (at + len > buf.length) return '';
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1', at, at + len);
}

function u16(buf: Uint8Array, at: number): number {
  return at + 2 <= buf.length ? buf[at]! | (buf[at + 1]! << 8) : -1;
}

function u32(buf: Uint8Array, at: number): number {
  return at + 4 <= buf.length ? new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(at, true) : 0;
}

/**
 * The ext generation from the superblock at 1024: ext4 uses extents, 64-bit or flex_bg;
 * ext3 adds a journal to ext2.
 */
function extKind(block: Uint8Array): FileSystem {
  const compat = u32(block, 1024 + 0x5c);
  const incompat = u32(block, 1024 + 0x60);
  if ((incompat & (0x40 | 0x80 | 0x200)) !== 0) return 'ext4';
  if ((compat & 0x4) !== 0) return 'ext3';
  return 'ext2';
}

/** The file system whose signature the block starts with, or null. */
export function detectFileSystem(block: Uint8Array): FileSystem | null {
  if (u16(block, 1080) === 0xef53) return extKind(block);
  if (ascii(block, 3, 8) === 'NTFS    ') return 'ntfs';
  if (ascii(block, 3, 8) === 'EXFAT   ') return 'exfat';
  if (ascii(block, 0, 4) === 'XFSB') return 'xfs';
  if (ascii(block, 65536 + 64, 8) === '_BHRfS_M') return 'btrfs';
  if (ascii(block, 82, 5) === 'FAT32' || ascii(block, 54, 5) === 'FAT16' || ascii(block, 54, 5) === 'FAT12') return 'vfat';
  if (ascii(block, 4096 - 10, 10) === 'SWAPSPACE2') return 'swap';
  // The LVM2 label may sit in any of the first four sectors.
  for (let sector = 0; sector < 4; sector++) {
    if (ascii(block, sector * 512, 8) === 'LABELONE' && ascii(block, sector * 512 + 24, 8) === 'LVM2 001') return 'lvm2';
  }
  return null;
}

/** What the file systems suggest about the machine. */
export interface OsGuess {
  osType: 'Linux' | 'Windows' | 'Unknown';
  osVersion: string;
  firmware: 'bios' | 'uefi';
}

/**
 * The first partition holding an OS file system decides: NTFS → Windows; ext, XFS, btrfs or an
 * LVM physical volume → Linux. An EFI System Partition means UEFI boot, anything else BIOS.
 */
export function guessOs(found: { partition: Partition | null; fs: FileSystem | null }[]): OsGuess {
  const firmware = found.some((f) => f.partition?.efi === true) ? 'uefi' : 'bios';
  for (const { fs } of found) {
    if (fs === 'ntfs') return { osType: 'Windows', osVersion: 'Windows (NTFS)', firmware };
    if (fs !== null && LINUX_FS.has(fs)) return { osType: 'Linux', osVersion: `Linux (${fs})`, firmware };
  }
  return { osType: 'Unknown', osVersion: '', firmware };
}
