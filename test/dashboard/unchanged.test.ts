// A journal entry that changed nothing (a manual scale to the count the group had,
// ManualScaleUnchanged) reads `2, unchanged` on the dashboard, not `2 → 2`, which looked like a
// scale that did not happen. countChange unit cases, then the row and its detail in Debian's
// Chromium (headless).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import type { Scaleplane } from '../../src/app.js';
import { countChange } from '../../src/dashboard/client/format.js';
import { INTEGRATION_TOKEN, startInProcess } from '../helpers/scaleplane.js';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumMissing } from './chromium.js';

const CONFIG = `
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 500ms } }
groups:
  web:
    command: node server.js
    min_instances: 1
    max_instances: 4
`;

describe('countChange', () => {
  it('a change reads before → after; no change reads unchanged', () => {
    assert.equal(countChange(1, 3), '1 → 3');
    assert.equal(countChange(3, 1), '3 → 1');
    assert.equal(countChange(2, 2), '2, unchanged');
    assert.equal(countChange(0, 0), '0, unchanged');
  });
});

describe('dashboard in a real browser: a decision that changed nothing', { skip: chromiumMissing }, () => {
  let app: Scaleplane | undefined;
  let browser: Browser | undefined;
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  it('shows the row and its detail as unchanged, not 2 → 2', async () => {
    app = await startInProcess(CONFIG);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    await page.goto(`http://127.0.0.1:${app.apiAddress!.port}/`);
    await page.fill('#token', INTEGRATION_TOKEN);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-connection=live]', { timeout: 15_000 });
    app.controller.journal.append(
      {
        group: 'web',
        source: 'api',
        before: 2,
        after: 2,
        reasons: ['ManualScaleUnchanged'],
        message: 'manual scale to 2: the group already has 2',
        inputs: {},
      },
      Date.now(),
    );
    const row = page.locator('[data-group=web] .decisions li', { hasText: 'ManualScaleUnchanged' });
    await row.waitFor({ timeout: 15_000 });
    const change = (await row.locator('.change').textContent()) ?? '';
    assert.equal(change, '2, unchanged', `the row's count reads ${JSON.stringify(change)}`);
    await row.locator('button').click();
    const detail = (await page.textContent('[data-testid=decision-detail] strong')) ?? '';
    assert.match(detail, /· api · 2, unchanged$/, `the detail reads ${JSON.stringify(detail)}`);
    assert.deepEqual(errors, []);
  });
});
