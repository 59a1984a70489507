/**
 * The source agent's links to sink agents (transport direct to a gateway or KVM host). The engine
 * mints a certificate for each agent, has them connect over pinned TLS 1.3 (`link`: this end dials
 * or listens), then asks this agent chunk by chunk (`Forward`) to read, hash, and unless the target
 * already holds the chunk, write it to the sink over the link; only the digest goes back to the
 * engine, so chunk bytes never pass through it. The link only sends requests: nothing the sink
 * sends is served.
 */
import type { TLSSocket } from 'node:tls';
import { ZERO_DIGEST } from '../replication/digest-core.js';
import { DirectListener, dialDirect, type DialedConnection } from '../replication/wire/direct.js';
import { Codec, decodeJson, encodeWriteParts, encodeZeroLength, Msg, type ForwardAnswer, type ForwardRequest, type Hello } from '../replication/wire/messages.js';
import { WirePeer } from '../replication/wire/peer.js';
import { validateDirect } from './direct.js';
import type { DiskTable } from './disks.js';

interface Link {
  /** Settles once the sink agent connected and said hello. */
  ready: Promise<LinkedPeer>;
  socket: TLSSocket | null;
}

interface LinkedPeer {
  peer: WirePeer;
  /** The sink agent can decode zstd. */
  zstd: boolean;
  cipher: string;
}

const links = new Map<number, Link>();
let nextLink = 1;
/** Write header (13 bytes) and frame header (9 bytes) around a chunk on the link. */
const WRITE_OVERHEAD = 22;

/** Wraps a connected socket: waits for the sink's hello within `timeoutMs`. */
async function linked(link: Link, socket: TLSSocket, timeoutMs: number, attach?: DialedConnection['attach']): Promise<LinkedPeer> {
  link.socket = socket;
  socket.setNoDelay(true);
  const peer = new WirePeer(socket, socket);
  attach?.((chunk, transient) => peer.receive(chunk, transient));
  socket.on('error', () => socket.destroy());
  socket.on('close', () => peer.fail(new Error('the direct connection closed')));
  const hello = decodeJson<Hello>((await peer.hello(AbortSignal.timeout(timeoutMs))).payload);
  if (hello.role !== 'sink') throw new Error(`the linked agent runs as ${hello.role}, not as a sink`);
  return { peer, zstd: hello.codecs.includes('zstd'), cipher: socket.getCipher().standardName };
}

/**
 * `dial`: connects to the sink agent and resolves once it said hello. `listen`: resolves with the
 * bound port at once; `link_wait` then waits for the sink agent to connect.
 */
export async function openLink(args: Record<string, unknown>): Promise<{ link: number; port: number; cipher?: string }> {
  const op = validateDirect(args);
  const id = nextLink++;
  const link: Link = { ready: Promise.reject(new Error('not linked yet')), socket: null };
  link.ready.catch(() => undefined);
  if (op.mode === 'dial') {
    const dialed = await dialDirect(op);
    link.ready = linked(link, dialed.socket, op.timeoutMs, dialed.attach);
    links.set(id, link);
    const up = await link.ready.catch((err: unknown) => {
      closeLink(id);
      throw err;
    });
    return { link: id, port: op.port, cipher: up.cipher };
  }
  const listener = await DirectListener.open(op.host, op.port, op.identity, op.peer);
  link.ready = listener
    .accept(op.timeoutMs)
    .then((socket) => linked(link, socket, op.timeoutMs))
    .finally(() => listener.close());
  link.ready.catch(() => undefined);
  links.set(id, link);
  return { link: id, port: listener.port };
}

/** Waits for a listening link's sink agent (`link_wait`). */
export async function waitLink(args: Record<string, unknown>): Promise<{ cipher: string }> {
  const up = await linkOf(Number(args.link));
  return { cipher: up.cipher };
}

export function closeLink(id: number): void {
  links.get(id)?.socket?.destroy();
  links.delete(id);
}

/** Closes every link (agent shutdown). */
export function closeLinks(): void {
  for (const id of [...links.keys()]) closeLink(id);
}

function linkOf(id: number): Promise<LinkedPeer> {
  const link = links.get(id);
  if (link === undefined) return Promise.reject(new Error(`no link ${id} to a sink agent`));
  return link.ready;
}

/** A write on the link; its failure says that it was the sink (or the link to it) that failed. */
async function writeToSink(peer: WirePeer, parts: Uint8Array[]): Promise<void> {
  try {
    await peer.request(Msg.Write, parts);
  } catch (err) {
    throw new Error(`the sink agent did not take the chunk over the link: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** One chunk: read, hash, skip when the target holds it, else write it to the sink and wait for its answer. */
export async function forwardChunk(disks: DiskTable, digest: (data: Uint8Array) => bigint, r: ForwardRequest): Promise<ForwardAnswer> {
  const { peer, zstd } = await linkOf(r.link);
  const zeros = async (): Promise<ForwardAnswer> => {
    await writeToSink(peer, encodeWriteParts({ handle: r.sinkHandle, offset: r.offset, codec: Codec.Zero, data: encodeZeroLength(r.length) }));
    return { digest: ZERO_DIGEST, written: true, linkBytes: WRITE_OVERHEAD + 4 };
  };
  if (r.zero) return r.held === ZERO_DIGEST ? { digest: ZERO_DIGEST, written: false, linkBytes: 0 } : zeros();
  const raw = await disks.readPooled(r.handle, r.offset, r.length);
  let chunk = raw;
  try {
    const now = digest(raw.data);
    if (now === r.held) return { digest: now, written: false, linkBytes: 0 };
    if (now === ZERO_DIGEST) return await zeros();
    chunk = disks.pack(raw, r.zstd && zstd);
    // The buffers go back to the pool only after the sink's answer: by then they have left.
    await writeToSink(peer, encodeWriteParts({ handle: r.sinkHandle, offset: r.offset, codec: chunk.codec, data: chunk.data }));
    return { digest: now, written: true, linkBytes: WRITE_OVERHEAD + chunk.data.length };
  } finally {
    // `pack` gave the raw buffer back when it compressed: `chunk` is the one buffer still held.
    chunk.release();
  }
}
