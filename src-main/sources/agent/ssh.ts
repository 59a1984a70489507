/**
 * The SSH connection to a source host (ssh2): password or private key, the host key pinned as
 * `SHA256:<base64>` (OpenSSH's fingerprint form), remote commands and SFTP uploads.
 */
import { createHash } from 'node:crypto';
import { Client, type ClientChannel, type SFTPWrapper } from 'ssh2';
import { RehostError } from '../../../src-shared/errors.js';
import type { AgentConfig, AgentSecret } from './config.js';

const READY_TIMEOUT_MS = 20_000;

/** OpenSSH's fingerprint of a raw public key blob. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

export interface SshConnection {
  client: Client;
  /** The server's host key fingerprint. */
  identity: string;
}

/** What an SSH connection needs of a config: the Agent source's, or a gateway's. */
export type SshTarget = Pick<AgentConfig, 'address' | 'port' | 'username'>;

function describe(config: SshTarget): string {
  return `${config.username}@${config.address}:${config.port}`;
}

/** Maps ssh2's errors onto clear, retryable reasons. */
function connectError(config: SshTarget, err: Error & { level?: string; code?: string }, mismatch: string | null): RehostError {
  const where = describe(config);
  if (mismatch !== null) return new RehostError('CONFLICT', mismatch, { field: 'config.host_key' });
  if (err.level === 'client-authentication') return new RehostError('UNAUTHORIZED', `SSH login to ${where} was refused: wrong password or key`, { field: 'config.password' }, { cause: err });
  if (err.level === 'client-timeout' || err.code === 'ETIMEDOUT') {
    return new RehostError('UNAVAILABLE', `cannot reach ${where}: no answer within ${READY_TIMEOUT_MS / 1000} s (the host is down, or a firewall drops the connection)`, { field: 'config.address' }, { cause: err });
  }
  // A socket that failed or closed before the handshake (a host booting, sshd restarting): worth a reconnect.
  const socket = err.level === 'client-socket' || /^Connection lost before handshake/.test(err.message);
  if (socket || err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') {
    return new RehostError('UNAVAILABLE', `cannot reach ${where}: ${err.code ?? err.message}`, { field: 'config.address' }, { cause: err });
  }
  return new RehostError('DRIVER', `SSH connection to ${where} failed: ${err.message}`, {}, { cause: err });
}

/** Connects; a `pinned` fingerprint that differs from the server's refuses the connection. */
export function connectSsh(config: SshTarget, secret: AgentSecret, pinned: string | null, signal: AbortSignal): Promise<SshConnection> {
  signal.throwIfAborted();
  const client = new Client();
  let identity = '';
  let mismatch: string | null = null;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      client.end();
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    client.once('ready', () => {
      signal.removeEventListener('abort', onAbort);
      client.on('error', () => undefined);
      resolve({ client, identity });
    });
    client.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      client.end();
      reject(connectError(config, err, mismatch));
    });
    try {
      connect(client, config, secret, (key) => {
        identity = fingerprint(key);
        if (pinned !== null && pinned !== identity) {
          mismatch = hostKeyChanged(config, pinned, identity);
          return false;
        }
        return true;
      });
    } catch (err) {
      // ssh2 parses the private key before connecting: a wrong or missing passphrase ends here.
      signal.removeEventListener('abort', onAbort);
      reject(keyError(err));
    }
  });
}

/** A private key ssh2 could not read, named without its content. */
function keyError(err: unknown): RehostError {
  const why = err instanceof Error ? err.message : String(err);
  if (/passphrase/i.test(why)) return new RehostError('UNAUTHORIZED', `config.private_key is encrypted and config.passphrase is ${/no passphrase/i.test(why) ? 'missing' : 'wrong'} (${why})`, { field: 'config.passphrase' });
  return new RehostError('VALIDATION', `config.private_key cannot be read: ${why}`, { field: 'config.private_key' });
}

function connect(client: Client, config: SshTarget, secret: AgentSecret, verify: (key: Buffer) => boolean): void {
  client.connect({
    host: config.address,
    port: config.port,
    username: config.username,
    ...(secret.password !== undefined ? { password: secret.password } : {}),
    ...(secret.privateKey !== undefined ? { privateKey: secret.privateKey } : {}),
    ...(secret.passphrase !== undefined ? { passphrase: secret.passphrase } : {}),
    // Covers the TCP connect too: a host that drops packets fails here, in bounded time.
    readyTimeout: READY_TIMEOUT_MS,
    keepaliveInterval: 5000,
    keepaliveCountMax: 3,
    hostVerifier: verify,
  });
}

/** The refusal of a changed host key: both fingerprints, and how to accept the new one. */
export function hostKeyChanged(config: SshTarget, pinned: string, presented: string): string {
  return `the SSH host key of ${config.address}:${config.port} changed: pinned ${pinned}, the server presented ${presented}. Refusing to connect. If the host was reinstalled or re-keyed, accept the new key with PUT /hypermotion/v1/sources/<id> {"config":{"host_key":"${presented}"}}`;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command and collects its output. */
export function execText(client: Client, command: string, input?: Buffer): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, stream) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      stream.on('data', (d: Buffer) => (stdout += d.toString()));
      stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      stream.on('close', (code: number | null) => resolve({ code, stdout, stderr }));
      if (input) stream.end(input);
      else stream.end();
    });
  });
}

/** Starts a long-running command whose stdin/stdout carry a protocol. */
export function execStream(client: Client, command: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, stream) => (err ? reject(err) : resolve(stream)));
  });
}

export function openSftp(client: Client): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp))));
}

export function upload(sftp: SFTPWrapper, local: string, remote: string, mode = 0o700): Promise<void> {
  return new Promise((resolve, reject) => sftp.fastPut(local, remote, { mode }, (err) => (err ? reject(err) : resolve())));
}

/** Quotes a string for a POSIX shell. */
export function sh(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}
