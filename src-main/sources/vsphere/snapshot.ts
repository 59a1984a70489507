/**
 * The point-in-time view of a VM: CBT on (a snapshot makes it take effect), a snapshot (quiesced
 * when VMware Tools run, else crash-consistent), per disk the changed or allocated areas, reads
 * of the snapshot's disk through the datastore endpoint; `close()` removes the snapshot.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { OpenSnapshotOptions, SourceDisk, SourceSnapshot } from '../../core/drivers.js';
import type { ByteRange } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import { isChangeIdInvalid, queryChangedAreas } from './cbt.js';
import { DatastoreFiles } from './datastore-files.js';
import { VmdkReader } from './disk-reader.js';
import type { VimClient } from './vim25/client.js';
import { retrieveOne } from './vim25/property-collector.js';
import { runTask, TaskError } from './vim25/tasks.js';
import type { MoRef } from './vim25/types.js';
import { esc, text } from './vim25/xml.js';
import { disksOf, OWN_SNAPSHOT_PREFIX, snapshotsOf, type VmDisk } from './vm-info.js';

class VsphereDisk implements SourceDisk {
  constructor(
    readonly index: number,
    readonly sizeBytes: number,
    private readonly ranges: ByteRange[] | null,
    private readonly reader: VmdkReader,
    private readonly changeId: string | null,
  ) {}

  async areas(): Promise<ByteRange[] | null> {
    return this.ranges;
  }

  read(offset: number, length: number, signal: AbortSignal): Promise<Uint8Array> {
    if (offset < 0 || offset + length > this.sizeBytes) {
      throw new RehostError('DRIVER', `read of ${length} bytes at ${offset} is outside the ${this.sizeBytes}-byte disk ${this.index}`);
    }
    return this.reader.read(offset, length, signal);
  }

  marker(): string | null {
    return this.changeId;
  }
}

interface AreasResult {
  ranges: ByteRange[] | null;
  how: string;
}

async function createSnapshot(client: VimClient, vm: MoRef, quiesce: boolean, log: Logger, signal: AbortSignal): Promise<{ snapshot: MoRef; quiesced: boolean }> {
  const name = `${OWN_SNAPSHOT_PREFIX}${new Date().toISOString()}`;
  const body = (q: boolean) => `<name>${esc(name)}</name><description>Rehost sync (removed when the sync ends)</description><memory>false</memory><quiesce>${q}</quiesce>`;
  try {
    const snapshot = await runTask(client, 'CreateSnapshot_Task', vm, body(quiesce), signal);
    if (snapshot === null) throw new RehostError('DRIVER', 'CreateSnapshot_Task returned no snapshot');
    return { snapshot, quiesced: quiesce };
  } catch (err) {
    if (!quiesce || !(err instanceof TaskError)) throw err;
    log.warn({ err: err.message }, 'quiesced snapshot failed; taking a crash-consistent one');
    const snapshot = await runTask(client, 'CreateSnapshot_Task', vm, body(false), signal);
    if (snapshot === null) throw new RehostError('DRIVER', 'CreateSnapshot_Task returned no snapshot');
    return { snapshot, quiesced: false };
  }
}

async function areasFor(client: VimClient, vm: MoRef, snapshot: MoRef, disk: VmDisk, marker: string | null, mode: OpenSnapshotOptions['mode'], signal: AbortSignal): Promise<AreasResult> {
  const changeId = mode === 'full' ? '*' : marker;
  if (changeId === null) return { ranges: null, how: 'no change id stored: hash compare' };
  try {
    const ranges = await queryChangedAreas(client, vm, snapshot, disk.key, disk.capacityBytes, changeId, signal);
    const bytes = ranges.reduce((n, r) => n + r.length, 0);
    return { ranges, how: `${mode === 'full' ? 'allocated' : 'changed'} areas from CBT (${bytes} bytes)` };
  } catch (err) {
    if (!isChangeIdInvalid(err)) throw err;
    const why = mode === 'full' ? 'CBT cannot list allocated areas' : 'CBT was reset (change id invalid)';
    return { ranges: null, how: `${why}: full read with hash compare (${(err as Error).message})` };
  }
}

function refuseUncopyable(disks: VmDisk[]): void {
  const bad = disks.filter((d) => /RawDiskMapping/.test(d.backingType) || d.diskMode.startsWith('independent'));
  if (bad.length > 0) {
    throw new RehostError('UNPROCESSABLE', `disk(s) ${bad.map((d) => d.label || d.key).join(', ')} are RDM or independent and cannot be snapshotted`);
  }
}

const removeSnapshot = (client: VimClient, snapshot: MoRef) =>
  runTask(client, 'RemoveSnapshot_Task', snapshot, '<removeChildren>false</removeChildren><consolidate>true</consolidate>', AbortSignal.timeout(10 * 60_000));

/** Removes sync snapshots a crashed or killed run left behind, so they do not pile up. */
async function removeStale(client: VimClient, vm: MoRef, snapshots: { ref: MoRef | null; name: string }[], log: Logger): Promise<void> {
  for (const s of snapshots) {
    if (s.ref === null || !s.name.startsWith(OWN_SNAPSHOT_PREFIX)) continue;
    log.warn({ vm: vm.value, snapshot: s.ref.value, name: s.name }, 'removing a sync snapshot left by an earlier run');
    await removeSnapshot(client, s.ref);
  }
}

