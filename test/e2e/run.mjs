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
// Where the bootable busybox fixture can be built (root, QEMU), the e2e boots it and checks the
// console marker; elsewhere it uses a generated disk and expects the boot to fail cleanly.
const env = { ...process.env };
if (!env.REHOST_E2E_BOOT_IMAGE) {
  const build = spawnSync(
    process.execPath,
    ['--import', 'tsx', '-e', "const m = await import('./test/fixtures/images/busybox.ts'); const why = m.bootFixtureUnavailable(); console.log(why ? `SKIP ${why}` : `IMAGE ${m.buildBusyboxImage(1100, 16)}`);"],
    { cwd: root, encoding: 'utf8' },
  );
  const line = (build.stdout ?? '').trim().split('\n').pop() ?? '';
  if (line.startsWith('IMAGE ')) env.REHOST_E2E_BOOT_IMAGE = line.slice(6);
  else console.log(`e2e: no bootable image (${line.replace(/^SKIP /, '') || build.stderr}); the boot step expects a clean failure`);
}
const cli = join(root, 'node_modules/@playwright/test/cli.js');
const result = spawnSync(process.execPath, [cli, 'test', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit', env });
process.exit(result.status ?? 1);
