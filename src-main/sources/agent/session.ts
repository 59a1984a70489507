/**
 * One running agent on a host: pushed over SFTP into a fresh temp folder, checked by sha256, run
 * (through `sudo -n` for non-root users) with its stdin/stdout as the replication channel, and
 * removed again on close.
 */
import type { Client, ClientChannel } from 'ssh2';
import { RehostError } from '../../../src-shared/errors.js';
import type { Logger } from '../../core/ports.js';
import { decodeJson, type Hello } from '../../replication/wire/messages.js';
import { WirePeer } from '../../replication/wire/peer.js';
import { agentBundle, nativeHelpers, nodeArch, shippedRuntime, type PushFile } from './bundle.js';
import { execStream, execText, openSftp, sh, upload } from './ssh.js';

const HELLO_TIMEOUT_MS = 20_000;

export interface SessionOptions {
  role: 'source' | 'sink';
  sudo: boolean;
  log: Logger;
}

export class AgentSession {
  private closed = false;

  private constructor(
    private readonly client: Client,
    readonly dir: string,
    readonly peer: WirePeer,
    readonly hello: Hello,
    private readonly channel: ClientChannel,
    private readonly log: Logger,
  ) {}

  /** Pushes and starts the agent. */
  static async start(client: Client, options: SessionOptions, signal: AbortSignal): Promise<AgentSession> {
    const probe = await execText(client, 'uname -m && mktemp -d /tmp/rehost-agent-XXXXXXXX');
    const [machine = '', dir = ''] = probe.stdout.trim().split('\n');
    if (probe.code !== 0 || !dir.startsWith('/tmp/rehost-agent-')) throw new RehostError('DRIVER', `cannot prepare a folder for the agent: ${probe.stderr.trim() || probe.stdout.trim()}`);
    try {
      const arch = nodeArch(machine.trim());
      if (arch === null) throw new RehostError('UNPROCESSABLE', `the host's architecture ${machine} has no agent runtime (x86_64 and aarch64 only)`);
      const node = await AgentSession.push(client, dir, arch, signal);
      const prefix = options.sudo ? 'sudo -n ' : '';
      const channel = await execStream(client, `${prefix}${sh(node)} ${sh(`${dir}/agent.cjs`)} --role ${options.role}`);
      const peer = new WirePeer(channel, channel);
      let stderr = '';
      channel.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
      const timeout = AbortSignal.any([signal, AbortSignal.timeout(HELLO_TIMEOUT_MS)]);
      const frame = await peer.hello(timeout).catch((err: unknown) => {
        channel.close();
        throw new RehostError('DRIVER', `the agent did not start on the host: ${stderr.trim() || String(err)}`, {}, { cause: err });
      });
      channel.on('close', () => peer.fail(new Error(`the agent on the host stopped${stderr.trim() ? `: ${stderr.trim()}` : ''}`)));
      const hello = decodeJson<Hello>(frame.payload);
      options.log.info({ dir, pid: hello.pid, node: hello.node, digest: hello.digest, codecs: hello.codecs }, 'agent started');
      return new AgentSession(client, dir, peer, hello, channel, options.log);
    } catch (err) {
      await execText(client, `rm -rf ${sh(dir)}`).catch(() => undefined);
      throw err;
    }
  }

  /** Uploads the files, checks their sha256 on the host, and returns the node binary to run. */
  private static async push(client: Client, dir: string, arch: string, signal: AbortSignal): Promise<string> {
    const runtime = shippedRuntime(arch);
    const files: PushFile[] = [agentBundle(), ...nativeHelpers(arch), ...(runtime ? [runtime] : [])];
    const sftp = await openSftp(client);
    try {
      for (const f of files) {
        signal.throwIfAborted();
        await upload(sftp, f.local, `${dir}/${f.name}`);
      }
    } finally {
      sftp.end();
    }
    const sums = await execText(client, `cd ${sh(dir)} && sha256sum ${files.map((f) => sh(f.name)).join(' ')}`);
    for (const f of files) {
      if (!sums.stdout.includes(`${f.sha256}  ${f.name}`)) throw new RehostError('DRIVER', `the uploaded ${f.name} does not match its sha256 on the host (${sums.stderr.trim() || 'checksum differs'})`);
    }
    if (runtime) return `${dir}/node`;
    return AgentSession.hostNode(client);
  }

  /**
   * Without a shipped runtime: this engine's own node when the host is this machine (tests), else
   * a node ≥ 20 on the host's PATH.
   */
  private static async hostNode(client: Client): Promise<string> {
    const found = await execText(client, `for n in ${sh(process.execPath)} "$(command -v node)"; do [ -x "$n" ] && "$n" -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' && { echo "$n"; exit 0; }; done; exit 1`);
    const node = found.stdout.trim().split('\n')[0] ?? '';
    if (found.code !== 0 || node === '') throw new RehostError('UNAVAILABLE', 'no Node runtime for the agent: fetch one into resources/agent/runtime (scripts/fetch-agent-runtimes.mjs) or install Node ≥ 20 on the host');
    return node;
  }

  get alive(): boolean {
    return !this.closed && this.peer.closed === null;
  }

  /** Stops the agent and removes its folder from the host. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.peer.closed === null) await Promise.race([this.peer.call('exit').catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
    this.channel.close();
    this.peer.fail(new Error('the agent session was closed'));
    const rm = await execText(this.client, `rm -rf ${sh(this.dir)}`).catch((err: unknown) => ({ code: 1, stdout: '', stderr: String(err) }));
    if (rm.code !== 0) this.log.warn({ dir: this.dir, err: rm.stderr }, 'could not remove the agent folder from the host');
  }
}