/** Opens the view; on any failure after the snapshot exists, removes it again. */
export async function openVmSnapshot(client: VimClient, vm: MoRef, dcPath: string, options: OpenSnapshotOptions, log: Logger, signal: AbortSignal): Promise<SourceSnapshot> {
  const props = await retrieveOne(client, vm, ['config.changeTrackingEnabled', 'config.hardware.device', 'guest.toolsRunningStatus', 'runtime.powerState', 'snapshot'], signal);
  refuseUncopyable(disksOf(props.get('config.hardware.device')));
  await removeStale(client, vm, snapshotsOf(props.get('snapshot')), log);
  if (text(props.get('config.changeTrackingEnabled')) !== 'true') {
    log.info({ vm: vm.value }, 'enabling changed block tracking');
    await runTask(client, 'ReconfigVM_Task', vm, '<spec><changeTrackingEnabled>true</changeTrackingEnabled></spec>', signal);
  }
  const wantQuiesce = text(props.get('runtime.powerState')) === 'poweredOn' && text(props.get('guest.toolsRunningStatus')) === 'guestToolsRunning';
  const { snapshot, quiesced } = await createSnapshot(client, vm, wantQuiesce, log, signal);
  const files = new DatastoreFiles(client, dcPath);
  const remove = () => removeSnapshot(client, snapshot);
  try {
    const snapDisks = disksOf((await retrieveOne(client, snapshot, ['config.hardware.device'], signal)).get('config.hardware.device'));
    const disks: VsphereDisk[] = [];
    const notes: string[] = [];
    for (const [index, d] of snapDisks.entries()) {
      const areas = await areasFor(client, vm, snapshot, d, options.markers[index] ?? null, options.mode, signal);
      const reader = await VmdkReader.open(files, d.fileName, signal);
      disks.push(new VsphereDisk(index, d.capacityBytes, areas.ranges, reader, d.changeId));
      notes.push(`disk ${index}: ${areas.how}`);
    }
    const method = `VMware snapshot ${snapshot.value} (${quiesced ? 'quiesced' : 'crash-consistent'}); ${notes.join('; ')}`;
    log.info({ vm: vm.value, snapshot: snapshot.value, method }, 'source snapshot open');
    let closed = false;
    return {
      method,
      disks,
      close: async () => {
        if (closed) return;
        closed = true;
        await remove();
        log.info({ vm: vm.value, snapshot: snapshot.value, datastoreBytesRead: files.bytesRead }, 'source snapshot removed');
      },
    };
  } catch (err) {
    await remove().catch((e: unknown) => log.warn({ snapshot: snapshot.value, err: String(e) }, 'removing the snapshot after a failed open failed'));
    throw err;
  }
}
