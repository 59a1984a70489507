/**
 * The direct transport: one TLS 1.3 connection between the two ends of a replication job, each
 * end holding a key pair and self-signed certificate minted for this job by the engine, and each
 * pinning the other's certificate by its SHA-256 fingerprint. Either end may listen; the other
 * dials. Shared by the engine and the agent (node:tls only, so it bundles into the agent).
 */
import { X509Certificate } from 'node:crypto';
import { createServer, connect, type TLSSocket, type Server, type ConnectionOptions, type TlsOptions } from 'node:tls';

/** A key pair and its certificate, PEM. */
export interface TlsIdentity {
  key: string;
  cert: string;
}

/** The far end as this end pins it: its certificate and that certificate's SHA-256 fingerprint. */
export interface PinnedPeer {
  cert: string;
  /** `AA:BB:…` (node's `fingerprint256` form). */
  fingerprint: string;
}

/**
 * The `direct` Call's arguments (engine → agent over the SSH control channel). `dial`: connect to
 * `host:port`; `listen`: bind `host` (port 0 = any free one) and answer with the port.
 */
export interface DirectOp {
  mode: 'dial' | 'listen';
  host: string;
  port: number;
  identity: TlsIdentity;
  peer: PinnedPeer;
  /** How long to wait for the connection before giving up. */
  timeoutMs: number;
  /**
   * The far end is a source agent sending chunks (transport direct to a sink agent): it may only
   * write to these disk handles; nothing else is served on the connection.
   */
  writes?: number[];
}

/** A direct connection could not be made or was refused (wrong pin, unreachable, timeout). */
export class DirectError extends Error {}

/** The SHA-256 fingerprint of a PEM certificate, as node's `fingerprint256` spells it. */
export function certFingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** TLS 1.3 only; AES-128-GCM first (AES-NI on both ends, the cipher the SSH baseline uses too). */
const TLS13 = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256' } as const;
/** The one byte a listener sends once it accepted the dialer's certificate. */
const ACCEPTED = 0x06;

/** Why a presented certificate is not the pinned one, or null when it is. */
function pinMismatch(presented: string | undefined, peer: PinnedPeer): string | null {
  if (presented === peer.fingerprint) return null;
  return `the peer presented certificate ${presented ?? '(none)'} but ${peer.fingerprint} is pinned for this job`;
}

/** Bytes per socket read on the dialing end: several TLS records per callback. */
const READ_BUFFER = 256 * 1024;

/**
 * A dialed connection. Its bytes are read into one reused buffer (the socket's `onread`), not a
 * fresh buffer per TLS record: at hundreds of MB/s those allocations cost the receiver many full
 * garbage collections. `attach` hands them on; they are only valid during the call.
 */
export interface DialedConnection {
  socket: TLSSocket;
  /** Starts delivering received bytes (`transient`: reused after the call returns). */
  attach(receive: (chunk: Buffer, transient: boolean) => void): void;
}

/** The dialing end's TLS options: pinned server certificate, this end's identity, a reused read buffer. */
function clientOptions(op: Pick<DirectOp, 'host' | 'port' | 'identity' | 'peer'>, onBytes: (chunk: Buffer) => void): ConnectionOptions {
  const options: ConnectionOptions & { onread: { buffer: Buffer; callback: (n: number, buf: Buffer) => boolean } } = {
    host: op.host,
    port: op.port,
    ...TLS13,
    key: op.identity.key,
    cert: op.identity.cert,
    ca: [op.peer.cert],
    rejectUnauthorized: true,
    // The pinned certificate names no host: identity is its fingerprint, not a DNS name.
    checkServerIdentity: (_host, cert) => {
      const why = pinMismatch(cert.fingerprint256, op.peer);
      return why === null ? undefined : new DirectError(why);
    },
    onread: {
      buffer: Buffer.allocUnsafe(READ_BUFFER),
      callback: (n, buf) => {
        onBytes(buf.subarray(0, n));
        return true;
      },
    },
  };
  return options;
}

/**
 * Dials `host:port` and completes a pinned TLS 1.3 handshake: the server's certificate must be
 * the pinned one (chain check against it as the only trust anchor, then its fingerprint), and the
 * listener must accept this end's certificate (its acceptance byte).
 */
