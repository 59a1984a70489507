/**
 * The Agent source: a Linux host reached over SSH. The engine holds one SSH connection and one
 * agent per source; both are re-established on demand, so a sync retried after a dropped link or
 * a killed agent finds a fresh agent and resumes from the replication checkpoint.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { DriverDeps, OpenSnapshotOptions, ServiceStopResult, SourceCapabilities, SourceConnection, SourceDriver, SourceInventory, SourceServices, SourceSnapshot } from '../../core/drivers.js';
import type { EnvCheck } from '../../core/model.js';
import type { WireCheck, WireInventory } from '../../replication/wire/inventory.js';
import { mintIdentity, pinOf } from '../../replication/direct-identity.js';
import type { TLSSocket } from 'node:tls';
import { DirectListener, dialDirect } from '../../replication/wire/direct.js';
import { WirePeer } from '../../replication/wire/peer.js';
import { type AgentConfig, type AgentSecret } from './config.js';
import { takeView } from './consistency-view.js';
import { toHost } from './inventory-map.js';
import { RemoteDisk, type DiskLinker } from './remote-disk.js';
import { linkToSink } from './sink-link.js';
import { AgentSession } from './session.js';
import { removeRuntimeCache } from './runtime-cache.js';
import { connectSsh, execText, sh, type SshConnection } from './ssh.js';

interface Inventoried {
  inventory: WireInventory;
  checks: WireCheck[];
}

/** How long the agent may take to connect back for the direct transport before the step fails. */
const DIRECT_CONNECT_MS = 15_000;

/** The data channel of one snapshot: the SSH relay, or a direct TLS connection that `close` ends. */
interface DataChannel {
  peer: WirePeer;
  description: string;
  close(): void;
}

export class AgentSource implements SourceDriver {
  readonly kind = 'Agent' as const;
  readonly capabilities: SourceCapabilities = { changeTracking: 'hash', pointInTime: false };
  private ssh: SshConnection | null = null;
  private session: AgentSession | null = null;
  private pin: string | null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly snapshots = new Set<RemoteDisk[]>();
  /** Agent folders left behind by a connection that dropped; removed after the next connect. */
  private stale: string[] = [];

  constructor(
    private readonly deps: DriverDeps,
    private readonly config: AgentConfig,
    private readonly secret: AgentSecret,
  ) {
    this.pin = config.hostKey;
  }

  async connect(pinned: string | null, signal: AbortSignal): Promise<SourceConnection> {
    if (pinned !== null) this.pin = pinned;
    return this.serial(async () => {
      await this.dropSsh();
      const conn = await this.sshConnection(signal);
      const uname = await execText(conn.client, 'uname -srm');
      return { identity: conn.identity, description: `${this.config.username}@${this.config.address}:${this.config.port}: ${uname.stdout.trim()} (host key ${conn.identity})` };
    });
  }

  async discover(signal: AbortSignal): Promise<SourceInventory> {
    const { inventory, checks } = await this.inventory(signal);
    const host = toHost(this.config, inventory, checks);
    this.deps.log.info({ host: inventory.hostname, disks: inventory.disks.length }, 'agent host inventoried');
    const agent = this.session ? { ...this.session.hello, dir: this.session.dir, runtime: this.session.runtime } : null;
    return { tree: { address: this.config.address, port: this.config.port, host_key: this.ssh?.identity ?? this.pin, agent, inventory }, hosts: [host] };
  }

  async checkHost(ref: string, signal: AbortSignal): Promise<EnvCheck[]> {
    this.assertRef(ref);
    return (await this.inventory(signal)).checks;
  }

