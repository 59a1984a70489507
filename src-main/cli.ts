/**
 * `rehost serve | demo`: the engine without a window. `serve` runs the REST API until SIGINT or
 * SIGTERM; `demo` runs the main job on the embedded default (Image source → Local target).
 */
import { parseArgs } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { DEFAULT_LISTEN, VERSION, defaultDataDir, startServer } from './runtime.js';
import { runDemo } from './demo.js';

const USAGE = `rehost ${VERSION}

Usage:
  rehost serve [--listen HOST:PORT] [--data DIR]
      Run the engine and the REST API (default ${DEFAULT_LISTEN}; data in the OS app-data folder).
      Any address other than loopback is served over TLS with a self-signed certificate.
      REHOST_ADMIN_PASSWORD sets the first admin password; otherwise one is generated and printed once.
  rehost demo [--data DIR] [--target DIR] [--keep]
      Run the whole migration flow on this machine (no vCenter or cloud needed) and verify it.
      --data: the work folder (kept); --target: the Local target's folder (default DATA/target);
      --keep: keep the work folder and leave the migrated machine running. Exits 1 on any failure.
  rehost --version | --help
`;

function rendererDir(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, '..', 'renderer'), join(here, '..', 'dist', 'renderer')]) {
    if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  return undefined;
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { listen: { type: 'string' }, data: { type: 'string' } }, strict: true });
  const dataDir = values.data ?? defaultDataDir();
  const renderer = rendererDir();
  const server = await startServer({ listen: values.listen ?? DEFAULT_LISTEN, dataDir, ...(renderer ? { rendererDir: renderer } : {}) });
  const out = process.stdout;
  // The fingerprint comes first: whoever waits for the "listening on" line has it already.
  if (server.tlsFingerprint) out.write(`TLS certificate SHA-256 fingerprint: ${server.tlsFingerprint}\n`);
  // Printed before the "listening on" line, which is what scripts and tests wait for.
  if (server.generatedPassword) {
    out.write(`First start: the admin password is ${server.generatedPassword}\n`);
    out.write('It is shown only this once and must be changed at first login (PUT /hypermotion/v1/users).\n');
  }
  out.write(`Rehost ${VERSION} listening on ${server.url} (data: ${dataDir}, secrets: ${server.secretsBackend})\n`);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    out.write(`${signal}: stopping (running jobs are checkpointed)\n`);
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      await serve(rest);
      return -1;
    case 'demo': {
      const { values } = parseArgs({ args: rest, options: { data: { type: 'string' }, target: { type: 'string' }, keep: { type: 'boolean' } }, strict: true });
      return runDemo({ ...(values.data ? { dataDir: values.data } : {}), ...(values.target ? { targetDir: resolve(values.target) } : {}), keep: values.keep === true });
    }
    case '--version':
    case '-v':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

const isEntry = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isEntry || process.env.REHOST_CLI_ENTRY === '1') {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err: unknown) => {
      process.stderr.write(`rehost: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
