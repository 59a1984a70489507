/**
 * Keyboard only, at 1280×800: sign in, move between screens and reach the main content without a
 * mouse, with a visible focus ring on what has focus.
 */
import { expect, test } from '@playwright/test';
import { ADMIN_PASSWORD, startRehost, type Rehost } from '../harness.js';

let rehost: Rehost;
test.beforeAll(async () => {
  rehost = await startRehost();
});
test.afterAll(async () => {
  await rehost?.stop();
});

/** Presses Tab until `locator` has focus (at most `max` times). */
async function tabTo(page: import('@playwright/test').Page, locator: import('@playwright/test').Locator, max = 40): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await locator.evaluate((el) => el === el.ownerDocument.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`could not reach ${String(locator)} with Tab`);
}

test('sign in and navigate with the keyboard only', async ({ page }) => {
  await page.goto(rehost.url);
  await tabTo(page, page.getByLabel('User name'));
  await page.keyboard.type('admin');
  await page.keyboard.press('Tab');
  await page.keyboard.type(ADMIN_PASSWORD);
  await page.keyboard.press('Enter');
  const jobsLink = page.getByRole('link', { name: 'Jobs' });
  await expect(jobsLink).toBeVisible();
  await tabTo(page, jobsLink);
  const ring = await jobsLink.evaluate((el) => el.ownerDocument.defaultView?.getComputedStyle(el).outlineStyle ?? 'none');
  expect(ring).not.toBe('none');
  await page.keyboard.press('Enter');
  await expect(jobsLink).toHaveAttribute('aria-current', 'page');
  // Nothing is cut off at 1280×800: the page does not scroll sideways.
  const overflow = await page.locator('html').evaluate((el) => el.scrollWidth - el.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
});
