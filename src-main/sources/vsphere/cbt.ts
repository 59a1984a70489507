/**
 * Changed Block Tracking: `QueryChangedDiskAreas`, paged until the disk's capacity is covered
 * (one call answers for a window of the disk, not all of it).
 */
import type { ByteRange } from '../../core/model.js';
import type { VimClient } from './vim25/client.js';
import { VimFault } from './vim25/faults.js';
import { moRefXml, type MoRef } from './vim25/types.js';
import { child, childNumber, children, esc } from './vim25/xml.js';

/** Calls that return no progress end the loop; this bounds a misbehaving server. */
const MAX_PAGES = 100_000;

/**
 * The areas of disk `deviceKey` in `snapshot` changed since `changeId` ("*": all allocated
 * areas), merged and sorted. Throws the VimFault when the changeId is not (or no longer) valid.
 */
export async function queryChangedAreas(
  client: VimClient,
  vm: MoRef,
  snapshot: MoRef,
  deviceKey: number,
  capacity: number,
  changeId: string,
  signal: AbortSignal,
): Promise<ByteRange[]> {
  const areas: ByteRange[] = [];
  let start = 0;
  for (let page = 0; start < capacity && page < MAX_PAGES; page++) {
    const body = `${moRefXml('snapshot', snapshot)}<deviceKey>${deviceKey}</deviceKey><startOffset>${start}</startOffset><changeId>${esc(changeId)}</changeId>`;
    const rv = child(await client.call('QueryChangedDiskAreas', vm, body, signal), 'returnval');
    for (const a of children(rv, 'changedArea')) {
      const offset = childNumber(a, 'start');
      const length = Math.min(childNumber(a, 'length'), capacity - offset);
      if (length > 0) areas.push({ offset, length });
    }
    const next = childNumber(rv, 'startOffset') + childNumber(rv, 'length');
    if (next <= start) break;
    start = next;
  }
  return mergeAreas(areas);
}

/** Sorts and joins touching ranges. Pure. */
export function mergeAreas(areas: ByteRange[]): ByteRange[] {
  const sorted = [...areas].sort((a, b) => a.offset - b.offset);
  const out: ByteRange[] = [];
  for (const a of sorted) {
    const last = out[out.length - 1];
    if (last && a.offset <= last.offset + last.length) last.length = Math.max(last.length, a.offset + a.length - last.offset);
    else out.push({ ...a });
  }
  return out;
}

/** Faults meaning "this changeId cannot be used": CBT was reset, the disk resized, or CBT is off. */
export function isChangeIdInvalid(err: unknown): boolean {
  return VimFault.is(err) && (err.faultType === 'InvalidArgument' || err.faultType === 'FileFault' || err.faultType === 'NotSupported');
}
