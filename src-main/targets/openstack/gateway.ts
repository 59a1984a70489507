/**
 * The gateway ("HyperGate"): the instance in the target cloud that the sync volumes are attached
 * to and where the agent runs in the sink role. Either an instance the user named, or one Rehost
 * creates from the configured image, flavor and network (tagged, so cleanup may remove it).
 * The engine reaches it over SSH; its host key is pinned as configured or on first use (kept in
 * the driver's work folder, per gateway instance).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'ssh2';
import { RehostError } from '../../../src-shared/errors.js';
import { AgentSession } from '../../sources/agent/session.js';
import { connectSsh, execText } from '../../sources/agent/ssh.js';
import { OpenStackError } from './client/index.js';
import type { Server } from './client/nova.js';
import { GATEWAY_OWNER, gatewayServerName, isRehostOwned, rehostMetadata, type OpenStackContext } from './context.js';
import { hasGateway } from './config.js';
import { locateDevice, type DeviceHint, type FoundDevice, type GatewayShell } from './gateway-locate.js';

export type { DeviceHint } from './gateway-locate.js';

const GATEWAY_BOOT_MS = 10 * 60_000;
/** A gateway Rehost just created needs time to boot before SSH answers. */
const SSH_WAIT_NEW_MS = 5 * 60_000;
const SSH_RETRY_MS = 5000;

interface Connection {
  client: Client;
  /** The gateway's address as this connection reached it. */
  remoteAddress: string;
  /** The sink agent, started once and shared by every open volume. */
  session: Promise<AgentSession> | null;
}

export class Gateway {
  private server: Promise<Server> | null = null;
  private connection: Promise<Connection> | null = null;

  /** `shell`: runs gateway commands instead of SSH (unit tests drive `locate` with a fake one). */
  constructor(
    private readonly ctx: OpenStackContext,
    private readonly options: { shell?: GatewayShell } = {},
  ) {}

  get configured(): boolean {
    return hasGateway(this.ctx.config);
  }

  /** The gateway instance, ACTIVE: the configured one, or Rehost's (created when missing: sync paths only). */
  ensure(signal: AbortSignal): Promise<Server> {
    if (!this.configured) {
      return Promise.reject(
        new RehostError('UNPROCESSABLE', 'this OpenStack target has no gateway: set config.gateway_server_id, or gateway_image_id, gateway_flavor_id and gateway_network_id for Rehost to create one', {
          field: 'config.gateway_server_id',
        }),
      );
    }
    this.server ??= this.resolve(signal).catch((err: unknown) => {
      this.server = null;
      throw err;
    });
    return this.server;
  }

  /** The Rehost-made gateway of this project, when there is one (no creation). */
  async findOwn(signal?: AbortSignal): Promise<Server | null> {
    const name = gatewayServerName(this.ctx.config.projectName);
    const servers = await this.ctx.client.nova.listServers({ name: `^${escapeRegex(name)}$` }, signal);
    return servers.find((s) => isRehostOwned(s.metadata, GATEWAY_OWNER, 'gateway') && s.status !== 'DELETED' && s.status !== 'SOFT_DELETED') ?? null;
  }

  /**
   * Read-only, for `verify`: a named instance must exist and be ACTIVE; for one Rehost creates,
   * the image, flavor and network it will be made from must exist. Nothing is created here
   * (reading a target never creates cloud resources): the first sync that needs the gateway makes it.
   */
  async check(signal: AbortSignal): Promise<void> {
    if (!this.configured) return;
    const g = this.ctx.config.gateway;
    if (g.serverId !== null) {
      await this.named(g.serverId, signal);
      return;
    }
    if ((await this.findOwn(signal)) !== null) return;
    const { nova, glance, neutron } = this.ctx.client;
    const exists = async (field: string, what: string, get: () => Promise<unknown>) => {
      try {
        await get();
      } catch (err) {
        if (OpenStackError.isOpenStack(err, 404)) throw new RehostError('VALIDATION', `config.${field}: no ${what} in project ${this.ctx.config.projectName} to create the gateway from`, { field: `config.${field}` });
        throw err;
      }
    };
    await exists('gateway_image_id', `image ${g.imageId}`, () => glance.getImage(g.imageId!, signal));
    await exists('gateway_flavor_id', `flavor ${g.flavorId}`, () => nova.getFlavor(g.flavorId!, signal));
    await exists('gateway_network_id', `network ${g.networkId}`, () => neutron.getNetwork(g.networkId!, signal));
  }