export function dialDirect(op: Pick<DirectOp, 'host' | 'port' | 'identity' | 'peer' | 'timeoutMs'>, signal?: AbortSignal): Promise<DialedConnection> {
  const where = `${op.host}:${op.port}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    let accepted = false;
    let receiver: ((chunk: Buffer, transient: boolean) => void) | null = null;
    const early: Buffer[] = [];
    const onBytes = (chunk: Buffer) => {
      if (!accepted) {
        accepted = true;
        if (chunk[0] !== ACCEPTED) return finish(new DirectError(`TLS connection to ${where}: unexpected greeting`));
        chunk = chunk.subarray(1);
        finish(null);
      }
      if (chunk.length === 0) return;
      if (receiver) receiver(chunk, true);
      else early.push(Buffer.from(chunk));
    };
    const socket = connect(clientOptions(op, onBytes));
    const connection: DialedConnection = {
      socket,
      attach: (receive) => {
        receiver = receive;
        for (const b of early.splice(0)) receive(b, false);
      },
    };
    function finish(err: Error | null): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve(connection);
    }
    const onAbort = () => finish(signal?.reason instanceof Error ? signal.reason : new DirectError('aborted'));
    const timer = setTimeout(() => finish(new DirectError(`no TLS connection to ${where} within ${Math.round(op.timeoutMs / 1000)} s`)), op.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('secureConnect', () => {
      const why = pinMismatch(socket.getPeerCertificate().fingerprint256, op.peer);
      // TLS 1.3 completes the client's handshake before the server has checked the client's
      // certificate: the listener's acceptance byte (see onBytes) says this end was accepted too.
      if (why !== null) finish(new DirectError(`refused the TLS connection to ${where}: ${why}`));
    });
    socket.once('close', () => finish(new DirectError(`TLS connection to ${where} was closed by the peer during the handshake: the peer refused this end's certificate or already holds a connection for this job`)));
    socket.once('error', (err: Error & { code?: string }) => finish(new DirectError(`TLS connection to ${where} failed: ${describeTlsError(err)}`)));
  });
}

/** OpenSSL's reasons in the words of this protocol. */
function describeTlsError(err: Error & { code?: string }): string {
  const code = err.code ?? '';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code) || err instanceof DirectError) {
    return `the peer's certificate is not the one pinned for this job (${err.message})`;
  }
  if (/alert/i.test(err.message) && /certificate|decrypt|unknown ca/i.test(err.message)) {
    return `the peer refused this end's certificate (${err.message})`;
  }
  return code ? `${code}: ${err.message}` : err.message;
}

/** A listening end of the direct transport, accepting exactly one pinned peer. */
export class DirectListener {
  private accepted: TLSSocket | null = null;
  private waiter: { resolve: (s: TLSSocket) => void; reject: (e: Error) => void } | null = null;
  /** Why the last refused connection was refused, for the timeout message. */
  private lastRefusal: string | null = null;

  private constructor(
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
    private readonly peer: PinnedPeer,
  ) {
    server.on('secureConnection', (socket: TLSSocket) => this.onSecure(socket));
    server.on('tlsClientError', (err: Error & { code?: string }) => {
      this.lastRefusal = `a TLS connection attempt failed: ${describeTlsError(err)}`;
    });
  }

  /** Binds `host:port` (0 = a free port) with this end's identity, pinning `peer`. */
  static open(host: string, port: number, identity: TlsIdentity, peer: PinnedPeer): Promise<DirectListener> {
    // The client certificate is checked against the pinned one (as the only trust anchor) and by
    // fingerprint in onSecure, where a refusal can be told apart from a network failure.
    const options: TlsOptions = { ...TLS13, key: identity.key, cert: identity.cert, ca: [peer.cert], requestCert: true, rejectUnauthorized: false };
    const server = createServer(options);
    return new Promise((resolve, reject) => {
      server.once('error', (err: Error & { code?: string }) => reject(new DirectError(`cannot listen on ${host}:${port} for the direct transport: ${err.code ?? err.message}`)));
      server.listen(port, host, () => {
        const address = server.address();
        const bound = typeof address === 'object' && address !== null ? address.port : port;
        server.removeAllListeners('error');
        server.on('error', () => undefined);
        resolve(new DirectListener(server, host, bound, peer));
      });
    });
  }

  private onSecure(socket: TLSSocket): void {
    const from = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const chain = socket.authorized ? null : `its certificate does not verify against the pinned one (${String(socket.authorizationError)})`;
    const why = chain ?? pinMismatch(socket.getPeerCertificate().fingerprint256, this.peer);
    if (why !== null || this.accepted !== null) {
      this.lastRefusal = `refused the connection from ${from}: ${why ?? 'a second connection (one peer per job)'}`;
      socket.destroy();
      return;
    }
    socket.write(Buffer.from([ACCEPTED]));
    this.accepted = socket;
    // One peer per job: nobody else is let in.
    this.server.close();
    this.waiter?.resolve(socket);
  }

  /** The pinned peer's connection; fails after `timeoutMs` naming the last refused attempt. */
  accept(timeoutMs: number, signal?: AbortSignal): Promise<TLSSocket> {
    if (this.accepted) return Promise.resolve(this.accepted);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiter = null;
      };
      const onAbort = () => {
        done();
        reject(signal?.reason instanceof Error ? signal.reason : new DirectError('aborted'));
      };
      const timer = setTimeout(() => {
        done();
        const why = this.lastRefusal ? `; ${this.lastRefusal}` : '';
        reject(new DirectError(`no pinned peer connected to ${this.host}:${this.port} within ${Math.round(timeoutMs / 1000)} s${why}`));
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiter = {
        resolve: (s) => {
          done();
          resolve(s);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
    });
  }

  /** Stops listening (an accepted connection stays open). */
  close(): void {
    this.server.close();
    this.waiter?.reject(new DirectError('the direct listener was closed'));
  }
}
