// What the dashboard shows, in Debian's Chromium (headless, playwright-core): a read-only token sees
// the scale buttons disabled and why (not a dialog that ends in a 403), a scale request nothing
// answers is told as such, the pages fit a phone's width, and the zone of its times is named.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { Instance } from '../../src/providers/index.js';
import { type ApiHarness, READ_TOKEN, startApi, TOKEN } from '../helpers/api-harness.js';
import { MemoryProvider } from '../helpers/memory-provider.js';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumMissing } from './chromium.js';

async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-connection=live]', { timeout: 15_000 });
  await page.waitForSelector('[data-group=web] tbody tr[data-instance]');
}

/** StartedNow's instances all started as it was made (the memory provider's start at the epoch). */
class StartedNow extends MemoryProvider {
  readonly since = Date.now();
  override instances(): readonly Instance[] {
    return super.instances().map((i) => ({ ...i, startedAt: this.since }));
  }
}

describe('what the dashboard shows', { skip: chromiumMissing }, () => {
  let api: ApiHarness;
  let browser: Browser;
  before(async () => {
    api = await startApi();
    await api.call('/api/scalability/scale-group', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ group: 'web', action: 'set', instances: 2 }),
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  });
  after(async () => {
    await browser?.close();
    await api?.close();
  });

  it('a read-only token sees the scale controls disabled, saying why; an admin token does not', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await signIn(page, api.base, READ_TOKEN);
      // Before, every button was enabled: Scale out, then Confirm, then a 403 note.
      for (const action of ['scale-in', 'scale-out', 'set'])
        assert.equal(await page.isDisabled(`[data-group=web] button[data-action=${action}]`), true, action);
      assert.equal(await page.isDisabled('[data-group=web] input[aria-label=instances]'), true);
      assert.equal(
        await page.textContent('[data-group=web] [data-testid=read-only]'),
        'Read-only token "dashboards": scaling needs an admin token.',
      );
    } finally {
      await page.close();
    }
    const admin = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await signIn(admin, api.base, TOKEN);
      assert.equal(await admin.isDisabled('[data-group=web] button[data-action=scale-out]'), false);
      assert.equal(await admin.locator('[data-testid=read-only]').count(), 0);
    } finally {
      await admin.close();
    }
  });

  it('a scale request nothing answers says so, and that the change may or may not be made', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await signIn(page, api.base, TOKEN);
      // The request leaves the browser and its connection drops: fetch rejects with a TypeError.
      await page.route('**/api/scalability/scale-group', (route) => route.abort('connectionreset'));
      await page.click('[data-group=web] button[data-action=scale-out]');
      await page.click('[data-action=confirm]');
      const note = await page.waitForSelector('[data-group=web] .controls .note');
      // Before: "Failed to fetch".
      assert.equal(
        await note.textContent(),
        'No answer from the control API: web may or may not have been scaled; look at its counts before trying again.',
      );
    } finally {
      await page.close();
    }
  });

  it("the Set field follows the group's count until someone types in it", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const field = '[data-group=web] input[aria-label=instances]';
    const fieldHolds = (value: string) =>
      page.waitForFunction(
        // Typed loosely: this file is type-checked without the DOM library.
        ([selector, want]) =>
          (
            globalThis as { document?: { querySelector(s: string): { value?: string } | null } }
          ).document?.querySelector(selector)?.value === want,
        [field, value] as const,
        { timeout: 15_000 },
      );
    const set = (instances: number) =>
      api.call('/api/scalability/scale-group', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ group: 'web', action: 'set', instances }),
      });
    try {
      await signIn(page, api.base, TOKEN);
      const start = await page.inputValue(field);
      const other = start === '3' ? 4 : 3;
      // Scaled from elsewhere (the autoscaler, the CLI): before, the field kept the count the page
      // opened with, and Set offered to go back to it.
      assert.equal((await set(other)).status, 200);
      await fieldHolds(String(other));
      // A count being typed is the user's, not overwritten by the next change.
      await page.fill(field, '5');
      const third = other === 3 ? 4 : 3;
      assert.equal((await set(third)).status, 200);
      // The confirmation shows the group's count as the controls know it: once it says `third`,
      // the change has reached them, and the typed 5 must still be there.
      await page.click('[data-group=web] button[data-action=set]');
      await page.waitForSelector(`[role=dialog] :text("${third} → 5")`, { timeout: 15_000 });
      assert.equal(await page.inputValue(field), '5');
      await page.keyboard.press('Escape');
    } finally {
      await page.close();
    }
  });

  it('fits a phone screen: the sign-in form at 320 px, the dashboard at 390 px', async () => {
    const small = await browser.newPage({ viewport: { width: 320, height: 640 } });
    try {
      await small.goto(`${api.base}/`);
      const form = await small.locator('form').boundingBox();
      // Before, the 340 px form ran to x = 360, its field and button cut off at the edge.
      assert.ok(
        form !== null && form.x >= 0 && form.x + form.width <= 320,
        `form at ${JSON.stringify(form)}`,
      );
    } finally {
      await small.close();
    }
    // A zone with a long name, so the top bar has the most to hold.
    const page = await browser.newPage({
      viewport: { width: 390, height: 844 },
      timezoneId: 'America/Argentina/Buenos_Aires',
    });
    try {
      await signIn(page, api.base, TOKEN);
      // A string, not a function: this file is type-checked without the DOM library.
      const widths = (await page.evaluate(
        '({ page: document.documentElement.scrollWidth, view: document.documentElement.clientWidth })',
      )) as { page: number; view: number };
      // Before, the instances table pushed the page to 481 px.
      assert.ok(widths.page <= widths.view, `page ${widths.page} px wide in a ${widths.view} px view`);
      // The top bar (with the zone's name) wraps rather than cut Sign out off at the edge.
      const signOut = await page.getByRole('button', { name: 'Sign out' }).boundingBox();
      assert.ok(
        signOut !== null && signOut.x >= 0 && signOut.x + signOut.width <= widths.view,
        `Sign out at ${JSON.stringify(signOut)} in a ${widths.view} px view`,
      );
    } finally {
      await page.close();
    }
  });

  it('says which zone its times are in', async () => {
    // A laptop in Japan looking at a server that logs in UTC: before, `14:19:08` on the page and
    // `05:19:08Z` in the journal and logs, with nothing on the page naming the zone.
    const page = await browser.newPage({
      viewport: { width: 1280, height: 900 },
      timezoneId: 'Asia/Tokyo',
    });
    try {
      await signIn(page, api.base, TOKEN);
      assert.equal((await page.textContent('[data-testid=zone]'))?.trim(), 'times in Asia/Tokyo (UTC+09:00)');
    } finally {
      await page.close();
    }
  });

  it("instance ages are the server's: a browser clock 10 min ahead does not age a fresh instance", async () => {
    const provider = new StartedNow('web');
    const own = await startApi({ provider });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await own.call('/api/scalability/scale-group', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ group: 'web', action: 'set', instances: 1 }),
      });
      // The browser's clock runs 10 min ahead of the server's, as a laptop's may.
      await page.addInitScript('{ const real = Date.now; Date.now = () => real() + 600000; }');
      await signIn(page, own.base, TOKEN);
      const shown = (
        await page.textContent('[data-group=web] tbody tr[data-instance] td:last-child')
      )?.trim();
      const real = Math.floor((Date.now() - provider.since) / 1000);
      assert.match(
        shown ?? '',
        /^\d+s$/,
        `an instance started ${real} s ago on the server shows age "${shown}" in a browser 10 min ahead`,
      );
    } finally {
      await page.close();
      await own.close();
    }
  });
});
