// The group header says how many ready instances serve when health checks took some out of
// rotation, as `status` does (`2/2 ready, 1 serving (1 unhealthy)`), in Debian's Chromium. Before,
// it read `2 / 2` while one of the two answered 503 and the balancer sent it nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { type ApiHarness, startApi, TOKEN } from '../helpers/api-harness.js';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumMissing } from './chromium.js';

describe('serving instances on the dashboard', { skip: chromiumMissing }, () => {
  let api: ApiHarness;
  let browser: Browser;
  const unhealthy = new Set<string>();
  before(async () => {
    api = await startApi({
      // The balancer's view: each instance the group has, healthy unless listed.
      backends: () =>
        api.provider.instances().map((i) => ({
          id: i.id,
          healthy: !unhealthy.has(i.id),
          draining: false,
          inFlight: 0,
        })),
    });
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

  it('shows "1 (1 unhealthy)" serving beside 2 / 2 ready, and nothing once all serve again', async () => {
    const first = api.provider.instances()[0]!.id;
    unhealthy.add(first);
    const status = await api.call('/api/scalability/groups/web');
    assert.equal(status.body.ready, 2, 'the API counts both instances ready');
    assert.equal(status.body.serving, 1, 'the API counts one serving');

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await page.goto(`${api.base}/`);
      await page.fill('#token', TOKEN);
      await page.click('button[type=submit]');
      await page.waitForSelector('[data-connection=live]', { timeout: 15_000 });
      await page.waitForSelector(`[data-group=web] tr[data-instance="${first}"]`);
      const counts = await page.textContent('[data-group=web] [data-stat=counts] .value');
      assert.equal(counts, '2 / 2');
      // Before: no such figure; the header said 2 / 2 and nothing else.
      await page
        .waitForSelector('[data-group=web] [data-stat=serving]', { timeout: 5_000 })
        .catch(() => assert.fail('the header shows how many of the ready instances serve'));
      const value = await page.textContent('[data-group=web] [data-stat=serving] .value');
      const label = await page.textContent('[data-group=web] [data-stat=serving] .label');
      console.log(`header with ${first} unhealthy: ready / desired ${counts}, ${label} ${value}`);
      assert.equal(value, '1 (1 unhealthy)');
      assert.equal(label, 'serving');

      // Back in rotation: the figure goes at the next tick (the stream sends one a second).
      unhealthy.clear();
      await page.waitForSelector('[data-group=web] [data-stat=serving]', {
        state: 'detached',
        timeout: 10_000,
      });
    } finally {
      await page.close();
    }
  });
});
