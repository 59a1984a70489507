#!/usr/bin/env node
// Runs the Playwright end-to-end tests without npm: `node test/e2e/run.mjs [playwright args]`.
// The renderer must be built (dist/renderer, `npm run build` or `npx vite build`); the engine is
// started by the tests themselves. Exits with Playwright's status.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
if (!existsSync(join(root, 'dist/renderer/index.html'))) {
  console.error('e2e: dist/renderer is missing; build the renderer first (npx vite build)');
  process.exit(1);
}
const cli = join(root, 'node_modules/@playwright/test/cli.js');
const result = spawnSync(process.execPath, [cli, 'test', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