  /** The instance the user named, ACTIVE. */
  private async named(id: string, signal: AbortSignal): Promise<Server> {
    let server: Server;
    try {
      server = await this.ctx.client.nova.getServer(id, signal);
    } catch (err) {
      if (OpenStackError.isOpenStack(err, 404)) throw new RehostError('VALIDATION', `config.gateway_server_id: no instance ${id} in project ${this.ctx.config.projectName}`, { field: 'config.gateway_server_id' });
      throw err;
    }
    if (server.status !== 'ACTIVE') throw new RehostError('UNPROCESSABLE', `the gateway instance ${server.name} (${server.id}) is ${server.status}; start it first`, { field: 'config.gateway_server_id' });
    return server;
  }

  private async resolve(signal: AbortSignal): Promise<Server> {
    const { nova } = this.ctx.client;
    const g = this.ctx.config.gateway;
    if (g.serverId !== null) return this.named(g.serverId, signal);
    const own = await this.findOwn(signal);
    if (own !== null) {
      if (own.status === 'ERROR') throw new RehostError('DRIVER', `the gateway ${own.name} (${own.id}) Rehost created is in ERROR: ${own.fault?.message ?? 'no fault message'}; delete it and retry`);
      return own.status === 'ACTIVE' ? own : nova.waitServer(own.id, 'ACTIVE', { timeoutMs: GATEWAY_BOOT_MS, intervalMs: 2000, signal });
    }
    const name = gatewayServerName(this.ctx.config.projectName);
    this.ctx.log.info({ name, image: g.imageId, flavor: g.flavorId, network: g.networkId }, 'creating the gateway instance (a sync needs it)');
    const created = await nova.createServer(
      { name, flavorRef: g.flavorId!, imageRef: g.imageId!, networks: [{ uuid: g.networkId! }], metadata: rehostMetadata(GATEWAY_OWNER, 'gateway') },
      signal,
    );
    return nova.waitServer(created.id, 'ACTIVE', { timeoutMs: GATEWAY_BOOT_MS, intervalMs: 2000, signal });
  }

  /** Where SSH goes: the configured address, else the instance's floating IP, else its first fixed IPv4. */
  address(server: Server): string {
    const g = this.ctx.config.gateway;
    if (g.address !== null) return g.address;
    const all = Object.values(server.addresses).flat();
    const pick = all.find((a) => a['OS-EXT-IPS:type'] === 'floating') ?? all.find((a) => a.version === 4) ?? all[0];
    if (pick === undefined) throw new RehostError('UNPROCESSABLE', `the gateway ${server.name} has no IP address; set config.gateway_address`, { field: 'config.gateway_address' });
    return pick.addr;
  }

  /** Runs a command on the gateway. */
  async exec(command: string, signal: AbortSignal): Promise<string> {
    const res = await (await this.shell(signal)).run(command);
    if (res.code !== 0) throw new RehostError('DRIVER', `on the gateway: \`${command.slice(0, 100)}…\` failed (${res.code}): ${((res.stderr ?? '').trim() || res.stdout.trim()).slice(-400)}`);
    return res.stdout;
  }

  /** The sink agent on the gateway, started on first use and again after it stopped. */
  async agent(signal: AbortSignal): Promise<AgentSession> {
    const conn = await this.connect(signal);
    // callers racing here share one start: `conn.session` is set without an await in between
    for (let pending = conn.session; pending !== null; pending = conn.session) {
      const running = await pending.catch(() => null);
      if (running?.alive) return running;
      if (conn.session === pending) conn.session = null;
    }
    const starting = AgentSession.start(conn.client, { role: 'sink', sudo: this.ctx.config.gateway.sudo, log: this.ctx.log }, signal);
    conn.session = starting;
    starting.catch(() => {
      if (conn.session === starting) conn.session = null;
    });
    return starting;
  }

  /**
   * Where source agents reach the gateway for transport direct (its sink agent listens there):
   * `config.gateway_direct_address`, else the address the engine's SSH connection reached.
   */
  async directAddress(signal: AbortSignal): Promise<string> {
    return this.ctx.config.gateway.directAddress ?? (await this.connect(signal)).remoteAddress;
  }

  /** The device of `volumeId` inside the gateway (gateway-locate.ts); waits for one still appearing. */
  async locate(volumeId: string, hint: DeviceHint, signal: AbortSignal, options: { attempts?: number; delayMs?: number } = {}): Promise<FoundDevice> {
    return locateDevice(await this.shell(signal), volumeId, hint, { ...options, signal });
  }

