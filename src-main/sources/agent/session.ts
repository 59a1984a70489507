/**
 * One running agent on a host: pushed over SFTP into a fresh temp folder, checked by sha256, run
 * (through `sudo -n` for non-root users) with its stdin/stdout as the replication channel, and
 * removed again on close. The Node runtime (over 100 MB) is not pushed each time: it is kept in
 * a cache on the host named by its sha256 (see runtime-cache.ts), checked before every use.
 */
import type { Client, ClientChannel } from 'ssh2';
import { RehostError } from '../../../src-shared/errors.js';
import type { Logger } from '../../core/ports.js';
import { decodeJson, type Hello } from '../../replication/wire/messages.js';
import { WirePeer } from '../../replication/wire/peer.js';
import { glibcOk, glibcReason } from '../../agent/checks.js';
import { agentBundle, nativeHelpers, nodeArch, shippedRuntime, type PushFile } from './bundle.js';
import { ensureRuntime, hostUser, type HostUser, type RuntimeUse } from './runtime-cache.js';
import { execStream, execText, openSftp, sh, upload } from './ssh.js';
import { V8_FLAGS } from '../../v8-flags.js';

const HELLO_TIMEOUT_MS = 20_000;

export interface SessionOptions {
  role: 'source' | 'sink';
  sudo: boolean;
  log: Logger;
}

/**
 * The glibc version from `getconf GNU_LIBC_VERSION` (`glibc 2.36`) or `ldd --version`'s first
 * line; null for musl; undefined when the output says neither.
 */