  async openSnapshot(ref: string, options: OpenSnapshotOptions, signal: AbortSignal): Promise<SourceSnapshot> {
    this.assertRef(ref);
    const { inventory } = await this.inventory(signal);
    const session = this.session!;
    // A configured disk that is missing would shift the others' indexes: never copy a subset.
    const paths = inventory.disks.map((d) => d.path ?? `/dev/${d.name}`);
    const missing = this.config.disks.filter((p) => !paths.includes(p));
    if (missing.length > 0) throw new RehostError('UNPROCESSABLE', `the disk ${missing.join(', ')} named in config.disks is not on ${this.config.address}: it was removed or detached; attach it again and retry`, { field: 'config.disks' });
    if (inventory.disks.length === 0) throw new RehostError('UNPROCESSABLE', `no disk to copy on ${this.config.address} (config.disks: ${this.config.disks.join(', ') || 'none'})`);
    if (inventory.uid !== 0) throw new RehostError('FORBIDDEN', `the agent on ${this.config.address} runs as ${this.config.username} (uid ${inventory.uid}) and reading disks needs root (environment check ACCOUNT_RIGHTS): set "sudo": true with a NOPASSWD sudoers rule, or log in as root`, { field: 'config.sudo' });
    // The agent paces its read replies, whichever channel carries them: the link itself runs at the limit.
    await session.peer.call('limit', { mbps: options.limitMbps ?? 0 }, signal);
    const view = await takeView(session.peer, paths, this.deps.log, signal);
    const zstd = session.hello.codecs.includes('zstd');
    // Direct to the target's sink agents: the SSH channel carries only control and digests.
    const toSinks = this.config.transport === 'direct' && options.directSinks === true;
    const channel = this.config.transport === 'direct' && !toSinks ? await this.openDirect(session, signal) : this.controlChannel(session, toSinks);
    const linker = toSinks ? this.sinkLinker(session) : null;
    const disks: RemoteDisk[] = [];
    try {
      for (const [index, path] of paths.entries()) {
        const opened = await session.peer.call<{ handle: number; size: number }>('open', { path: view.reads[path] ?? path }, signal);
        disks.push(new RemoteDisk(index, opened.size, path, opened.handle, channel.peer, zstd, linker, options.mode === 'full'));
      }
    } catch (err) {
      channel.close();
      await Promise.all(disks.map((d) => d.close()));
      await view.release().catch(() => undefined);
      throw err;
    }
    this.snapshots.add(disks);
    return {
      method: view.method,
      transport: channel.description,
      paced: true,
      disks,
      close: async () => {
        if (!this.snapshots.delete(disks)) return;
        await Promise.all(disks.map((d) => d.close()));
        channel.close();
        await view.release();
      },
    };
  }