  private async shell(signal: AbortSignal): Promise<GatewayShell> {
    if (this.options.shell) return this.options.shell;
    const { client } = await this.connect(signal);
    return { run: async (command) => execText(client, command) };
  }

  /** Deletes the gateway if Rehost created it and no volume is attached to it any more. */
  async removeIfUnused(signal: AbortSignal): Promise<boolean> {
    if (this.ctx.config.gateway.serverId !== null || !this.configured) return false;
    const own = await this.findOwn(signal);
    if (own === null) return false;
    const attached = await this.ctx.client.nova.listVolumeAttachments(own.id, signal);
    if (attached.length > 0) return false;
    await this.close();
    this.server = null;
    await this.ctx.client.nova.deleteServer(own.id, signal).catch((err: unknown) => {
      if (!OpenStackError.isOpenStack(err, 404)) throw err;
    });
    await this.ctx.client.nova.waitServerGone(own.id, { timeoutMs: 300_000, intervalMs: 1000, signal });
    rmSync(this.pinFile(own.id), { force: true });
    this.ctx.log.info({ server: own.id }, 'the gateway Rehost created is deleted (no volume attached any more)');
    return true;
  }

  /** Stops the agent and drops the SSH connection. */
  async close(): Promise<void> {
    const pending = this.connection;
    this.connection = null;
    const conn = await pending?.catch(() => null);
    if (!conn) return;
    await (await conn.session?.catch(() => null))?.close().catch(() => undefined);
    conn.client.end();
  }

  private connect(signal: AbortSignal): Promise<Connection> {
    this.connection ??= this.open(signal).catch((err: unknown) => {
      this.connection = null;
      throw err;
    });
    return this.connection;
  }

  private async open(signal: AbortSignal): Promise<Connection> {
    const server = await this.ensure(signal);
    const g = this.ctx.config.gateway;
    const address = this.address(server);
    const pinned = g.hostKey ?? this.readPin(server.id);
    const config = { address, port: g.sshPort, username: g.username };
    const secret = {
      ...(this.ctx.secret.gateway_password ? { password: this.ctx.secret.gateway_password } : {}),
      ...(this.ctx.secret.gateway_private_key ? { privateKey: this.ctx.secret.gateway_private_key } : {}),
      ...(this.ctx.secret.gateway_passphrase ? { passphrase: this.ctx.secret.gateway_passphrase } : {}),
    };
    const fresh = Date.now() - Date.parse(server.created) < SSH_WAIT_NEW_MS;
    const deadline = Date.now() + (fresh ? SSH_WAIT_NEW_MS : 0);
    for (;;) {
      try {
        const { client, identity } = await connectSsh(config, secret, pinned, signal);
        client.once('close', () => (this.connection = null));
        if (pinned === null) this.writePin(server.id, identity);
        const sock = (client as unknown as { _sock?: { remoteAddress?: string } })._sock;
        return { client, session: null, remoteAddress: sock?.remoteAddress ?? address };
      } catch (err) {
        // a gateway that is still booting refuses connections for a while
        if (RehostError.is(err, 'UNAVAILABLE') && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, SSH_RETRY_MS));
          continue;
        }
        throw gatewayField(err);
      }
    }
  }

  private pinFile(serverId: string): string {
    return join(this.ctx.workDir, `gateway-${serverId.replace(/[^A-Za-z0-9-]/g, '_')}.hostkey`);
  }

  private readPin(serverId: string): string | null {
    try {
      return readFileSync(this.pinFile(serverId), 'utf8').trim() || null;
    } catch {
      return null;
    }
  }

  private writePin(serverId: string, identity: string): void {
    mkdirSync(this.ctx.workDir, { recursive: true });
    writeFileSync(this.pinFile(serverId), `${identity}\n`, { mode: 0o600 });
    this.ctx.log.info({ server: serverId, hostKey: identity }, 'gateway SSH host key pinned on first use');
  }
}

/** The SSH layer names the Agent source's fields; here they are the gateway's. */
function gatewayField(err: unknown): unknown {
  if (!RehostError.is(err) || err.context.field === undefined) return err;
  const field = err.context.field.replace(/^config\.(host_key|password|address)$/, 'config.gateway_$1');
  const message = err.message.replace(/update host_key$/, 'update config.gateway_host_key');
  // a refused SSH login must not read as "your Rehost session ended" (401) in the API
  const code = err.code === 'UNAUTHORIZED' ? 'UNPROCESSABLE' : err.code;
  return new RehostError(code, `gateway: ${message}`, { ...err.context, field }, { cause: err });
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
