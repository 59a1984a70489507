/**
 * Playwright end-to-end tests of the renderer against a real `rehost serve` (test/e2e). The
 * browser is Debian's Chromium (Playwright's own builds cannot be downloaded here); each run
 * gets a fresh temporary profile from Playwright. Run: `node test/e2e/run.mjs`.
 */
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'test/e2e',
  outputDir: 'test-results/e2e-output',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 150_000,
  expect: { timeout: 20_000 },
  reporter: [['list']],
  use: {
    viewport: { width: 1280, height: 800 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.REHOST_CHROMIUM ?? '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // No --user-data-dir: Playwright refuses it for launch() and already gives every launch
        // a fresh temporary profile directory.
      ],
    },
  },
});
