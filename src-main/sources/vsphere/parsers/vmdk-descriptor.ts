/** VMDK text descriptors: the extent list and the fields that matter for reading. Pure. */

export type ExtentType = 'FLAT' | 'SPARSE' | 'ZERO' | 'VMFS' | 'VMFSSPARSE' | 'SESPARSE' | 'VMFSRDM' | 'VMFSRAW';

export interface VmdkExtent {
  access: 'RW' | 'RDONLY' | 'NOACCESS';
  /** Length in 512-byte sectors. */
  sectors: number;
  type: ExtentType;
  /** Extent file name, relative to the descriptor's folder (absent for ZERO). */
  file: string | null;
  /** Start inside the extent file, in sectors (FLAT/VMFS only). */
  offsetSectors: number;
}

export interface VmdkDescriptor {
  version: number;
  cid: string;
  parentCid: string;
  createType: string;
  parentFileNameHint: string | null;
  extents: VmdkExtent[];
  ddb: Record<string, string>;
}

const EXTENT_LINE = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(FLAT|SPARSE|ZERO|VMFS|VMFSSPARSE|SESPARSE|VMFSRDM|VMFSRAW)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$/;

/** True when `text` looks like a descriptor (not a binary extent). */
export function isDescriptor(text: string): boolean {
  return /^\s*#\s*Disk DescriptorFile/m.test(text) || /^\s*createType\s*=/m.test(text);
}

/** Parses a descriptor; throws on a line that names an extent it cannot read. */
export function parseDescriptor(text: string): VmdkDescriptor {
  const fields: Record<string, string> = {};
  const ddb: Record<string, string> = {};
  const extents: VmdkExtent[] = [];
  for (const raw of text.replace(/\0+$/, '').split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const ext = EXTENT_LINE.exec(line);
    if (ext) {
      extents.push({
        access: ext[1] as VmdkExtent['access'],
        sectors: Number(ext[2]),
        type: ext[3] as ExtentType,
        file: ext[4] ?? null,
        offsetSectors: Number(ext[5] ?? '0'),
      });
      continue;
    }
    const kv = /^([\w.]+)\s*=\s*"?(.*?)"?$/.exec(line);
    if (!kv) throw new Error(`VMDK descriptor: unreadable line ${JSON.stringify(line)}`);
    if (kv[1]!.startsWith('ddb.')) ddb[kv[1]!.slice(4)] = kv[2]!;
    else fields[kv[1]!] = kv[2]!;
  }
  if (extents.length === 0) throw new Error('VMDK descriptor: no extents');
  return {
    version: Number(fields.version ?? '1'),
    cid: fields.CID ?? '',
    parentCid: fields.parentCID ?? 'ffffffff',
    createType: fields.createType ?? '',
    parentFileNameHint: fields.parentFileNameHint ?? null,
    extents,
    ddb,
  };
}

/** True when the disk has a parent (a delta / snapshot child). */
export function hasParent(d: VmdkDescriptor): boolean {
  return d.parentCid.toLowerCase() !== 'ffffffff';
}
