/**
 * Finds what is pushed to a host: the agent bundle (`dist/agent/agent.cjs`, built by
 * scripts/build.mjs), the native helpers that match the host's architecture, and the Node
 * runtime for it (`resources/agent/runtime/node-linux-<arch>/bin/node`, fetched by
 * scripts/fetch-agent-runtimes.mjs).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
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

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
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

/** The xxhash and zstd addons, when the engine holds builds for the host's architecture. */
export function nativeHelpers(arch: string): PushFile[] {
  if (process.platform !== 'linux' || arch !== process.arch) return [];
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
