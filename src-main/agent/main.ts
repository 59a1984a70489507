/**
 * The Rehost agent: one program pushed to Linux hosts over SSH and run as `source` (inventory,
 * checks, disk reads, digest comparison, chunks forwarded to a sink agent) or `sink` (writes at offsets, fsync, digests; the OS
 * fix-up of a boot disk on the host that holds it). It speaks the replication wire protocol on
 * stdin/stdout; diagnostics go to stderr.
 *   node agent.cjs --role source|sink
 */
import { dirname, resolve } from 'node:path';
import { TokenBucket, type Throttle, UNLIMITED, mbpsToBytesPerSecond } from '../replication/throttle.js';
import { decodeCompare, decodeForward, decodeJson, decodeRead, decodeWrite, encodeData, encodeDigestList, encodeForwarded, encodeJson, Msg, PROTOCOL_VERSION, type Hello } from '../replication/wire/messages.js';
import type { Frame } from '../replication/wire/frame.js';
import { WirePeer, type RequestHandler } from '../replication/wire/peer.js';
import { allocatedAreas } from './allocation.js';
import { environmentChecks } from './checks.js';
import { SnapshotTable } from './consistency.js';
import { compareChunks } from './compare.js';
import { closeDirect, startDirect } from './direct.js';
import { DiskTable } from './disks.js';
import { closeLink, closeLinks, forwardChunk, openLink, waitLink } from './forward.js';
import { cancelAllFixups, cancelFixup, runFixup } from './fixup-op.js';
import { collectInventory } from './inventory.js';
import { loadNatives } from './native.js';
import { makeChunkDigest } from '../replication/digest-core.js';

type Reply = Awaited<ReturnType<RequestHandler>>;

const role = process.argv.includes('sink') ? 'sink' : 'source';
const natives = loadNatives(dirname(resolve(process.argv[1] ?? '.')));
const disks = new DiskTable(natives);
const snapshots = new SnapshotTable();
const peer = new WirePeer(process.stdin, process.stdout);
let throttle: Throttle = UNLIMITED;
const never = new AbortController().signal;
/** Sizes of the disks opened through `open`, for the overlapped comparison. */
const sizes = new Map<number, number>();
/** Paths of the disks opened through `open`, for their allocation map. */
const paths = new Map<number, string>();
const chunkDigest = makeChunkDigest(natives.xxh64);

/** `[[offset, length], …]` from the engine, each a pair of non-negative safe integers. */
function rangesArg(value: unknown): [number, number][] {
  const ok = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
  if (!Array.isArray(value) || !value.every((r) => Array.isArray(r) && r.length === 2 && ok(r[0]) && ok(r[1]))) {
    throw new Error('ranges must be [offset, length] pairs of non-negative integers');
  }
  return value as [number, number][];
}

function call(op: string, args: Record<string, unknown>): unknown {
  switch (op) {
    case 'inventory': {
      const inv = collectInventory((args.disks as string[] | undefined) ?? []);
      return { inventory: inv, checks: environmentChecks(inv) };
    }
    case 'open': {
      const opened = disks.openDisk(String(args.path), role === 'sink', typeof args.size === 'number' ? args.size : undefined);
      sizes.set(opened.handle, opened.size);
      paths.set(opened.handle, String(args.path));
      return opened;
    }
    case 'close':
      disks.close(Number(args.handle));
      sizes.delete(Number(args.handle));
      paths.delete(Number(args.handle));
      return {};
    case 'areas': {
      // SEEK_DATA/SEEK_HOLE on a file or a loop's backing file (allocation.ts); null: read it all.
      const handle = Number(args.handle);
      const path = paths.get(handle);
      if (path === undefined) throw new Error(`no open disk with handle ${handle}`);
      return { ranges: allocatedAreas(path, sizes.get(handle)!) };
    }
    case 'snapshot':
      // A point-in-time view (LVM snapshot, fsfreeze) or the live disks: consistency.ts.
      return snapshots.take((args.disks as string[] | undefined) ?? []);
    case 'release':
      return snapshots.release(String(args.id));
    case 'flush':
      return Promise.resolve(disks.flush(Number(args.handle))).then(() => ({}));
    case 'digests':
      return Promise.resolve(disks.digests(Number(args.handle), rangesArg(args.ranges))).then((d) => ({ digests: d.map(String) }));
    case 'limit': {
      const mbps = Number(args.mbps);
      throttle = mbps > 0 ? new TokenBucket(mbpsToBytesPerSecond(mbps)) : UNLIMITED;
      disks.linkLimit = mbps > 0 ? mbpsToBytesPerSecond(mbps) : null;
      return {};
    }
    case 'fixup-cancel':
      return cancelFixup(args);
    case 'exit':
      setImmediate(() => void shutdown(0));
      return {};
    default:
      throw new Error(`unknown operation ${op}`);
  }
}

