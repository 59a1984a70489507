/**
 * The SSH session to a KVM host (ssh2): one connection, opened on first use and again after a
 * drop; password or private key; the host key pinned as `SHA256:<base64>` when configured.
 */
import { createHash } from 'node:crypto';
import { Client, type ClientChannel, type SFTPWrapper } from 'ssh2';
import { RehostError } from '../../../src-shared/errors.js';

export interface KvmConnection {
  address: string;
  port: number;
  username: string;
  hostKey: string | null;
  secret: Record<string, string>;
}

/** Quotes one word for a POSIX shell. */
export function sh(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export class KvmSsh {
  private connecting: Promise<Client> | null = null;
  private sftpSession: Promise<SFTPWrapper> | null = null;

  constructor(private readonly conn: KvmConnection) {}

  get where(): string {
    return `${this.conn.username}@${this.conn.address}:${this.conn.port}`;
  }

  /**
   * Runs a shell command; a non-zero exit is an error naming the command's stderr. `input` goes
   * to its stdin (secrets travel there, never on a command line).
   */
  async exec(command: string, signal?: AbortSignal, input?: string): Promise<string> {
    signal?.throwIfAborted();
    const client = await this.client();
    return new Promise((resolve, reject) => {
      client.exec(command, (err, stream) => {
        if (err) return reject(new RehostError('DRIVER', `${this.where}: cannot run a command: ${err.message}`, {}, { cause: err }));
        stream.end(input);
        let stdout = '';
        let stderr = '';
        const onAbort = () => stream.close();
        signal?.addEventListener('abort', onAbort, { once: true });
        stream.on('data', (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        stream.on('close', (code: number | null) => {
          signal?.removeEventListener('abort', onAbort);
          if (signal?.aborted) return reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
          if (code === 0) return resolve(stdout);
          reject(new RehostError('DRIVER', `${this.where}: \`${command.slice(0, 120)}\` failed (${code}): ${stderr.trim().slice(-500) || stdout.trim().slice(-500)}`));
        });
      });
    });
  }

  async sftp(): Promise<SFTPWrapper> {
    const client = await this.client();
    this.sftpSession ??= new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
    return this.sftpSession;
  }

  async close(): Promise<void> {
    const pending = this.connecting;
    this.connecting = null;
    this.sftpSession = null;
    if (pending) (await pending.catch(() => null))?.end();
  }

  /** The KVM host's address as this connection reached it (an IP, even when configured by name). */
  async remoteAddress(): Promise<string> {
    const client = await this.client();
    const sock = (client as unknown as { _sock?: { remoteAddress?: string } })._sock;
    return sock?.remoteAddress ?? this.conn.address;
  }

  /**
   * A stream to the unix socket `remotePath` on the host (OpenSSH stream-local forwarding).
   * Refused with `FORWARD_REFUSED` in the message when the server forbids forwarding.
   */
  async forwardUnix(remotePath: string): Promise<ClientChannel> {
    const client = await this.client();
    return new Promise((resolve, reject) =>
      client.openssh_forwardOutStreamLocal(remotePath, (err, channel) => {
        if (!err) return resolve(channel);
        // RFC 4254: 1 = administratively prohibited (AllowStreamLocalForwarding no), 2 = connect failed.
        const prohibited = (err as Error & { reason?: number }).reason === 1;
        reject(new RehostError('DRIVER', `${this.where}: ${prohibited ? 'FORWARD_REFUSED: the SSH server forbids stream-local forwarding' : `cannot reach ${remotePath}`} (${err.message})`, {}, { cause: err }));
      }),
    );
  }

  /** The live connection, for protocols beyond exec and SFTP (the agent's wire protocol). */
  connection(): Promise<Client> {
    return this.client();
  }

  private client(): Promise<Client> {
    this.connecting ??= this.connect().catch((err: unknown) => {
      this.connecting = null;
      throw err;
    });
    return this.connecting;
  }

  private connect(): Promise<Client> {
    const { address, port, username, hostKey, secret } = this.conn;
    const client = new Client();
    let mismatch: string | null = null;
    return new Promise((resolve, reject) => {
      client.once('ready', () => {
        client.on('error', () => undefined);
        client.once('close', () => {
          this.connecting = null;
          this.sftpSession = null;
        });
        resolve(client);
      });
      client.once('error', (err: Error & { level?: string }) => {
        client.end();
        if (mismatch !== null) return reject(new RehostError('CONFLICT', mismatch, { field: 'config.host_key' }));
        if (err.level === 'client-authentication') return reject(new RehostError('UNAUTHORIZED', `SSH login to ${this.where} was refused: wrong password or key`, { field: 'config.password' }));
        reject(new RehostError('UNAVAILABLE', `cannot reach the KVM host ${this.where}: ${err.message}`, { field: 'config.address' }, { cause: err }));
      });
      client.connect({
        host: address,
        port,
        username,
        ...(secret.password ? { password: secret.password } : {}),
        ...(secret.private_key ? { privateKey: secret.private_key } : {}),
        ...(secret.passphrase ? { passphrase: secret.passphrase } : {}),
        readyTimeout: 20_000,
        keepaliveInterval: 10_000,
        hostVerifier: (key: Buffer) => {
          const seen = `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
          if (hostKey !== null && hostKey !== seen) {
            mismatch = `the SSH host key of ${address}:${port} is ${seen}, not the pinned ${hostKey}; refusing to connect`;
            return false;
          }
          return true;
        },
      });
    });
  }
}
