/**
 * The Agent source: a Linux host reached over SSH. The engine holds one SSH connection and one
 * agent per source; both are re-established on demand, so a sync retried after a dropped link or
 * a killed agent finds a fresh agent and resumes from the replication checkpoint.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { DriverDeps, OpenSnapshotOptions, SourceCapabilities, SourceConnection, SourceDriver, SourceInventory, SourceSnapshot } from '../../core/drivers.js';
import type { EnvCheck } from '../../core/model.js';
import type { WireCheck, WireInventory } from '../../replication/wire/inventory.js';
import { type AgentConfig, type AgentSecret } from './config.js';
import { toHost } from './inventory-map.js';
import { RemoteDisk } from './remote-disk.js';
import { AgentSession } from './session.js';
import { connectSsh, execText, sh, type SshConnection } from './ssh.js';

interface Inventoried {
  inventory: WireInventory;
  checks: WireCheck[];
}

/** What a snapshot says about consistency: the agent found no way to a point-in-time view. */
const METHODS: Record<string, string> = {
  'converging-passes': 'converging passes (no LVM snapshot or fsfreeze on this host: each incremental pass copies what changed during the previous one; run the final pass with services stopped)',
  'lvm-snapshot': 'converging passes (LVM with free extents found; LVM snapshots are not used by this agent version)',
  fsfreeze: 'converging passes (fsfreeze available; not used by this agent version)',
};

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
    const agent = this.session ? { ...this.session.hello, dir: this.session.dir } : null;
    return { tree: { address: this.config.address, port: this.config.port, host_key: this.ssh?.identity ?? this.pin, agent, inventory }, hosts: [host] };
  }

  async checkHost(ref: string, signal: AbortSignal): Promise<EnvCheck[]> {
    this.assertRef(ref);
    return (await this.inventory(signal)).checks;
  }

  async openSnapshot(ref: string, _options: OpenSnapshotOptions, signal: AbortSignal): Promise<SourceSnapshot> {
    this.assertRef(ref);
    const { inventory } = await this.inventory(signal);
    const session = this.session!;
    if (inventory.disks.length === 0) throw new RehostError('UNPROCESSABLE', `no disk to copy on ${this.config.address} (config.disks: ${this.config.disks.join(', ') || 'none'})`);
    const zstd = session.hello.codecs.includes('zstd');
    const disks: RemoteDisk[] = [];
    for (const [index, d] of inventory.disks.entries()) {
      const opened = await session.peer.call<{ handle: number; size: number }>('open', { path: d.path }, signal);
      disks.push(new RemoteDisk(index, opened.size, d.path, opened.handle, session.peer, zstd));
    }
    this.snapshots.add(disks);
    return {
      method: METHODS[inventory.consistency] ?? METHODS['converging-passes']!,
      disks,
      close: async () => {
        if (!this.snapshots.delete(disks)) return;
        await Promise.all(disks.map((d) => d.close()));
      },
    };
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
    this.session = await AgentSession.start(conn.client, { role: 'source', sudo: this.config.sudo, log: this.deps.log }, signal);
    return this.session;
  }

  private async dropSession(): Promise<void> {
    const old = this.session;
    this.session = null;
    if (old && !this.ssh) this.stale.push(old.dir);
    else if (old) await old.close().catch((err: unknown) => this.deps.log.warn({ err: String(err) }, 'closing the agent failed'));
  }

  private async dropSsh(): Promise<void> {
    const old = this.ssh;
    this.ssh = null;
    old?.client.end();
  }
}
