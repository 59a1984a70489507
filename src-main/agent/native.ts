/**
 * Optional native helpers the engine uploads beside the agent when they match the host
 * (`xxhash.node` from @node-rs/xxhash, `zstd.node` from zstd-napi). The bundle cannot inline
 * native addons, so they are loaded by path; without them the agent uses the pure-JS xxh64
 * (identical digests, slower) and, when the runtime has it, node:zlib's zstd.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { xxh64Js } from '../replication/xxh64-js.js';

export interface Natives {
  xxh64: (data: Uint8Array) => bigint;
  digest: 'native' | 'js';
  /**
   * Compresses at a fast level, or null when no zstd is available. `into` (at least the bound
   * for `data`'s length) receives the frame when the addon can write into it.
   */
  zstd: ((data: Uint8Array, into?: Buffer) => Buffer) | null;
  unzstd: ((data: Uint8Array, rawLength: number) => Buffer) | null;
}

interface XxhashAddon {
  xxh64(data: Uint8Array): bigint;
}

interface ZstdAddon {
  compress(dst: Uint8Array, src: Uint8Array, level: number): number;
  decompress(dst: Uint8Array, src: Uint8Array): number;
  compressBound(size: number): number;
}

/** zstd level 1: ~500 MB/s per core, enough to keep up with a gigabit link and then some. */
const LEVEL = 1;

function load<T>(path: string): T | null {
  if (!existsSync(path)) return null;
  try {
    const mod = { exports: {} as T };
    process.dlopen(mod, path);
    return mod.exports;
  } catch (err) {
    process.stderr.write(`agent: cannot load ${path}: ${String(err)}\n`);
    return null;
  }
}

type ZlibWithZstd = typeof zlib & {
  zstdCompressSync?: (data: Uint8Array, opts?: unknown) => Buffer;
  zstdDecompressSync?: (data: Uint8Array) => Buffer;
};

function zstdFrom(addon: ZstdAddon | null): Pick<Natives, 'zstd' | 'unzstd'> {
  if (addon) {
    return {
      zstd: (data, into) => {
        const bound = addon.compressBound(data.byteLength);
        const out = into !== undefined && into.length >= bound ? into : Buffer.allocUnsafe(bound);
        return out.subarray(0, addon.compress(out, data, LEVEL));
      },
      unzstd: (data, rawLength) => {
        const out = Buffer.allocUnsafe(rawLength);
        return out.subarray(0, addon.decompress(out, data));
      },
    };
  }
  const z = zlib as ZlibWithZstd;
  if (typeof z.zstdCompressSync === 'function' && typeof z.zstdDecompressSync === 'function') {
    const compress = z.zstdCompressSync;
    const decompress = z.zstdDecompressSync;
    return { zstd: (data) => compress(data), unzstd: (data) => decompress(data) };
  }
  return { zstd: null, unzstd: null };
}

/** Loads what is present in `dir`. */
export function loadNatives(dir: string): Natives {
  const xxhash = load<XxhashAddon>(join(dir, 'xxhash.node'));
  const zstd = zstdFrom(load<ZstdAddon>(join(dir, 'zstd.node')));
  if (xxhash) return { xxh64: (d) => xxhash.xxh64(d), digest: 'native', ...zstd };
  return { xxh64: xxh64Js, digest: 'js', ...zstd };
}
