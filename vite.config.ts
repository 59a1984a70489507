/**
 * The renderer build: `src-renderer/` → `dist/renderer/` with relative asset URLs, so the engine
 * can serve it at `/` and Electron can load it from the engine's URL. `npm run build` runs it
 * after the engine bundle; `vitest run` uses the `test` block.
 */
import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';

const here = fileURLToPath(new URL('.', import.meta.url));
const engine = process.env.REHOST_DEV_API ?? 'http://127.0.0.1:18088';

export default defineConfig({
  root: 'src-renderer',
  base: './',
  plugins: [svelte({ configFile: fileURLToPath(new URL('./svelte.config.js', import.meta.url)) })],
  build: {
    outDir: '../dist/renderer',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
  server: {
    // `npx vite` during development: the API and the event stream come from a running engine.
    proxy: { '/hypermotion': { target: engine, changeOrigin: true, secure: false } },
  },
  test: {
    dir: here,
    include: ['src-renderer/**/*.test.ts'],
    environment: 'node',
  },
});
