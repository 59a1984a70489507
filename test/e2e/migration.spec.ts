/**
 * The whole migration in the browser, against a real `rehost serve` on a free loopback port:
 * sign in → an Image source (a generated disk) and a Local target → register → assign → sync
 * with a snapshot (the progress bar reaches 100% through live updates) → test boot when the
 * target can boot → cleanup; then the UI in Chinese, and an API error shown at the field.
 * A screenshot of each step goes to test-results/e2e/.
 *
 * REHOST_E2E_BOOT_IMAGE=/path/to/bootable.raw makes the source a bootable image, and the test
 * then expects the console to show the boot marker; by default the generated disk is not
 * bootable, so the boot check is given 15 s and is expected to fail with a console shown.
 */
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { makeMixedDisk } from '../fixtures/disks.js';
import { ADMIN_PASSWORD, ROOT, startRehost, tempDir, type Rehost } from '../harness.js';

const SHOTS = join(ROOT, 'test-results', 'e2e');
const BOOT_IMAGE = process.env.REHOST_E2E_BOOT_IMAGE;
const HOST = 'e2e-web';

let rehost: Rehost;
let work: string;

test.beforeAll(async () => {
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  work = tempDir('e2e');
  mkdirSync(join(work, 'images'));
  mkdirSync(join(work, 'target'));
  if (BOOT_IMAGE) copyFileSync(BOOT_IMAGE, join(work, 'images', `${HOST}.raw`));
  else makeMixedDisk(join(work, 'images', `${HOST}.raw`), 96);
  rehost = await startRehost();
});