export function parseLibc(line: string): string | null | undefined {
  if (/musl/i.test(line)) return null;
  const m = /(?:glibc|GNU libc|GLIBC)[^\d]*(\d+\.\d+)/i.exec(line) ?? /\b(\d+\.\d+)\s*$/.exec(line.trim());
  return m ? m[1]! : undefined;
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
    /** Where the runtime came from this time, and how many bytes of it were uploaded. */
    readonly runtime: RuntimeUse,
  ) {}

  /** Pushes and starts the agent. */
  static async start(client: Client, options: SessionOptions, signal: AbortSignal): Promise<AgentSession> {
    const user = await hostUser(client);
    const arch = await AgentSession.checkPlatform(client);
    if (options.sudo && user.uid !== 0) await AgentSession.checkSudo(client, user);
    const probe = await execText(client, 'mktemp -d /tmp/rehost-agent-XXXXXXXX');
    const dir = probe.stdout.trim();
    if (probe.code !== 0 || !dir.startsWith('/tmp/rehost-agent-')) throw new RehostError('DRIVER', `cannot prepare a folder for the agent: ${probe.stderr.trim() || probe.stdout.trim()}`);
    try {
      const { node, runtime } = await AgentSession.push(client, dir, arch, user, signal);
      const prefix = options.sudo && user.uid !== 0 ? 'sudo -n ' : '';
      const channel = await execStream(client, `${prefix}${sh(node)} ${V8_FLAGS.join(' ')} ${sh(`${dir}/agent.cjs`)} --role ${options.role}`);
      const peer = new WirePeer(channel, channel);
      let stderr = '';
      channel.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
      const timeout = AbortSignal.any([signal, AbortSignal.timeout(HELLO_TIMEOUT_MS)]);
      const frame = await peer.hello(timeout).catch((err: unknown) => {
        channel.close();
        throw new RehostError('DRIVER', `the agent did not start on the host: ${stderr.trim() || String(err)}`, {}, { cause: err });
      });
      // UNAVAILABLE: the agent or its connection went away, which a reconnect (a new agent) may cure.
      channel.on('close', () => peer.fail(new RehostError('UNAVAILABLE', `the agent on the host stopped${stderr.trim() ? `: ${stderr.trim()}` : ''}`)));
      const hello = decodeJson<Hello>(frame.payload);
      options.log.info({ dir, pid: hello.pid, node: hello.node, digest: hello.digest, codecs: hello.codecs, runtime: runtime.state, uploaded: runtime.uploadedBytes }, 'agent started');
      return new AgentSession(client, dir, peer, hello, channel, options.log, runtime);
    } catch (err) {
      await execText(client, `rm -rf ${sh(dir)}`).catch(() => undefined);
      throw err;
    }
  }

  /**
   * The host's architecture and C library, checked before anything is pushed: the shipped
   * runtime needs x86_64 or aarch64 and glibc ≥ 2.28 (the agent's OS_VERSION check says the same
   * once it runs). An unknown glibc version is let through; the agent's start then tells.
   */
  private static async checkPlatform(client: Client): Promise<string> {
    const probe = await execText(client, 'uname -m; getconf GNU_LIBC_VERSION 2>/dev/null || ldd --version 2>&1 | head -n 1');
    const [machine = '', libc = ''] = probe.stdout.trim().split('\n');
    const arch = nodeArch(machine.trim());
    if (arch === null) throw new RehostError('UNPROCESSABLE', `environment check OS_VERSION: ERROR ARCH_UNSUPPORTED, the host's architecture ${machine.trim() || 'unknown'} has no agent runtime (x86_64 and aarch64 only); nothing was pushed`);
    const version = parseLibc(libc);
    if (version !== undefined && shippedRuntime(arch) !== null && !glibcOk(version)) {
      throw new RehostError('UNPROCESSABLE', `environment check OS_VERSION: ERROR GLIBC_TOO_OLD, ${glibcReason(version)}; nothing was pushed`);
    }
    return arch;
  }

  /**
   * `sudo -n` fails at once instead of prompting; asking it first turns a sudo that wants a
   * password (or is not allowed at all) into a clear reason instead of a silent agent.
   */
  private static async checkSudo(client: Client, user: HostUser): Promise<void> {
    const res = await execText(client, 'sudo -n true');
    if (res.code === 0) return;
    const why = res.stderr.trim().split('\n').at(-1) || `exit code ${res.code}`;
    const reason = /password is required/i.test(why)
      ? `sudo for ${user.name} asks for a password; Rehost runs the agent with "sudo -n", so the user needs a NOPASSWD sudoers rule (${why})`
      : `${user.name} cannot run the agent through sudo (${why}); allow passwordless sudo for this user, or log in as root with "sudo": false`;
    throw new RehostError('FORBIDDEN', reason, { field: 'config.sudo' });
  }

  /** Uploads the agent files, checks their sha256 on the host, and returns the node binary to run. */
  private static async push(client: Client, dir: string, arch: string, user: HostUser, signal: AbortSignal): Promise<{ node: string; runtime: RuntimeUse }> {
    const files: PushFile[] = [agentBundle(), ...nativeHelpers(arch)];
    const sftp = await openSftp(client);
    try {
      for (const f of files) {
        signal.throwIfAborted();
        await upload(sftp, f.local, `${dir}/${f.name}`);
      }
      const sums = await execText(client, `cd ${sh(dir)} && sha256sum ${files.map((f) => sh(f.name)).join(' ')}`);
      for (const f of files) {
        if (!sums.stdout.includes(`${f.sha256}  ${f.name}`)) throw new RehostError('DRIVER', `the uploaded ${f.name} does not match its sha256 on the host (${sums.stderr.trim() || 'checksum differs'})`);
      }
      const shipped = shippedRuntime(arch);
      if (shipped) {
        const runtime = await ensureRuntime(client, sftp, shipped, user, signal);
        return { node: runtime.path, runtime };
      }
    } finally {
      sftp.end();
    }
    return { node: await AgentSession.hostNode(client), runtime: { state: 'host', path: null, uploadedBytes: 0 } };
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
  /**
   * Stops the agent and removes its folder; false when the folder could not be removed (the SSH
   * connection it came with is gone), so the caller removes it over the next connection.
   */
  async close(): Promise<boolean> {
    if (this.closed) return true;
    this.closed = true;
    if (this.peer.closed === null) await Promise.race([this.peer.call('exit').catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
    this.channel.close();
    this.peer.fail(new Error('the agent session was closed'));
    const rm = await execText(this.client, `rm -rf ${sh(this.dir)}`).catch((err: unknown) => ({ code: 1, stdout: '', stderr: String(err) }));
    if (rm.code !== 0) this.log.info({ dir: this.dir, err: rm.stderr }, 'the agent folder is removed over the next connection');
    return rm.code === 0;
  }
}
