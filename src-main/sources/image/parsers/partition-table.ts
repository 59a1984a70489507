/**
 * MBR and GPT partition tables from the first bytes of a disk. Pure: the caller reads the bytes
 * (HEAD_BYTES covers the GPT header and 128 entries for 512- and 4096-byte sectors).
 */

/** Enough for LBA 0–33 with 512-byte sectors and LBA 0–5 with 4096-byte sectors. */
export const HEAD_BYTES = 32 * 1024;

/** Partition table kinds, as DiskInfo.partitionStyle names them. */
export type PartitionStyle = 'MBR' | 'GPT' | 'NONE';

/** One partition of a table. */
export interface Partition {
  /** 1-based, in table order. */
  number: number;
  offset: number;
  size: number;
  /** MBR: "0x83"; GPT: the type GUID in upper case. */
  type: string;
  bootable: boolean;
  /** An EFI System Partition: the machine boots with UEFI. */
  efi: boolean;
}

/** A parsed partition table. */
export interface PartitionTable {
  style: PartitionStyle;
  sectorSize: number;
  partitions: Partition[];
}

/** GPT type GUID of an EFI System Partition. */
export const GPT_ESP = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
const MBR_ESP = 0xef;
const MBR_PROTECTIVE = 0xee;
/** Extended-partition containers: their logical partitions sit in a chain this parser does not follow. */
const MBR_EXTENDED = new Set([0x05, 0x0f, 0x85]);

function ascii(buf: Uint8Array, at: number, len: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1', at, at + len);
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** A GUID as text: the first three fields are stored little-endian. */
export function formatGuid(bytes: Uint8Array): string {
  const hex = (from: number, to: number, reverse: boolean) => {
    const part = Array.from(bytes.subarray(from, to));
    return (reverse ? part.reverse() : part).map((b) => b.toString(16).padStart(2, '0')).join('');
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`.toUpperCase();
}

/** A volume boot record (a file system written straight onto the disk) also ends in 55 AA. */
function looksLikeBootSector(head: Uint8Array): boolean {
  const oem = ascii(head, 3, 8);
  return oem === 'NTFS    ' || oem === 'EXFAT   ' || ascii(head, 82, 5) === 'FAT32' || ascii(head, 54, 3) === 'FAT';
}

function parseMbr(head: Uint8Array): Partition[] | null {
  if (head.length < 512 || head[510] !== 0x55 || head[511] !== 0xaa || looksLikeBootSector(head)) return null;
  const dv = view(head);
  const out: Partition[] = [];
  for (let i = 0; i < 4; i++) {
    const at = 446 + i * 16;
    const status = head[at]!;
    if (status !== 0x00 && status !== 0x80) return null;
    const type = head[at + 4]!;
    const start = dv.getUint32(at + 8, true);
    const sectors = dv.getUint32(at + 12, true);
    if (type === 0 || sectors === 0 || MBR_EXTENDED.has(type)) continue;
    out.push({
      number: i + 1,
      offset: start * 512,
      size: sectors * 512,
      type: `0x${type.toString(16).padStart(2, '0')}`,
      bootable: status === 0x80,
      efi: type === MBR_ESP,
    });
  }
  return out;
}

function parseGpt(head: Uint8Array, sectorSize: number): Partition[] | null {
  if (head.length < sectorSize + 92 || ascii(head, sectorSize, 8) !== 'EFI PART') return null;
  const dv = view(head);
  const entriesLba = Number(dv.getBigUint64(sectorSize + 72, true));
  const count = dv.getUint32(sectorSize + 80, true);
  const entrySize = dv.getUint32(sectorSize + 84, true);
  if (entrySize < 128 || count > 1024) return null;
  const out: Partition[] = [];
  for (let i = 0; i < count; i++) {
    const at = entriesLba * sectorSize + i * entrySize;
    if (at + 128 > head.length) break; // entries beyond what was read: report those found so far
    const type = formatGuid(head.subarray(at, at + 16));
    if (type === '00000000-0000-0000-0000-000000000000') continue;
    const first = Number(dv.getBigUint64(at + 32, true));
    const last = Number(dv.getBigUint64(at + 40, true));
    const attrs = dv.getBigUint64(at + 48, true);
    out.push({
      number: i + 1,
      offset: first * sectorSize,
      size: (last - first + 1) * sectorSize,
      type,
      // Attribute bit 2: "legacy BIOS bootable".
      bootable: (attrs & 4n) !== 0n,
      efi: type === GPT_ESP,
    });
  }
  return out;
}

/** Reads the partition table: GPT when a protective MBR points to a valid header, else MBR, else NONE. */
export function parsePartitionTable(head: Uint8Array): PartitionTable {
  const mbr = parseMbr(head);
  const protective = mbr !== null && mbr.some((p) => p.type === `0x${MBR_PROTECTIVE.toString(16)}`);
  if (protective || mbr === null || mbr.length === 0) {
    for (const sectorSize of [512, 4096]) {
      const gpt = parseGpt(head, sectorSize);
      if (gpt !== null) return { style: 'GPT', sectorSize, partitions: gpt };
    }
  }
  if (mbr !== null && !protective) return { style: 'MBR', sectorSize: 512, partitions: mbr };
  return { style: 'NONE', sectorSize: 512, partitions: [] };
}