test.afterAll(async () => {
  await rehost?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

test('a host goes from an image source to the local target and back, in English and Chinese', async ({ page }) => {
  const hostsTable = page.getByRole('table', { name: 'Hosts in this step' });

  await test.step('sign in', async () => {
    await page.goto(rehost.url);
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
    await shot(page, '01-sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('link', { name: 'Sources' })).toBeVisible();
  });

  await test.step('an API error is shown at the field it is about', async () => {
    await page.getByRole('link', { name: 'Sources' }).click();
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Add a source' }) });
    await form.getByLabel('Name').fill('bad');
    await form.getByLabel('Path').fill('relative/images');
    await form.getByRole('button', { name: 'Add source' }).click();
    const pathField = form.locator('.field', { has: page.getByLabel('Path') });
    await expect(pathField.getByRole('alert')).toContainText(/path/i);
    await shot(page, '02-inline-error');
  });

  await test.step('add an Image source', async () => {
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Add a source' }) });
    await form.getByLabel('Name').fill('usb');
    await form.getByLabel('Path').fill(join(work, 'images'));
    await form.getByRole('button', { name: 'Add source' }).click();
    await expect(form.getByRole('status')).toContainText('usb');
    await expect(page.getByRole('table', { name: 'Source list' }).getByRole('row', { name: /usb/ })).toContainText('Connected');
    await shot(page, '03-source-added');
  });

  await test.step('add a Local target', async () => {
    await page.getByRole('link', { name: 'Targets' }).click();
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Add a target' }) });
    await form.getByLabel('Name').fill('here');
    await form.getByLabel('Folder').fill(join(work, 'target'));
    await form.getByRole('button', { name: 'Add target' }).click();
    await expect(page.getByRole('table', { name: 'Target list' }).getByRole('row', { name: /here/ })).toContainText(/Active|Available/i);
    await shot(page, '04-target-added');
  });

  await test.step('register the machine from the source', async () => {
    await page.getByRole('link', { name: 'Hosts' }).click();
    await page.getByRole('button', { name: 'Add hosts from a source' }).click();
    await page.getByLabel('Source', { exact: true }).selectOption({ label: 'usb (Disk images)' });
    const machines = page.getByRole('table', { name: 'Machines of the source' });
    await machines.getByRole('checkbox', { name: `Select ${HOST}` }).check();
    await shot(page, '05-pick-machine');
    await page.getByRole('button', { name: 'Register 1 host(s)' }).click();
    await expect(hostsTable.getByRole('row', { name: new RegExp(HOST) })).toContainText('Registered');
  });

  await test.step('assign it to the local target', async () => {
    await hostsTable.getByRole('checkbox', { name: `Select ${HOST}` }).check();
    await shot(page, '06-assign');
    await page.getByRole('button', { name: 'Assign 1 host(s)' }).click();
    await expect(page.getByText('No registered hosts.')).toBeVisible();
  });

  await test.step('sync with a snapshot and watch the progress reach 100%', async () => {
    await page.getByRole('tab', { name: '2 · Sync data' }).click();
    await hostsTable.getByRole('checkbox', { name: `Select ${HOST}` }).check();
    await expect(page.getByLabel('Take a snapshot when done')).toBeChecked();
    await page.getByRole('button', { name: 'Sync 1 host(s)' }).click();
    const bar = page.getByRole('progressbar', { name: `Sync progress of ${HOST}` });
    await expect(bar).toHaveAttribute('aria-valuenow', '100', { timeout: 60_000 });
    await expect(hostsTable.getByRole('row', { name: new RegExp(HOST) })).toContainText('Snapshot taken', { timeout: 60_000 });
    await shot(page, '07-synced');
    const next = hostsTable.getByRole('button', { name: 'Next step' });
    await expect(next).toBeEnabled();
    await next.click();
    await expect(page.getByText('No hosts in the sync step.')).toBeVisible();
  });

  await test.step('test boot, when the target can boot', async () => {
    await page.getByRole('tab', { name: '3 · Boot' }).click();
    await hostsTable.getByRole('button', { name: 'Boot…' }).click();
    const form = page.locator('form', { has: page.getByRole('heading', { name: `Boot ${HOST}` }) });
    await expect(form.getByLabel('Snapshot')).not.toHaveValue('');
    if (!BOOT_IMAGE) await form.getByLabel('Boot check time limit (s)').fill('15');
    await shot(page, '08-boot-form');
    await form.getByRole('button', { name: 'Start test boot' }).click();
    const outcome = await Promise.race([
      form.getByRole('status').waitFor().then(() => 'started' as const),
      form.getByRole('alert').first().waitFor().then(() => 'refused' as const),
    ]);
    if (outcome === 'refused') {
      const why = await form.getByRole('alert').first().innerText();
      // Only "this target cannot boot" is a reason to skip; any other refusal is a failure.
      expect(why).toMatch(/cannot boot/);
      test.info().annotations.push({ type: 'skipped-step', description: `test boot skipped: the target cannot boot in this build (${why.replace(/\s+/g, ' ')})` });
      console.log(`e2e: test boot skipped, the target refused it: ${why.replace(/\s+/g, ' ')}`);
      await shot(page, '09-boot-refused');
      await form.getByRole('button', { name: 'Close' }).click();
      return;
    }
    // The console exists while the machine runs (the engine drops it when a boot fails).
    await hostsTable.getByRole('button', { name: HOST }).click();
    const consoleView = page.getByTestId('boot-console');
    const status = page.locator('.status');
    if (BOOT_IMAGE) {
      await expect(consoleView).toContainText('MIGRATION-BOOT-OK', { timeout: 120_000 });
      await expect(status).toContainText('Booted');
    } else {
      const seen = await consoleView.waitFor({ timeout: 10_000 }).then(
        () => true,
        () => false,
      );
      if (seen) await shot(page, '09-boot-console');
      await expect(status).toContainText(/Booted|Boot failed/, { timeout: 60_000 });
      console.log(`e2e: test boot of a non-bootable disk ended; console ${seen ? 'was shown while it ran' : 'was not caught before the boot failed'}`);
    }
    await shot(page, BOOT_IMAGE ? '09-boot-console' : '09-boot-ended');
    await page.getByRole('button', { name: 'Snapshots' }).click();
    await expect(page.getByRole('heading', { name: 'Sync schedule' })).toBeVisible();
    await shot(page, '09-snapshot-sheet');
    await page.getByRole('button', { name: 'Back to the list' }).click();
  });

  await test.step('clean up', async () => {
    const row = hostsTable.getByRole('row', { name: new RegExp(HOST) });
    await row.getByRole('button', { name: 'Clean up', exact: true }).click();
    await row.getByRole('button', { name: `Clean up ${HOST}` }).click();
    await expect(page.getByText('No hosts ready to boot.')).toBeVisible({ timeout: 60_000 });
    await shot(page, '10-cleaned');
  });

  await test.step('switch to Chinese', async () => {
    await page.getByLabel('Language').selectOption('zh-CN');
    await expect(page.getByRole('link', { name: '主机' })).toBeVisible();
    await expect(page.getByRole('heading', { name: '主机' })).toBeVisible();
    await page.getByRole('link', { name: '源端' }).click();
    await expect(page.getByRole('heading', { name: '添加源端' })).toBeVisible();
    await shot(page, '11-chinese');
  });

  await test.step('dark theme follows the system', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.getByRole('link', { name: '目标端' }).click();
    await page.getByRole('table').getByRole('button', { name: 'here' }).click();
    await expect(page.getByRole('heading', { name: '存储池' })).toBeVisible();
    await shot(page, '12-dark-target-detail');
  });
});
