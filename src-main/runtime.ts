/**
 * Builds a running engine and its HTTP listener from a data folder: the wiring shared by the
 * headless CLI and the Electron main process (each remains its own composition root).
 */
import { mkdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { createHash, X509Certificate } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import Fastify, { LogController } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { generate } from 'selfsigned';
import type { Logger as PinoLogger } from 'pino';
import { createEngine, type Engine } from './core/engine.js';
import type { Logger } from './core/ports.js';
import { openStore } from './store/index.js';
import { openSecretStore } from './secrets/index.js';
import { createPasswordHasher } from './secrets/password.js';
import { createReplicator } from './replication/index.js';
import { createDriverRegistry } from './drivers.js';
import { apiPlugin } from './api/index.js';
import { createLogger } from './log.js';

export const VERSION = '0.1.0';
export const DEFAULT_LISTEN = '127.0.0.1:18088';

/** The OS's per-user application data folder. */
export function defaultDataDir(): string {
  if (process.env.REHOST_DATA_DIR) return process.env.REHOST_DATA_DIR;
  if (process.platform === 'win32') return join(process.env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'Rehost');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Rehost');
  return join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'rehost');
}

export function parseListen(value: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value);
  if (!m) throw new Error(`--listen must be HOST:PORT (got "${value}")`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`--listen port must be at most 65535 (got ${port})`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Only the default loopback addresses go without TLS; anything else (even 127.0.0.2) is served over TLS. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '127.0.0.1';
}

export interface RunningServer {
  engine: Engine;
  url: string;
  port: number;
  tlsFingerprint: string | null;
  generatedPassword: string | null;
  secretsBackend: string;
  log: PinoLogger;
  close(): Promise<void>;
}

export interface ServerOptions {
  listen: string;
  dataDir: string;
  adminPassword?: string;
  rendererDir?: string;
  log?: PinoLogger;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { host, port } = parseListen(options.listen);
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const log = options.log ?? createLogger({ dataDir: options.dataDir });
  const engineLog = log as unknown as Logger;
  const store = await openStore(join(options.dataDir, 'rehost.db'));
  const secrets = await openSecretStore({ dataDir: options.dataDir, log: engineLog.child({ name: 'rehost:secrets' }) });
  const engine = createEngine({
    store,
    secrets,
    hasher: createPasswordHasher(),
    registry: createDriverRegistry(),
    replicator: createReplicator({ stateDir: join(options.dataDir, 'replication'), log: engineLog.child({ name: 'rehost:replication' }) }),
    log: engineLog.child({ name: 'rehost:core' }),
    workDir: (kind, id) => join(options.dataDir, 'work', kind, id),
  });
  await engine.start();
  const admin = await engine.auth.ensureAdmin(options.adminPassword ?? process.env.REHOST_ADMIN_PASSWORD ?? undefined);

  const tls = isLoopback(host) ? null : await loadOrCreateTls(options.dataDir, host);
  const app = Fastify({
    loggerInstance: log.child({ name: 'rehost:api' }),
    bodyLimit: 1024 * 1024,
    logController: new LogController({ disableRequestLogging: process.env.REHOST_LOG_REQUESTS !== '1' }),
    ...(tls ? { https: { key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2' as const } } : {}),
  }).withTypeProvider<TypeBoxTypeProvider>();
  await app.register(apiPlugin, { engine, version: VERSION, ...(options.rendererDir ? { rendererDir: options.rendererDir } : {}) });
  await app.listen({ host, port });
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const scheme = tls ? 'https' : 'http';
  return {
    engine,
    url: `${scheme}://${host.includes(':') ? `[${host}]` : host}:${boundPort}`,
    port: boundPort,
    tlsFingerprint: tls?.fingerprint ?? null,
    generatedPassword: admin.generated,
    secretsBackend: secrets.backend,
    log,
    close: async () => {
      await app.close();
      await engine.close();
      log.flush();
    },
  };
}

/** A self-signed certificate generated once into the data folder; its SHA-256 fingerprint is printed for pinning. */
async function loadOrCreateTls(dataDir: string, host: string): Promise<{ key: string; cert: string; fingerprint: string }> {
  const dir = join(dataDir, 'tls');
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  if (!existsSync(keyFile) || !existsSync(certFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const isIp = /^[\d.]+$|:/.test(host);
    const pems = await generate([{ name: 'commonName', value: 'Rehost' }], {
      keySize: 2048,
      days: 3650,
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [isIp ? { type: 7, ip: host } : { type: 2, value: host }, { type: 2, value: 'localhost' }] }],
    } as Parameters<typeof generate>[1]);
    writeFileSync(keyFile, pems.private, { mode: 0o600 });
    writeFileSync(certFile, pems.cert, { mode: 0o644 });
  }
  const key = readFileSync(keyFile, 'utf8');
  const cert = readFileSync(certFile, 'utf8');
  const der = new X509Certificate(cert).raw;
  const fingerprint = createHash('sha256').update(der).digest('hex').toUpperCase().match(/.{2}/g)!.join(':');
  return { key, cert, fingerprint };
}