  /**
   * The direct transport for one snapshot: fresh identities for both ends, pinned on both sides.
   * By default the agent listens on the host and the engine dials it, as it dials SSH (so a laptop
   * behind NAT works), reading into one reused buffer: a listening TLS socket gets a fresh buffer
   * per record, which costs the engine a third more CPU and many collections at hundreds of MB/s.
   * With `direct_listener: engine` the roles swap for hosts that cannot accept connections: the
   * engine listens and the agent, told over SSH where to dial and what to pin, connects. No
   * fallback to relay: a failure fails the step and says why.
   */
  private async openDirect(session: AgentSession, signal: AbortSignal): Promise<DataChannel> {
    const [engine, agent] = await Promise.all([mintIdentity('rehost-engine'), mintIdentity('rehost-agent')]);
    const agentListens = this.config.directListener !== 'engine';
    const host = this.config.directAddress ?? (agentListens ? this.sshAddress('remote') : this.sshAddress('local'));
    if (host === null) throw new RehostError('VALIDATION', 'direct transport: the address to connect to is unknown; set config.direct_address', { field: 'config.direct_address' });
    let where = `${host}:?`;
    try {
      let socket: TLSSocket;
      let peer: WirePeer;
      if (agentListens) {
        const { port } = await session.peer.call<{ port: number }>('direct', { mode: 'listen', host, port: 0, identity: { key: agent.key, cert: agent.cert }, peer: pinOf(engine), timeoutMs: DIRECT_CONNECT_MS }, signal);
        where = `${host}:${port}`;
        const dialed = await dialDirect({ host, port, identity: engine, peer: pinOf(agent), timeoutMs: DIRECT_CONNECT_MS }, signal);
        socket = dialed.socket;
        peer = new WirePeer(socket, socket);
        const direct = peer;
        dialed.attach((chunk, transient) => direct.receive(chunk, transient));
      } else {
        const listener = await DirectListener.open(host, 0, engine, pinOf(agent));
        where = `${host}:${listener.port}`;
        try {
          const accepted = listener.accept(DIRECT_CONNECT_MS, signal);
          accepted.catch(() => undefined);
          await session.peer.call('direct', { mode: 'dial', host, port: listener.port, identity: { key: agent.key, cert: agent.cert }, peer: pinOf(engine), timeoutMs: DIRECT_CONNECT_MS }, signal);
          socket = await accepted;
        } finally {
          listener.close();
        }
        peer = new WirePeer(socket, socket);
      }
      socket.setNoDelay(true);
      socket.on('error', () => socket.destroy());
      const direct = peer;
      socket.on('close', () => direct.fail(new RehostError('UNAVAILABLE', `the direct connection with the agent on ${this.config.address} closed`)));
      await peer.hello(AbortSignal.any([signal, AbortSignal.timeout(DIRECT_CONNECT_MS)]));
      const cipher = socket.getCipher().standardName;
      this.deps.log.info({ where, cipher, engine: engine.fingerprint, agent: agent.fingerprint }, 'direct transport connected');
      const path = agentListens ? `engine → agent on ${where}` : `agent on ${this.config.address} → engine ${where}`;
      return {
        peer,
        description: `direct (TLS 1.3 ${cipher}, ${path}, per-job certificates pinned on both sides)`,
        close: () => socket.destroy(),
      };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const why = err instanceof Error ? err.message : String(err);
      const who = agentListens ? `the engine could not connect to the agent at ${where}` : `the agent on ${this.config.address} could not connect to the engine at ${where}`;
      throw new RehostError('UNAVAILABLE', `direct transport: ${who} within ${DIRECT_CONNECT_MS / 1000} s: ${why}. That address must be reachable (config.direct_address, config.direct_listener), or use transport "relay"`, { field: 'config.transport' }, { cause: err });
    }
  }

  /** The SSH relay as the data channel, or (direct to sink agents) as the control channel only. */
  private controlChannel(session: AgentSession, toSinks: boolean): DataChannel {
    const description = toSinks
      ? 'direct (source agent → the target\'s sink agent over TLS 1.3, per-job certificates pinned on both sides, linked per disk; the engine only coordinates)'
      : 'relay (over the SSH connection the engine holds)';
    return { peer: session.peer, description, close: () => undefined };
  }

  /** Links one disk of this session to a sink agent (sink-link.ts). */
  private sinkLinker(session: AgentSession): DiskLinker {
    return (disk, sink, signal) => linkToSink({ peer: session.peer, config: this.config, sourceAddress: this.sshAddress('remote'), log: this.deps.log }, disk, sink, signal);
  }

  /** An end of the SSH connection: the engine's (`local`, the host reaches us there) or the host's (`remote`). */
  private sshAddress(end: 'local' | 'remote'): string | null {
    const sock = (this.ssh?.client as unknown as { _sock?: { localAddress?: string; remoteAddress?: string } } | undefined)?._sock;
    return (end === 'local' ? sock?.localAddress : sock?.remoteAddress) ?? null;
  }

