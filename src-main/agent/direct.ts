/**
 * The agent's end of the direct transport (`direct` Call): dials the engine or a source agent, or
 * listens for either, over pinned TLS 1.3, then serves the same requests there as on stdin/stdout
 * (only chunk writes when the far end is a source agent: `writes`). The SSH channel stays the
 * control channel: when it closes the agent exits.
 */
import type { TLSSocket } from 'node:tls';
import { DirectListener, dialDirect, type DialedConnection, type DirectOp } from '../replication/wire/direct.js';
import { encodeJson, Msg, type Hello } from '../replication/wire/messages.js';
import { WirePeer, type RequestHandler } from '../replication/wire/peer.js';

const open = new Set<TLSSocket>();

/** The `direct` (and `link`) arguments, checked. */
export function validateDirect(args: Record<string, unknown>): DirectOp {
  const op = args as unknown as DirectOp;
  if (op.mode !== 'dial' && op.mode !== 'listen') throw new Error(`direct: mode must be dial or listen (got ${String(op.mode)})`);
  if (typeof op.host !== 'string' || !Number.isInteger(op.port)) throw new Error('direct: host and port are required');
  if (typeof op.identity?.key !== 'string' || typeof op.identity.cert !== 'string') throw new Error('direct: identity is required');
  if (typeof op.peer?.cert !== 'string' || typeof op.peer.fingerprint !== 'string') throw new Error('direct: peer is required');
  if (op.writes !== undefined && !(Array.isArray(op.writes) && op.writes.every((h) => Number.isInteger(h)))) throw new Error('direct: writes must be a list of disk handles');
  return op;
}

/**
 * A source agent linked to this sink may write chunks to the volumes the engine named, and do
 * nothing else: a compromised source host gets no further into the target host than its own disks.
 */
function writesOnly(handles: readonly number[], handler: RequestHandler): RequestHandler {
  const allowed = new Set(handles);
  return async (frame) => {
    if (frame.type !== Msg.Write) throw new Error(`this direct connection takes chunk writes only (got message type ${frame.type})`);
    const handle = frame.payload.readUInt32BE(0);
    if (!allowed.has(handle)) throw new Error(`this direct connection may not write to disk handle ${handle}`);
    return handler(frame);
  };
}

/** Serves `handler` on a connected socket; the first frame tells the far end who answers. */
function serveOn(socket: TLSSocket, handler: RequestHandler, hello: Hello, attach?: DialedConnection['attach']): void {
  open.add(socket);
  socket.setNoDelay(true);
  const peer = new WirePeer(socket, socket);
  attach?.((chunk, transient) => peer.receive(chunk, transient));
  peer.serve(handler);
  socket.on('close', () => {
    open.delete(socket);
    peer.fail(new Error('the direct connection closed'));
  });
  socket.on('error', () => socket.destroy());
  void peer.send(Msg.Hello, 0, encodeJson(hello)).catch(() => undefined);
}

/**
 * `dial`: resolves once the pinned connection is up and served. `listen`: resolves with the bound
 * port at once and serves the first pinned peer that connects within the timeout.
 */
export async function startDirect(args: Record<string, unknown>, handler: RequestHandler, hello: Hello): Promise<{ port: number; mode: string }> {
  const op = validateDirect(args);
  if (op.writes !== undefined) handler = writesOnly(op.writes, handler);
  if (op.mode === 'dial') {
    const dialed = await dialDirect(op);
    serveOn(dialed.socket, handler, hello, dialed.attach);
    return { port: op.port, mode: op.mode };
  }
  const listener = await DirectListener.open(op.host, op.port, op.identity, op.peer);
  listener
    .accept(op.timeoutMs)
    .then((socket) => serveOn(socket, handler, hello))
    .catch((err: unknown) => process.stderr.write(`agent: direct listener: ${String(err)}\n`))
    .finally(() => listener.close());
  return { port: listener.port, mode: op.mode };
}

/** Closes every direct connection (agent shutdown). */
export function closeDirect(): void {
  for (const s of open) s.destroy();
}