/** The calls that wait on the network or a child process; the rest answer at once (`call`). */
function callAsync(op: string, args: Record<string, unknown>): Promise<unknown> | unknown {
  switch (op) {
    // `direct` opens a second channel (pinned TLS) that this same handler then serves.
    case 'direct':
      return startDirect(args, handle, hello);
    // `link` connects this source agent to a sink agent, for `Forward` requests.
    case 'link':
      return openLink(args);
    case 'link_wait':
      return waitLink(args);
    case 'unlink':
      closeLink(Number(args.link));
      return {};
    case 'fixup':
      return runFixup(args);
    // A qcow2 layer qemu-nbd serves on this host (sink role): written through NBD.
    case 'open':
      if (typeof args.nbd !== 'string') return call(op, args);
      if (role !== 'sink') throw new Error('only a sink agent writes through qemu-nbd');
      // Not noted in `paths`: allocation queries on the qcow2 file would describe the file, not the disk.
      return disks.openNbd(args.nbd, String(args.path));
    default:
      return call(op, args);
  }
}

async function handle(frame: Frame): Promise<Reply> {
  switch (frame.type) {
    case Msg.Call: {
      const { op, args } = decodeJson<{ op: string; args: Record<string, unknown> }>(frame.payload);
      const result = await callAsync(op, args ?? {});
      return { type: Msg.Result, payload: encodeJson(result ?? {}) };
    }
    case Msg.Forward:
      return { type: Msg.Forwarded, payload: encodeForwarded(await forwardChunk(disks, chunkDigest, decodeForward(frame.payload))) };
    case Msg.Read: {
      const { codec, data, release } = await disks.read(decodeRead(frame.payload));
      await throttle.take(data.length, never);
      return { type: Msg.Data, payload: encodeData(codec, data), sent: release };
    }
    case Msg.Compare: {
      const request = decodeCompare(frame.payload);
      const size = sizes.get(request.handle);
      // Reads overlapped with hashing (compare.ts); a handle opened otherwise takes the table's own loop.
      const changed = size === undefined ? disks.compare(request) : await compareChunks(disks, size, chunkDigest, request);
      return { type: Msg.Changed, payload: encodeDigestList(changed) };
    }
    case Msg.Write:
      await disks.write(decodeWrite(frame.payload));
      return { type: Msg.Result, payload: encodeJson({}) };
    default:
      throw new Error(`unexpected message type ${frame.type}`);
  }
}

/** A running fix-up is aborted first and given time to release its mounts and loop devices. */
async function shutdown(code: number): Promise<void> {
  await cancelAllFixups(60_000);
  closeDirect();
  closeLinks();
  disks.closeAll();
  snapshots.releaseAll();
  process.exit(code);
}

peer.serve(handle);
process.stdin.on('end', () => void shutdown(0));
process.stdout.on('error', () => void shutdown(1));
const hello: Hello = { version: PROTOCOL_VERSION, role, pid: process.pid, node: process.version, digest: natives.digest, codecs: natives.zstd ? ['zstd'] : [] };
void peer.send(Msg.Hello, 0, encodeJson(hello));
