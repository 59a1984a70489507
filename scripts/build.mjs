// Builds the engine (esbuild: cli, electron main and preload, agent) and the renderer (Vite).
import { build } from 'esbuild';
import { existsSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

rmSync('dist', { recursive: true, force: true });

const common = { bundle: true, platform: 'node', format: 'esm', target: 'node20', sourcemap: true, packages: 'external', logLevel: 'warning' };

await build({ ...common, entryPoints: { cli: 'src-main/cli.ts' }, outdir: 'dist/main' });
if (existsSync('src-main/electron/main.ts')) {
  await build({ ...common, entryPoints: { 'electron-main': 'src-main/electron/main.ts' }, outdir: 'dist/main', external: ['electron'] });
}
if (existsSync('src-main/electron/preload.ts')) {
  // Sandboxed preloads must be CommonJS.
  await build({ ...common, format: 'cjs', entryPoints: { preload: 'src-main/electron/preload.ts' }, outdir: 'dist/main', outExtension: { '.js': '.cjs' }, external: ['electron'] });
}
if (existsSync('src-main/agent/main.ts')) {
  // The agent runs on source hosts with only its Node runtime: bundle every dependency in.
  await build({ ...common, packages: undefined, format: 'cjs', entryPoints: { agent: 'src-main/agent/main.ts' }, outdir: 'dist/agent', outExtension: { '.js': '.cjs' } });
}
if (existsSync('src-renderer/index.html')) {
  const vite = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn'], { stdio: 'inherit' });
  if (vite.status !== 0) process.exit(vite.status ?? 1);
}
console.log('build: dist/ ready');
