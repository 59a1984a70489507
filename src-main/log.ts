/**
 * Logging with pino: JSON lines to `<data>/logs/rehost.log` and to stderr. Loggers are named
 * `rehost:<area>:<module>`. Credentials are redacted by key, and tokens are cut out of URLs, so
 * a secret that reaches a log call by mistake is still not written.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger as PinoLogger } from 'pino';

export const REDACT_PATHS = [
  'password', '*.password', '*.*.password', 'os_password', '*.os_password', '*.*.os_password',
  'private_key', '*.private_key', '*.*.private_key', 'passphrase', '*.passphrase', '*.*.passphrase',
  'user_password', '*.user_password', '*.*.user_password', 'admin_pass', '*.admin_pass', '*.*.admin_pass',
  'gateway_password', '*.gateway_password', '*.*.gateway_password', 'gateway_private_key', '*.gateway_private_key', '*.*.gateway_private_key',
  'gateway_passphrase', '*.gateway_passphrase', '*.*.gateway_passphrase',
  'secret', '*.secret', 'token', '*.token', 'req.headers["x-auth-token"]', 'req.headers.authorization', 'req.headers.cookie',
];

export interface LogOptions {
  /** Data folder; the log goes to `<dataDir>/logs/rehost.log`. */
  dataDir: string;
  level?: string;
  /** Also write to stderr (default true). */
  stderr?: boolean;
}

export function createLogger(options: LogOptions): PinoLogger {
  const logDir = join(options.dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const streams: pino.StreamEntry[] = [{ stream: pino.destination({ dest: join(logDir, 'rehost.log'), mkdir: true, sync: false }) }];
  if (options.stderr !== false) streams.push({ stream: pino.destination(2) });
  return pino(
    {
      name: 'rehost',
      level: options.level ?? process.env.REHOST_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: {
        req: (req: { method?: string; url?: string; id?: string }) => ({ id: req.id, method: req.method, url: stripTokens(req.url ?? '') }),
        err: pino.stdSerializers.err,
      },
    },
    pino.multistream(streams),
  );
}

/** `?token=…` (the SSE form of the auth header) never reaches a log line. */
export function stripTokens(url: string): string {
  return url.replace(/([?&](?:token|password)=)[^&]*/gi, '$1[redacted]');
}
