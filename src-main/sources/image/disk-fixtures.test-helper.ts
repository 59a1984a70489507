/**
 * Test-only helpers (not part of the driver): hand-made partition tables and file-system
 * signatures, and small real images built with qemu-img, for the Image source tests.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync, ftruncateSync } from 'node:fs';

export const LINUX_FS_GUID = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';
export const MS_BASIC_GUID = 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7';

/** Writes an MBR into `buf` (first 512 bytes). */
export function writeMbr(buf: Buffer, parts: { type: number; start: number; sectors: number; boot?: boolean }[]): void {
  parts.forEach((p, i) => {
    const at = 446 + i * 16;
    buf[at] = p.boot ? 0x80 : 0;
    buf[at + 4] = p.type;
    buf.writeUInt32LE(p.start, at + 8);
    buf.writeUInt32LE(p.sectors, at + 12);
  });
  buf[510] = 0x55;
  buf[511] = 0xaa;
}

export function guidBytes(guid: string): Buffer {
  const h = guid.replaceAll('-', '');
  const le = (s: string) => Buffer.from(s, 'hex').reverse();
  return Buffer.concat([le(h.slice(0, 8)), le(h.slice(8, 12)), le(h.slice(12, 16)), Buffer.from(h.slice(16), 'hex')]);
}

/** Writes a protective MBR, a GPT header at LBA 1 and entries at LBA 2 (512-byte sectors). */
export function writeGpt(buf: Buffer, parts: { type: string; first: number; last: number }[]): void {
  writeMbr(buf, [{ type: 0xee, start: 1, sectors: 0xffffffff }]);
  buf.write('EFI PART', 512, 'latin1');
  buf.writeBigUInt64LE(2n, 512 + 72);
  buf.writeUInt32LE(128, 512 + 80);
  buf.writeUInt32LE(128, 512 + 84);
  parts.forEach((p, i) => {
    const at = 1024 + i * 128;
    guidBytes(p.type).copy(buf, at);
    buf.writeBigUInt64LE(BigInt(p.first), at + 32);
    buf.writeBigUInt64LE(BigInt(p.last), at + 40);
  });
}

/** Puts a file-system signature at `at`. */
export function writeSignature(buf: Buffer, at: number, fs: 'ext4' | 'ext3' | 'ext2' | 'ntfs' | 'xfs' | 'swap' | 'lvm2' | 'vfat'): void {
  if (fs.startsWith('ext')) {
    buf.writeUInt16LE(0xef53, at + 1080);
    if (fs === 'ext4') buf.writeUInt32LE(0x40 | 0x2, at + 1024 + 0x60);
    if (fs !== 'ext2') buf.writeUInt32LE(0x4, at + 1024 + 0x5c);
  }
  if (fs === 'ntfs') buf.write('NTFS    ', at + 3, 'latin1');
  if (fs === 'xfs') buf.write('XFSB', at, 'latin1');
  if (fs === 'swap') buf.write('SWAPSPACE2', at + 4086, 'latin1');
  if (fs === 'lvm2') {
    buf.write('LABELONE', at + 512, 'latin1');
    buf.write('LVM2 001', at + 536, 'latin1');
  }
  if (fs === 'vfat') buf.write('FAT32   ', at + 82, 'latin1');
}


export interface RawDiskSpec {
  sizeBytes: number;
  /** Writes the partition table and signatures into the first bytes. */
  head?: (buf: Buffer) => void;
  /** Extra bytes to place: [offset, data]. */
  blocks?: [number, Buffer][];
}

/** A sparse raw disk file: holes everywhere except the head and the given blocks. */
export function makeRawDisk(path: string, spec: RawDiskSpec): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, spec.sizeBytes);
    if (spec.head) {
      const head = Buffer.alloc(Math.min(spec.sizeBytes, 4 * 1024 * 1024));
      spec.head(head);
      // Write only the non-zero 4 KiB pages so the file stays sparse.
      for (let at = 0; at < head.length; at += 4096) {
        const page = head.subarray(at, at + 4096);
        if (page.some((b) => b !== 0)) writeSync(fd, page, 0, page.length, at);
      }
    }
    for (const [offset, data] of spec.blocks ?? []) writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Converts a raw file to another format with the real qemu-img. */
export function convertImage(raw: string, format: string, out: string): void {
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, raw, out]);
}