  /**
   * The source is being deleted: stops the agent and removes everything Rehost put on the host,
   * the runtime cache included (a plain close keeps the cache for the next agent start).
   */
  async unregister(signal: AbortSignal): Promise<void> {
    await this.serial(async () => {
      this.snapshots.clear();
      await this.dropSession();
      const conn = await this.sshConnection(signal);
      for (const dir of this.stale.splice(0)) await execText(conn.client, `rm -rf ${sh(dir)}`).catch(() => undefined);
      await removeRuntimeCache(conn.client);
      this.deps.log.info({ host: this.config.address }, 'agent runtime cache removed from the host');
    });
  }

  /** Cutover: the user's services stop before the final sync (`systemctl stop` over SSH, `sudo -n` when configured). */
  readonly services: SourceServices = { stop: (ref, names, signal) => this.stopServices(ref, names, signal) };

  private async stopServices(ref: string, names: readonly string[], signal: AbortSignal): Promise<ServiceStopResult[]> {
    this.assertRef(ref);
    const conn = await this.serial(() => this.sshConnection(signal));
    const sudo = this.config.sudo ? 'sudo -n ' : '';
    const results: ServiceStopResult[] = [];
    for (const name of names) {
      signal.throwIfAborted();
      // systemctl waits until the unit has stopped; is-active then reports its state ("inactive").
      const res = await execText(conn.client, `${sudo}systemctl stop -- ${sh(name)} && ${sudo}systemctl is-active -- ${sh(name)}`);
      const state = res.stdout.trim().split('\n').pop() ?? '';
      const ok = state === 'inactive' || state === 'failed';
      results.push({ name, ok, detail: ok ? state : (res.stderr.trim() || res.stdout.trim() || `exit code ${res.code}`).slice(0, 500) });
    }
    this.deps.log.info({ host: this.config.address, results }, 'source services stopped for cutover');
    return results;
  }

  /** Stops the agent, removes it from the host, and closes the SSH connection. */
  async close(): Promise<void> {
    await this.serial(async () => {
      this.snapshots.clear();
      await this.dropSession();
      await this.dropSsh();
    });
  }

  private assertRef(ref: string): void {
    if (ref !== this.config.address) throw new RehostError('NOT_FOUND', `host ${ref} is not offered by this source (${this.config.address})`, { field: 'ref' });
  }

  private async inventory(signal: AbortSignal): Promise<Inventoried> {
    const session = await this.serial(() => this.agent(signal));
    return session.peer.call<Inventoried>('inventory', { disks: this.config.disks }, signal);
  }

  /** Runs `fn` after every earlier connection change, so two jobs never push two agents at once. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async sshConnection(signal: AbortSignal): Promise<SshConnection> {
    if (this.ssh) return this.ssh;
    const conn = await connectSsh(this.config, this.secret, this.pin, signal);
    this.pin ??= conn.identity;
    conn.client.on('close', () => {
      if (this.ssh === conn) this.ssh = null;
    });
    this.ssh = conn;
    for (const dir of this.stale.splice(0)) await execText(conn.client, `rm -rf ${sh(dir)}`).catch(() => undefined);
    return conn;
  }

  /** The running agent, pushed again when the previous one or its connection died. */
  private async agent(signal: AbortSignal): Promise<AgentSession> {
    if (this.session?.alive && this.ssh) return this.session;
    await this.dropSession();
    const conn = await this.sshConnection(signal);
    // A connect() in between may have dropped the old agent's connection after this one opened.
    for (const dir of this.stale.splice(0)) await execText(conn.client, `rm -rf ${sh(dir)}`).catch(() => undefined);
    this.session = await AgentSession.start(conn.client, { role: 'source', sudo: this.config.sudo, log: this.deps.log }, signal);
    return this.session;
  }

  private async dropSession(): Promise<void> {
    const old = this.session;
    this.session = null;
    if (old && !this.ssh) this.stale.push(old.dir);
    else if (old && !(await old.close().catch(() => false))) this.stale.push(old.dir);
  }

  private async dropSsh(): Promise<void> {
    const old = this.ssh;
    this.ssh = null;
    old?.client.end();
  }
}
