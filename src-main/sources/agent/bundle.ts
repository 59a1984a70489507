/**
 * Finds what is pushed to a host: the agent bundle (`dist/agent/agent.cjs`, built by
 * scripts/build.mjs), the native helpers that match the host's architecture, and the Node
 * runtime for it (`resources/agent/runtime/node-linux-<arch>/bin/node`, fetched by
 * scripts/fetch-agent-runtimes.mjs).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { RehostError } from '../../../src-shared/errors.js';

export interface PushFile {
  /** Name in the remote folder. */
  name: string;
  local: string;
  sha256: string;
}

/** `uname -m` → Node's arch name. */
export function nodeArch(machine: string): string | null {
  if (machine === 'x86_64' || machine === 'amd64') return 'x64';
  if (machine === 'aarch64' || machine === 'arm64') return 'arm64';
  return null;
}

/** Digests by path, size and mtime: the runtime is over 100 MB and is checked on every agent start. */
const digests = new Map<string, string>();

/** sha256 in 4 MiB reads, so hashing the runtime does not hold it all in memory. */
function sha256(path: string): string {
  const st = statSync(path);
  const key = `${path}\0${st.size}\0${st.mtimeMs}`;
  const known = digests.get(key);
  if (known) return known;
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  const digest = hash.digest('hex');
  digests.set(key, digest);
  return digest;
}

function file(name: string, local: string): PushFile {
  return { name, local, sha256: sha256(local) };
}

const here = import.meta.dirname;
/** Repository or install root: src-main/sources/agent (tsx) or dist/main (bundled). */
const roots = [resolve(here, '../../..'), resolve(here, '../..')];

/** The agent bundle; REHOST_AGENT_BUNDLE overrides the search. */
export function agentBundle(): PushFile {
  const candidates = [process.env.REHOST_AGENT_BUNDLE, ...roots.flatMap((r) => [join(r, 'dist/agent/agent.cjs'), join(r, 'resources/agent/agent.cjs')])].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new RehostError('UNAVAILABLE', `the agent bundle is missing (looked in ${candidates.join(', ')}); run npm run build`);
  return file('agent.cjs', found);
}

/**
 * The xxhash and zstd addons, when the engine holds builds for the host's architecture: its own
 * when the host's matches, else the xxhash addon fetched for that architecture into
 * resources/agent/native/ (scripts/fetch-agent-runtimes.mjs; the agent then compresses with its
 * runtime's node:zlib zstd).
 */
export function nativeHelpers(arch: string): PushFile[] {
  if (process.platform !== 'linux' || arch !== process.arch) {
    const fetched = roots.map((r) => join(r, 'resources/agent/native', `linux-${arch}`, 'xxhash.node')).find((p) => existsSync(p));
    return fetched === undefined ? [] : [file('xxhash.node', fetched)];
  }
  const req = createRequire(import.meta.url);
  const out: PushFile[] = [];
  const tryAdd = (name: string, spec: string) => {
    try {
      out.push(file(name, req.resolve(spec)));
    } catch {
      // Not installed for this architecture: the agent falls back to pure JS.
    }
  };
  tryAdd('xxhash.node', `@node-rs/xxhash-linux-${arch}-gnu/xxhash.linux-${arch}-gnu.node`);
  tryAdd('zstd.node', 'zstd-napi/build/Release/binding.node');
  return out;
}

/** The shipped Node runtime for `arch`, or null when it has not been fetched. */
export function shippedRuntime(arch: string): PushFile | null {
  for (const r of roots) {
    const p = join(r, 'resources/agent/runtime', `node-linux-${arch}`, 'bin/node');
    if (existsSync(p)) return file('node', p);
  }
  return null;
}
