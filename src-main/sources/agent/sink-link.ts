/**
 * Transport direct to a sink agent (a gateway or KVM host): the engine mints a certificate for
 * each agent, tells the sink agent (over its SSH control channel) to listen for the source agent,
 * or to dial it with `direct_listener: agent`, and the source agent to connect; both pin the
 * other's certificate. Then each chunk is one small `Forward` request to the source agent, which
 * reads it, skips it or writes it to the sink over their TLS 1.3 link, and answers with its digest:
 * the chunk bytes never touch the engine. No fallback to relay: a link that cannot be made fails
 * the step with the reason.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { ChunkForwarder, DiskSink, ForwardChunk, ForwardResult } from '../../core/drivers.js';
import type { Logger } from '../../core/ports.js';
import { mintIdentity, pinOf } from '../../replication/direct-identity.js';
import { decodeForwarded, encodeForward, Msg } from '../../replication/wire/messages.js';
import { RemoteError, type WirePeer } from '../../replication/wire/peer.js';
import type { AgentConfig } from './config.js';

/** How long either agent may take to connect to the other before the step fails. */
export const LINK_CONNECT_MS = 15_000;

/** What the source side knows when it links one disk. */
export interface SourceEnd {
  /** The source agent's control channel (the SSH relay). */
  peer: WirePeer;
  config: AgentConfig;
  /** The source host's address as the engine reaches it (where a sink agent dials it). */
  sourceAddress: string | null;
  log: Logger;
}

class SinkLink implements ChunkForwarder {
  constructor(
    private readonly peer: WirePeer,
    private readonly link: number,
    private readonly handle: number,
    private readonly sinkHandle: number,
    private readonly zstd: boolean,
    readonly description: string,
  ) {}

  async forward(chunk: ForwardChunk, signal: AbortSignal): Promise<ForwardResult> {
    const request = encodeForward({ link: this.link, handle: this.handle, sinkHandle: this.sinkHandle, zstd: this.zstd, ...chunk });
    try {
      return decodeForwarded((await this.peer.request(Msg.Forward, request, signal)).payload);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const why = err instanceof Error ? err.message : String(err);
      // The source agent's own failures (a disk read) come back as they are; the rest is the link's or an agent's.
      const what = err instanceof RemoteError ? `over the link ${this.description} failed: ${why}` : `failed: the source agent stopped or its SSH connection dropped (${why})`;
      throw new RehostError('UNAVAILABLE', `direct transport: forwarding the chunk at offset ${chunk.offset} ${what}; a retried sync resumes from the last checkpoint`, {}, { cause: err });
    }
  }

  async close(): Promise<void> {
    if (this.peer.closed === null) await this.peer.call('unlink', { link: this.link }).catch(() => undefined);
  }
}

/**
 * Links source disk `handle` to `sink`. Resolves with the forwarder once the sink agent has said
 * hello over the link; rejects with an UNAVAILABLE error naming both ends otherwise.
 */
export async function linkToSink(source: SourceEnd, disk: { handle: number; zstd: boolean }, sink: DiskSink, signal: AbortSignal): Promise<ChunkForwarder | null> {
  const port = sink.direct;
  if (port === undefined) {
    // This volume is written by something no source agent can reach (a KVM volume's qcow2 layer
    // through qemu-nbd): its chunks come through the engine over the SSH connection instead.
    source.log.info({ handle: disk.handle }, 'transport direct: this target volume takes no direct link; its chunks go through the engine over SSH');
    return null;
  }
  const [sourceId, sinkId] = await Promise.all([mintIdentity('rehost-source-agent'), mintIdentity('rehost-sink-agent')]);
  const sourceKeys = { identity: { key: sourceId.key, cert: sourceId.cert }, peer: pinOf(sinkId), timeoutMs: LINK_CONNECT_MS };
  const sinkKeys = { identity: { key: sinkId.key, cert: sinkId.cert }, peer: pinOf(sourceId), timeoutMs: LINK_CONNECT_MS };
  const sourceListens = source.config.directListener === 'agent';
  let where = '?';
  let link: number | null = null;
  try {
    let sinkHandle: number;
    let cipher: string;
    if (sourceListens) {
      const host = source.config.directAddress ?? source.sourceAddress;
      if (host === null) throw new RehostError('VALIDATION', 'transport direct: the source host address for the sink agent to dial is unknown; set config.direct_address', { field: 'config.direct_address' });
      const listening = await source.peer.call<{ link: number; port: number }>('link', { mode: 'listen', host, port: 0, ...sourceKeys }, signal);
      link = listening.link;
      where = `${host}:${listening.port}`;
      sinkHandle = (await port.dial({ ...sinkKeys, host, port: listening.port }, signal)).handle;
      cipher = (await source.peer.call<{ cipher: string }>('link_wait', { link }, signal)).cipher;
    } else {
      const at = await port.listen(sinkKeys, signal);
      where = `${at.host}:${at.port}`;
      sinkHandle = at.handle;
      const linked = await source.peer.call<{ link: number; cipher: string }>('link', { mode: 'dial', host: at.host, port: at.port, ...sourceKeys }, signal);
      link = linked.link;
      cipher = linked.cipher;
    }
    const path = sourceListens ? `${port.where} → source agent on ${where}` : `source agent on ${source.config.address} → ${port.where} at ${where}`;
    source.log.info({ where, cipher, source: sourceId.fingerprint, sink: sinkId.fingerprint }, 'source agent linked to the sink agent');
    return new SinkLink(source.peer, link, disk.handle, sinkHandle, disk.zstd, `${path} (TLS 1.3 ${cipher}, per-job certificates pinned on both sides)`);
  } catch (err) {
    if (link !== null) await source.peer.call('unlink', { link }).catch(() => undefined);
    if (signal.aborted) throw signal.reason;
    if (RehostError.is(err, 'VALIDATION')) throw err;
    const why = err instanceof Error ? err.message : String(err);
    const who = sourceListens ? `${port.where} could not connect to the source agent at ${where}` : `the source agent on ${source.config.address} could not connect to ${port.where} at ${where}`;
    throw new RehostError(
      'UNAVAILABLE',
      `direct transport: ${who} within ${LINK_CONNECT_MS / 1000} s: ${why}. That address must be reachable (the target's direct address, the source's config.direct_listener and config.direct_address), or use transport "relay"`,
      { field: 'config.transport' },
      { cause: err },
    );
  }
}
