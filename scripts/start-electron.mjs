// `npm start`: builds, then runs the Electron shell. Electron's binary is downloaded only where the
// internet is (ELECTRON_SKIP_BINARY_DOWNLOAD=1 here); without it, say so and point to `npm run serve`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let electronPath;
try {
  electronPath = require('electron');
} catch {
  electronPath = undefined;
}
if (typeof electronPath !== 'string' || !existsSync(electronPath)) {
  console.error('Electron\'s binary is not installed here (ELECTRON_SKIP_BINARY_DOWNLOAD). Run `npm run serve` and open http://127.0.0.1:18088/ in a browser, or install Electron where the internet is.');
  process.exit(1);
}
const build = spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const run = spawnSync(electronPath, ['.'], { stdio: 'inherit' });
process.exit(run.status ?? 0);
