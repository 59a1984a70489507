/**
 * The sink side of transport direct for targets whose volumes an agent writes (the OpenStack
 * gateway, the KVM host): the sink agent listens for, or dials, the pinned source agent over its
 * SSH control channel's `direct` call, and takes only chunk writes to this volume on that link.
 */
import type { DirectLinkKeys, DirectSinkPort } from '../core/drivers.js';
import type { WirePeer } from './wire/peer.js';

/** The sink agent's control channel and the volume's handle there, opened on first use. */
export type SinkAgentOpener = (signal: AbortSignal) => Promise<{ peer: WirePeer; handle: number }>;

export class AgentSinkPort implements DirectSinkPort {
  /**
   * @param open      the sink agent with the volume open for writing
   * @param address   the address a source agent reaches the sink host at (the target's direct
   *                  address, else the SSH connection's far end); the sink agent listens there
   * @param where     the sink agent in messages ("the sink agent on 10.0.0.5")
   */
  constructor(
    private readonly open: SinkAgentOpener,
    private readonly address: (signal: AbortSignal) => Promise<string>,
    readonly where: string,
  ) {}

  async listen(keys: DirectLinkKeys, signal: AbortSignal): Promise<{ host: string; port: number; handle: number }> {
    const { peer, handle } = await this.open(signal);
    const host = await this.address(signal);
    const { port } = await peer.call<{ port: number }>('direct', { mode: 'listen', host, port: 0, ...keys, writes: [handle] }, signal);
    return { host, port, handle };
  }

  async dial(keys: DirectLinkKeys & { host: string; port: number }, signal: AbortSignal): Promise<{ handle: number }> {
    const { peer, handle } = await this.open(signal);
    await peer.call('direct', { mode: 'dial', ...keys, writes: [handle] }, signal);
    return { handle };
  }
}
