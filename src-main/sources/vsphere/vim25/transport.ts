/**
 * HTTPS to one vCenter/ESXi with its certificate pinned by SHA-256 thumbprint. vSphere servers
 * usually have self-signed certificates, so trust comes from the pin, checked on every new
 * connection before a single byte (credentials, cookies) is sent.
 */
import { Agent, request, type RequestOptions } from 'node:https';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { RehostError } from '../../../../src-shared/errors.js';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  signal: AbortSignal;
}

/** "AB:CD:…" (what Node and vSphere print) → "abcd…", for comparison. */
export function normalizeThumbprint(value: string): string {
  return value.replace(/:/g, '').toLowerCase();
}

/** The longest one SOAP call or one range read may take. */
const REQUEST_TIMEOUT_MS = 5 * 60_000;

type ConnectCallback = (err: Error | null, socket?: Duplex) => void;

/** An agent whose sockets are handed to requests only once the peer's thumbprint matched. */
class PinnedAgent extends Agent {
  constructor(private readonly transport: PinnedTransport) {
    super({ keepAlive: true, maxSockets: 8 });
  }

  // Node's Agent accepts a callback form of createConnection: returning undefined makes it wait.
  override createConnection(options: ConnectionOptions, callback: ConnectCallback): undefined {
    const socket: TLSSocket = tlsConnect({ ...options, rejectUnauthorized: false });
    const onError = (err: Error) => callback(err);
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      socket.off('error', onError);
      const failure = this.transport.accept(socket.getPeerCertificate().fingerprint256 ?? '');
      if (failure) {
        socket.destroy();
        callback(failure);
        return;
      }
      callback(null, socket);
    });
    return undefined;
  }
}

export class PinnedTransport {
  private readonly agent = new PinnedAgent(this);
  private observed: string | null = null;
  /** Bytes of response bodies received, by purpose (for the driver's read counters). */
  bytesReceived = 0;

  constructor(
    readonly host: string,
    readonly port: number,
    /** The thumbprint to insist on, or null to trust and pin the first one seen. */
    private expected: string | null,
  ) {}

  /** The server's thumbprint as seen on the first connection ("AB:CD:…"). */
  get thumbprint(): string | null {
    return this.observed;
  }

  /** Checks a new connection's thumbprint; returns the error to fail it with, or null. */
  accept(fingerprint: string): Error | null {
    if (this.expected === null) this.expected = fingerprint;
    if (normalizeThumbprint(fingerprint) !== normalizeThumbprint(this.expected)) {
      return new RehostError(
        'CONFLICT',
        `the TLS certificate of ${this.host}:${this.port} has SHA-256 thumbprint ${fingerprint}, but ${this.expected} is pinned for this source; ` +
          'if the certificate was replaced on purpose, delete and add the source again (or give the new thumbprint in config.thumbprint)',
        { field: 'config.thumbprint' },
      );
    }
    this.observed = fingerprint;
    return null;
  }

  async send(req: HttpRequest): Promise<HttpAnswer> {
    req.signal.throwIfAborted();
    const options: RequestOptions = {
      host: this.host,
      port: this.port,
      method: req.method,
      path: req.path,
      headers: { ...req.headers },
      agent: this.agent,
      servername: /^[\d.]+$|:/.test(this.host) ? undefined : this.host,
      // A server that stops answering fails the call instead of hanging the job.
      signal: AbortSignal.any([req.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
    };
    return new Promise<HttpAnswer>((resolve, reject) => {
      const r = request(options, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => {
          parts.push(d);
          this.bytesReceived += d.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
        res.on('error', reject);
      });
      r.on('error', reject);
      r.end(req.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
