// A selected decision's detail follows the decision when it repeats, in Debian's Chromium: the
// journal counts a repeat into its entry and the stream sends the raised count as a new mark that
// replaces the old one. Before, the detail kept the mark that was clicked (`×2, …`) under a list
// that said ×3.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { type ApiHarness, startApi, TOKEN } from '../helpers/api-harness.js';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumMissing } from './chromium.js';

describe('selected decision', { skip: chromiumMissing }, () => {
  let api: ApiHarness;
  let browser: Browser;
  const held = {
    group: 'web',
    source: 'policy' as const,
    before: 5,
    after: 5,
    reasons: ['TooManyReplicas'],
    message: 'held at max_instances 5',
    inputs: {},
  };
  before(async () => {
    api = await startApi();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  });
  after(async () => {
    await browser?.close();
    await api?.close();
  });

  it('the detail of a selected decision shows its newest count after a repeat', async () => {
    api.journal.append(held, Date.now());
    api.journal.append(held, Date.now());
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await page.goto(`${api.base}/`);
      await page.fill('#token', TOKEN);
      await page.click('button[type=submit]');
      await page.waitForSelector('[data-connection=live]', { timeout: 15_000 });
      await page.click('[data-group=web] .decisions li:has-text("TooManyReplicas") button');
      assert.match((await page.textContent('[data-testid=decision-repeats]')) ?? '', /^×2,/);
      api.journal.append(held, Date.now());
      await page.waitForSelector('[data-group=web] .decisions .repeats:text("×3")');
      const detail = (await page.textContent('[data-testid=decision-repeats]')) ?? '';
      console.log(`list says ×3; detail says: ${detail}`);
      assert.match(detail, /^×3,/, 'the detail follows the repeat');
      assert.equal(
        await page.locator('[data-group=web] .decisions .row.selected').count(),
        1,
        'the repeated row stays selected',
      );
    } finally {
      await page.close();
    }
  });
});
